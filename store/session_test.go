package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// signInKit is a store with a clock and a staff member bound to Telegram.
type signInKit struct {
	t     *testing.T
	s     *store.Store
	clock *storetest.Clock
	ann   *store.Staff
	codes map[int64][]string // sent codes by staff id
}

func newSignInKit(t *testing.T, d string) *signInKit {
	clock := storetest.NewClock(time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC))
	s := storetest.Open(t, d, store.WithClock(clock.Now))
	k := &signInKit{t: t, s: s, clock: clock, codes: map[int64][]string{}}
	k.ann = k.boundStaff("Ann", store.RoleManager, "7001")
	return k
}

func (k *signInKit) boundStaff(name string, role store.Role, tg string) *store.Staff {
	k.t.Helper()
	ctx := context.Background()
	st := mustStaff(k.t, k.s, name, role)
	code, _, err := k.s.CreateBindingCode(ctx, st.ID, store.SystemActor())
	if err != nil {
		k.t.Fatal(err)
	}
	if _, err := k.s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: tg, Code: code}); err != nil {
		k.t.Fatal(err)
	}
	return st
}

// request asks for a code as name from ip and returns the codes sent.
func (k *signInKit) request(name, ip string) ([]string, error) {
	var sent []string
	err := k.s.RequestSignInCode(context.Background(), store.SignInCodeRequest{Staff: name, IP: ip,
		Text: func(st *store.Staff, code string) (store.CodeNotice, error) {
			sent = append(sent, code)
			k.codes[st.ID] = append(k.codes[st.ID], code)
			return store.CodeNotice{Text: "code " + code, TemplateKey: "console_sign_in"}, nil
		}})
	return sent, err
}

func (k *signInKit) signIn(name, code, password string) (string, error) {
	tok, _, err := k.s.SignIn(context.Background(), store.SignInInput{Staff: name, Code: code, Password: password, IP: "10.0.0.9", UserAgent: "test"})
	return tok, err
}

func TestSignInCode(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			k := newSignInKit(t, d)
			s := k.s

			sent, err := k.request("Ann", "10.0.0.1")
			if err != nil || len(sent) != 1 || len(sent[0]) != 6 {
				t.Fatalf("request = %q, %v", sent, err)
			}
			// The code went to Ann's chat through the outbox.
			rows, err := s.ClaimOutbox(ctx, "telegram", 10, time.Minute)
			if err != nil || len(rows) != 1 || rows[0].ChatID != "7001" || rows[0].Text != "code "+sent[0] ||
				rows[0].TemplateKey != "console_sign_in" || rows[0].StaffID == nil || *rows[0].StaffID != k.ann.ID {
				t.Fatalf("outbox = %+v, %v", rows, err)
			}

			// Unknown names and staff without a chat get the same answer and nothing is sent.
			mustStaff(t, s, "Bob", store.RoleAgent)
			for _, who := range []string{"Nobody", "Bob"} {
				if got, err := k.request(who, "10.0.0.1"); err != nil || len(got) != 0 {
					t.Errorf("request %s = %q, %v", who, got, err)
				}
			}

			// A wrong code fails; the right one signs in once, by name or by id.
			if _, err := k.signIn("Ann", "000000x", ""); !errors.Is(err, store.ErrSignInFailed) {
				t.Errorf("wrong code: %v", err)
			}
			tok, err := k.signIn(fmt.Sprint(k.ann.ID), sent[0], "")
			if err != nil || tok == "" {
				t.Fatalf("sign in: %q %v", tok, err)
			}
			if _, err := k.signIn("Ann", sent[0], ""); !errors.Is(err, store.ErrSignInFailed) {
				t.Errorf("code used twice: %v", err)
			}
			p, err := s.AuthenticateSession(ctx, tok, time.Hour)
			if err != nil || p.StaffID == nil || *p.StaffID != k.ann.ID || p.Role != store.RoleManager || p.SessionID == 0 {
				t.Fatalf("authenticate = %+v, %v", p, err)
			}

			// Codes expire after five minutes.
			sent, _ = k.request("Ann", "10.0.0.1")
			k.clock.Advance(store.SignInCodeTTL + time.Second)
			if _, err := k.signIn("Ann", sent[0], ""); !errors.Is(err, store.ErrSignInFailed) {
				t.Errorf("expired code: %v", err)
			}

			// A code dies after five wrong tries, even if the sixth is right.
			sent, _ = k.request("Ann", "10.0.0.1")
			for i := 0; i < 5; i++ {
				k.signIn("Ann", "99999"+fmt.Sprint(i), "")
			}
			if _, err := k.signIn("Ann", sent[0], ""); err == nil {
				t.Error("a code wrong five times still signed in")
			}
		})
	}
}

func TestSignInLimits(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			k := newSignInKit(t, d)
			// Five codes per staff member per 15 minutes; more are answered
			// the same and send nothing.
			for i := 0; i < store.SignInCodesPerStaff+2; i++ {
				if _, err := k.request("Ann", fmt.Sprintf("10.0.1.%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(k.codes[k.ann.ID]); n != store.SignInCodesPerStaff {
				t.Errorf("%d codes sent, want %d", n, store.SignInCodesPerStaff)
			}
			// One address asks at most SignInRequestsPerIP times.
			var err error
			for i := 0; i <= store.SignInRequestsPerIP && err == nil; i++ {
				_, err = k.request("Nobody", "10.9.9.9")
			}
			if !errors.Is(err, store.ErrSignInThrottled) {
				t.Errorf("requests from one address: %v", err)
			}
			k.clock.Advance(16 * time.Minute)
			if _, err := k.request("Nobody", "10.9.9.9"); err != nil {
				t.Errorf("after the window: %v", err)
			}

			// Ten failures an hour lock the staff member, right code or not.
			sent, _ := k.request("Ann", "10.0.2.1")
			for i := 0; i < store.SignInFailuresPerStaff; i++ {
				k.s.SignIn(context.Background(), store.SignInInput{Staff: "Ann", Password: "wrong password", IP: fmt.Sprintf("10.3.0.%d", i)})
			}
			if _, err := k.signIn("Ann", sent[0], ""); !errors.Is(err, store.ErrSignInThrottled) {
				t.Errorf("locked staff member: %v", err)
			}
		})
	}
}

func TestPasswordAndSessions(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			k := newSignInKit(t, d)
			s := k.s
			admin := mustStaff(t, s, "Root", store.RoleAdmin)
			asAdmin := store.ActorStaff(admin, store.ViaAPI)
			asAnn := store.ActorStaff(k.ann, store.ViaAPI)

			if err := s.SetPassword(ctx, store.PasswordChange{StaffID: k.ann.ID, Password: "short", By: asAdmin}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("short password: %v", err)
			}
			if err := s.SetPassword(ctx, store.PasswordChange{StaffID: admin.ID, Password: "a long password", By: asAnn}); !store.IsCode(err, store.EFORBIDDEN) {
				t.Errorf("a manager set an admin's password: %v", err)
			}
			if err := s.SetPassword(ctx, store.PasswordChange{StaffID: k.ann.ID, Password: "initial password 1", By: asAdmin}); err != nil {
				t.Fatal(err)
			}
			if _, err := k.signIn("Ann", "", "initial password 2"); !errors.Is(err, store.ErrSignInFailed) {
				t.Errorf("wrong password: %v", err)
			}
			if _, err := k.signIn("Nobody", "", "initial password 1"); !errors.Is(err, store.ErrSignInFailed) {
				t.Errorf("unknown name: %v", err)
			}
			tok, err := k.signIn("Ann", "", "initial password 1")
			if err != nil {
				t.Fatal(err)
			}
			// Changing one's own password needs the current one.
			if err := s.SetPassword(ctx, store.PasswordChange{StaffID: k.ann.ID, Current: "nope", Password: "my own password", By: asAnn}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("change without the current password: %v", err)
			}
			if err := s.SetPassword(ctx, store.PasswordChange{StaffID: k.ann.ID, Current: "initial password 1", Password: "my own password", By: asAnn}); err != nil {
				t.Fatal(err)
			}

			// Idle and absolute expiry.
			pol := store.SessionPolicy{Idle: time.Hour, Max: 3 * time.Hour}
			tok2, _, err := s.SignIn(ctx, store.SignInInput{Staff: "Ann", Password: "my own password", Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				k.clock.Advance(50 * time.Minute)
				if _, err := s.AuthenticateSession(ctx, tok2, pol.Idle); err != nil {
					t.Fatalf("in use after %d × 50 min: %v", i+1, err)
				}
			}
			k.clock.Advance(31 * time.Minute)
			if _, err := s.AuthenticateSession(ctx, tok2, pol.Idle); !store.IsCode(err, store.EUNAUTHORIZED) {
				t.Errorf("past the absolute expiry: %v", err)
			}
			if _, err := s.AuthenticateSession(ctx, tok, pol.Idle); !store.IsCode(err, store.EUNAUTHORIZED) {
				t.Errorf("idle for 3 hours: %v", err)
			}

			// Listing and revoking: one's own; admins anyone's.
			tokA, _ := k.signIn("Ann", "", "my own password")
			tokB, sessB, _ := s.SignIn(ctx, store.SignInInput{Staff: "Ann", Password: "my own password"})
			pa, _ := s.AuthenticateSession(ctx, tokA, time.Hour)
			mine, _, err := s.ListSessions(ctx, store.SessionFilter{StaffID: &k.ann.ID, Active: true, Idle: time.Hour, Current: pa.SessionID})
			if err != nil || len(mine) != 2 || !mine[1].Current || mine[0].StaffName != "Ann" {
				t.Fatalf("own sessions = %+v, %v", mine, err)
			}
			bob := mustStaff(t, s, "Bob", store.RoleAgent)
			if err := s.RevokeSession(ctx, store.ActorStaff(bob, store.ViaAPI), sessB.ID); !store.IsCode(err, store.ENOTFOUND) {
				t.Errorf("someone else's session: %v", err)
			}
			// tokB and the two expired ones (tok, tok2) end; tokA stays.
			if n, err := s.RevokeStaffSessions(ctx, k.ann.ID, pa.SessionID); err != nil || n != 3 {
				t.Errorf("sign out everywhere else = %d, %v", n, err)
			}
			if _, err := s.AuthenticateSession(ctx, tokB, time.Hour); !store.IsCode(err, store.EUNAUTHORIZED) {
				t.Errorf("revoked session: %v", err)
			}
			if _, err := s.AuthenticateSession(ctx, tokA, time.Hour); err != nil {
				t.Errorf("the kept session: %v", err)
			}

			// A role change applies at once; deactivation ends every session at once.
			role := store.RoleAgent
			if _, err := s.UpdateStaff(ctx, k.ann.ID, store.StaffUpdate{Role: &role}, asAdmin); err != nil {
				t.Fatal(err)
			}
			if p, err := s.AuthenticateSession(ctx, tokA, time.Hour); err != nil || p.Role != store.RoleAgent {
				t.Errorf("after the role change: %+v %v", p, err)
			}
			off := false
			if _, err := s.UpdateStaff(ctx, k.ann.ID, store.StaffUpdate{Active: &off}, asAdmin); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AuthenticateSession(ctx, tokA, time.Hour); !store.IsCode(err, store.EUNAUTHORIZED) {
				t.Errorf("deactivated staff member's session: %v", err)
			}
		})
	}
}

func TestSignInLinkAndHasAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if ok, err := s.HasAdmin(ctx); err != nil || ok {
			t.Fatalf("empty database has an admin: %v %v", ok, err)
		}
		st, err := s.CreateAdmin(ctx, "老板")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.HasAdmin(ctx); !ok {
			t.Error("no admin after CreateAdmin")
		}
		code, err := s.IssueSignInLink(ctx, st.ID)
		if err != nil || len(code) < 20 {
			t.Fatalf("link code %q %v", code, err)
		}
		tok, sess, err := s.SignIn(ctx, store.SignInInput{Staff: fmt.Sprint(st.ID), Code: code})
		if err != nil || tok == "" || sess.Method != store.SignInByLink {
			t.Fatalf("sign in by link: %v %+v", err, sess)
		}
		if _, _, err := s.SignIn(ctx, store.SignInInput{Staff: fmt.Sprint(st.ID), Code: code}); err == nil {
			t.Error("link used twice")
		}
	})
}
