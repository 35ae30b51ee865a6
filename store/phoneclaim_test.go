package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// One number however it is written: stored canonical, on record, and a
// second customer with it is 409 naming phone (create and update).
func TestCustomerPhoneCanonical(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("A"), Phone: ptr("+86 138 0013 8000")})
		if err != nil {
			t.Fatal(err)
		}
		if a.Phone != "+8613800138000" || !a.PhoneVerified {
			t.Fatalf("created %q verified=%v", a.Phone, a.PhoneVerified)
		}
		for _, same := range []string{"13800138000", "138-0013-8000", "１３８００１３８０００", "0086 138 0013 8000"} {
			_, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("B"), Phone: ptr(same)})
			if !store.IsCode(err, store.ECONFLICT) || fieldOf(err) != "phone" {
				t.Errorf("second customer with %q: %v", same, err)
			}
		}
		b, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("B"), Phone: ptr("13900139000")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateCustomer(ctx, b.ID, store.CustomerInput{Phone: ptr("138 0013 8000")}); !store.IsCode(err, store.ECONFLICT) || fieldOf(err) != "phone" {
			t.Errorf("PATCH to another's phone: %v", err)
		}
		// Its own number, written another way, is no conflict.
		if c, err := s.UpdateCustomer(ctx, a.ID, store.CustomerInput{Phone: ptr("138-0013-8000"), Name: ptr("A2")}); err != nil || c.Phone != "+8613800138000" {
			t.Errorf("PATCH own phone: %+v, %v", c, err)
		}
		for _, bad := range []string{"12", "call me", "1380013800", "13800138000 ext. 5"} {
			if _, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("C"), Phone: ptr(bad)}); !store.IsCode(err, store.EINVALID) || fieldOf(err) != "phone" {
				t.Errorf("phone %q: %v", bad, err)
			}
		}
		// Clearing frees the number.
		if _, err := s.UpdateCustomer(ctx, a.ID, store.CustomerInput{Phone: ptr("")}); err != nil {
			t.Fatal(err)
		}
		if c, err := s.UpdateCustomer(ctx, b.ID, store.CustomerInput{Phone: ptr("13800138000")}); err != nil || !c.PhoneVerified {
			t.Fatalf("phone freed: %+v, %v", c, err)
		}
		// Search finds the canonical form however it is typed.
		for _, q := range []string{"138-0013-8000", "+86 138 0013 8000", "1380013", "+86138", "１３８００"} {
			cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{Q: q})
			if err != nil || len(cs) != 1 || cs[0].ID != b.ID {
				t.Errorf("q=%q: %d customers, %v", q, len(cs), err)
			}
		}
	})
}

// The region from config reads numbers without a country code.
func TestPhoneRegion(t *testing.T) {
	s := storetest.Open(t, store.SQLite, store.WithPhoneRegion("hk"))
	c, err := s.CreateCustomer(context.Background(), store.CustomerInput{Name: ptr("HK"), Phone: ptr("9123 4567")})
	if err != nil || c.Phone != "+85291234567" {
		t.Fatalf("HK number: %+v, %v", c, err)
	}
	if !store.ValidPhoneRegion("cn") || store.ValidPhoneRegion("XX") || store.ValidPhoneRegion("") {
		t.Error("ValidPhoneRegion")
	}
}

// claimWorld is a customer with a number on record and a Telegram account,
// and a web chat visitor who claims it.
type claimWorld struct {
	s        *store.Store
	clock    *storetest.Clock
	holder   *store.Customer
	visitor  *store.Identity
	codes    []string // codes sent, newest last
	codeText []string
}

func newClaimWorld(t *testing.T, dialect string) *claimWorld {
	t.Helper()
	ctx := context.Background()
	w := &claimWorld{clock: storetest.NewClock(time.Date(2027, 1, 10, 8, 0, 0, 0, time.UTC))}
	w.s = storetest.Open(t, dialect, store.WithClock(w.clock.Now))
	var err error
	w.holder, err = w.s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("王芳"), Phone: ptr("13800138000"),
		Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: "777"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.AdjustPoints(ctx, store.SystemActor(), w.holder.ID, store.PointsAdjustment{Points: 500, Reason: "opening"}); err != nil {
		t.Fatal(err)
	}
	w.visitor = arrive(t, w.s, store.ChannelWebChat, "visitor-1", "hi")
	return w
}

// arrive records a first message from a chat account and returns its identity.
func arrive(t *testing.T, s *store.Store, channel, external, text string) *store.Identity {
	t.Helper()
	_, id, _, err := s.RecordArrival(context.Background(), store.Arrival{
		Contact: store.Contact{Channel: channel, ExternalID: external},
		In:      store.Inbound{Channel: channel, DedupKey: channel + ":" + external + ":" + text, ChatID: external, Text: text},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

func (w *claimWorld) claim(t *testing.T, who *store.Identity, phone string) *store.ClaimResult {
	t.Helper()
	res, err := w.s.ClaimPhone(context.Background(), store.PhoneClaimInput{
		CustomerID: who.CustomerID, IdentityID: who.ID, Phone: phone,
		CodeText: func(holder *store.Customer, vars map[string]string) (store.CodeNotice, error) {
			text := fmt.Sprintf("code for %d: %s %s", holder.ID, vars["phone"], vars["code"])
			return store.CodeNotice{Text: text, TemplateKey: "phone_verify_code"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome == store.ClaimOpened && res.Claim.Method == store.ClaimByCode {
		// The code is only in the message to the holder.
		ms, _, err := w.s.ListMessages(context.Background(), res.Claim.TargetID, store.Page{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		last := ms[len(ms)-1]
		w.codes = append(w.codes, sixDigits.FindString(last.Text))
		w.codeText = append(w.codeText, last.Text)
	}
	return res
}

// An unproved claim on someone's number merges nothing and reveals
// nothing; the code goes to the holder's own chat account; the right code
// merges, a wrong one counts, and codes expire after 15 minutes.
func TestPhoneClaimByCode(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			w := newClaimWorld(t, d)
			s := w.s
			res := w.claim(t, w.visitor, "+86 138-0013-8000")
			if res.Outcome != store.ClaimOpened || res.Claim.Method != store.ClaimByCode || res.Claim.TargetID != w.holder.ID {
				t.Fatalf("claim = %+v %+v", res, res.Claim)
			}
			if want := fmt.Sprintf("code for %d: 138****8000 ", w.holder.ID); !strings.HasPrefix(w.codeText[0], want) || w.codes[0] == "" {
				t.Fatalf("code message %q", w.codeText[0])
			}
			ms, _, _ := s.ListMessages(ctx, w.holder.ID, store.Page{})
			if m := ms[len(ms)-1]; m.Channel != store.ChannelTelegram || m.Status != store.StatusQueued {
				t.Fatalf("code message %+v", m)
			}
			// The claimant stays a separate profile without the number.
			me, err := s.CustomerByID(ctx, w.visitor.CustomerID)
			if err != nil || me.Phone != "" || me.Points != 0 || me.Name != "" || len(me.Identities) != 1 {
				t.Fatalf("claimant = %+v, %v", me, err)
			}

			wrong := "000000"
			if wrong == w.codes[0] {
				wrong = "111111"
			}
			if _, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: me.ID, Code: wrong}); err != store.ErrPhoneCode {
				t.Fatalf("wrong code: %v", err)
			}
			if _, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: me.ID, Code: "nonsense"}); err != store.ErrPhoneCode {
				t.Fatalf("malformed code: %v", err)
			}
			claims, _, _ := s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimPending})
			if len(claims) != 1 || claims[0].Attempts != 2 {
				t.Fatalf("pending claims %+v", claims)
			}
			// Full-width digits with a space, as a Chinese keyboard types them.
			code := strings.Map(func(r rune) rune { return r - '0' + '０' }, w.codes[0][:3]) + " " + w.codes[0][3:]
			kept, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: me.ID, Code: code, MessageID: 7})
			if err != nil {
				t.Fatal(err)
			}
			if kept.ID != w.holder.ID || kept.Points != 500 || !kept.PhoneVerified || len(kept.Identities) != 2 {
				t.Fatalf("kept = %+v", kept)
			}
			if _, err := s.CustomerByID(ctx, me.ID); !store.IsCode(err, store.ENOTFOUND) {
				t.Fatalf("claimant still there: %v", err)
			}
			merges, err := s.CustomerMerges(ctx, kept.ID)
			if err != nil || len(merges) != 1 || merges[0].MergedID != me.ID || merges[0].Method != store.MergeCode || merges[0].Phone != "+8613800138000" {
				t.Fatalf("merges %+v, %v", merges, err)
			}
			// The same message processed again (after a crash) answers the same.
			if again, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: kept.ID, Code: code, MessageID: 7}); err != nil || again.ID != kept.ID {
				t.Fatalf("replayed /verify: %+v, %v", again, err)
			}
			// Used: the same code again does nothing.
			if _, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: kept.ID, Code: w.codes[0]}); err != store.ErrPhoneCode {
				t.Fatalf("code used twice: %v", err)
			}

			// Expiry: 15 minutes.
			other := arrive(t, s, store.ChannelWebChat, "visitor-2", "hi")
			w.claim(t, other, "13800138000")
			w.clock.Advance(store.PhoneCodeTTL)
			if _, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: other.CustomerID, Code: w.codes[1]}); err != store.ErrPhoneCode {
				t.Fatalf("expired code: %v", err)
			}
			expired, _, _ := s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimExpired})
			if len(expired) != 1 {
				t.Fatalf("expired claims %+v", expired)
			}
			// Attempts: after five wrong codes even the right one fails.
			w.claim(t, other, "13800138000")
			for i := range store.PhoneCodeAttempts {
				bad := fmt.Sprintf("%06d", i)
				if bad == w.codes[2] {
					bad = "999999"
				}
				s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: other.CustomerID, Code: bad})
			}
			if _, err := s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: other.CustomerID, Code: w.codes[2]}); err != store.ErrPhoneCode {
				t.Fatalf("right code after %d wrong ones: %v", store.PhoneCodeAttempts, err)
			}
			if c, _ := s.CustomerByID(ctx, other.CustomerID); c == nil || c.Phone != "" {
				t.Fatalf("failed claimant = %+v", c)
			}
		})
	}
}

// A number nobody has on record is saved on the claimant, unverified: it
// blocks nobody, matches nothing, and is replaced by a staff-entered one.
func TestPhoneClaimOfFreeNumber(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			w := newClaimWorld(t, d)
			s := w.s
			res := w.claim(t, w.visitor, "13900139000")
			if res.Outcome != store.ClaimSaved || res.Claim != nil {
				t.Fatalf("claim = %+v", res)
			}
			me, _ := s.CustomerByID(ctx, w.visitor.CustomerID)
			if me.Phone != "+8613900139000" || me.PhoneVerified {
				t.Fatalf("claimant %q verified=%v", me.Phone, me.PhoneVerified)
			}
			// Not on record: no order lands on it, no import updates it.
			res2, err := importer.Orders(ctx, s, strings.NewReader("customer_phone,kind,amount,occurred_at\n13900139000,purchase,10,2027-01-01\n"), false, time.UTC)
			if err != nil || len(res2.Rejected) != 1 || !strings.Contains(res2.Rejected[0].Reason, "on record") {
				t.Fatalf("order for a claimed phone: %+v, %v", res2, err)
			}
			imp, err := importer.Customers(ctx, s, strings.NewReader("name,phone,birthday\n真实客户,139-0013-9000,05-17\n"), false)
			if err != nil || imp.Created != 1 || imp.Updated != 0 {
				t.Fatalf("import = %+v, %v", imp, err)
			}
			me, _ = s.CustomerByID(ctx, w.visitor.CustomerID)
			if me.Name != "" || !me.Birthday.IsZero() {
				t.Fatalf("imported data reached the claimant: %+v", me)
			}
			cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{Q: "真实客户"})
			if len(cs) != 1 || !cs[0].PhoneVerified {
				t.Fatalf("imported %+v", cs)
			}
			res2, err = importer.Orders(ctx, s, strings.NewReader("customer_phone,kind,amount,occurred_at\n+8613900139000,purchase,10,2027-01-01\n"), false, time.UTC)
			if err != nil || res2.Created != 1 {
				t.Fatalf("order: %+v, %v", res2, err)
			}
			if os := ordersOf(t, s, cs[0].ID); len(os) != 1 {
				t.Fatalf("orders of the imported customer: %d", len(os))
			}
			// Claiming one's own number on record says so.
			if res := w.claim(t, &w.holder.Identities[0], "13800138000"); res.Outcome != store.ClaimOwn {
				t.Fatalf("own number: %+v", res)
			}
		})
	}
}

func ordersOf(t *testing.T, s *store.Store, customerID int64) []*store.Order {
	t.Helper()
	os, err := s.OrdersBetween(context.Background(), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Order
	for _, o := range os {
		if o.CustomerID == customerID {
			out = append(out, o)
		}
	}
	return out
}

func fieldOf(err error) string {
	var e *store.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Claims are capped per claimant and per number: made-up visitors cannot
// have the holder sent codes without end.
func TestPhoneClaimLimits(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) { testPhoneClaimLimits(t, d) })
	}
}

func testPhoneClaimLimits(t *testing.T, dialect string) {
	w := newClaimWorld(t, dialect)
	ctx := context.Background()
	for i := range store.PhoneClaimsPerHour {
		if res := w.claim(t, w.visitor, "13800138000"); res.Outcome != store.ClaimOpened {
			t.Fatalf("claim %d: %+v", i+1, res)
		}
	}
	if res := w.claim(t, w.visitor, "13800138000"); res.Outcome != store.ClaimThrottled {
		t.Fatalf("claim over the hourly cap: %+v", res)
	}
	w.clock.Advance(time.Hour)
	if res := w.claim(t, w.visitor, "13800138000"); res.Outcome != store.ClaimOpened {
		t.Fatalf("claim an hour later: %+v", res)
	}
	v2 := arrive(t, w.s, store.ChannelWebChat, "visitor-2", "hi")
	if res := w.claim(t, v2, "13800138000"); res.Outcome != store.ClaimOpened {
		t.Fatalf("5th claim on the number: %+v", res)
	}
	v3 := arrive(t, w.s, store.ChannelWebChat, "visitor-3", "hi")
	if res := w.claim(t, v3, "13800138000"); res.Outcome != store.ClaimThrottled {
		t.Fatalf("6th claim on the number in a day: %+v", res)
	}
	ms, _, _ := w.s.ListMessages(ctx, w.holder.ID, store.Page{})
	if len(ms) != store.PhoneClaimsPerDay {
		t.Fatalf("holder was sent %d codes, want %d", len(ms), store.PhoneClaimsPerDay)
	}
	// Only the newest claim of a claimant is live.
	pending, _, _ := w.s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimPending})
	if len(pending) != 2 {
		t.Fatalf("%d pending claims, want one per claimant", len(pending))
	}
	if _, err := w.s.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: w.visitor.CustomerID, Code: w.codes[0]}); err != store.ErrPhoneCode {
		t.Fatalf("superseded code: %v", err)
	}
}

// A holder with no chat account (an imported phone-only customer): a staff
// task to call, whose approval merges and closes the task; rejection
// closes it without merging.
func TestPhoneClaimStaffApproval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := importer.Customers(ctx, s, strings.NewReader("name,phone\n李雷,13800138000\n韩梅梅,13900139000\n"), false); err != nil {
			t.Fatal(err)
		}
		manager, err := s.CreateStaff(ctx, store.StaffInput{Name: "店长", Role: store.RoleManager})
		if err != nil {
			t.Fatal(err)
		}
		by := store.Actor{StaffID: &manager.ID, Role: store.RoleManager, Via: store.ViaAPI}
		v := arrive(t, s, store.ChannelWeChat, "openid-1", "你好")
		res, err := s.ClaimPhone(ctx, store.PhoneClaimInput{CustomerID: v.CustomerID, IdentityID: v.ID, Phone: "13800138000", MessageID: 42,
			CodeText: func(*store.Customer, map[string]string) (store.CodeNotice, error) {
				t.Fatal("a code for a customer with no chat account")
				return store.CodeNotice{}, nil
			}})
		if err != nil || res.Outcome != store.ClaimOpened || res.Claim.Method != store.ClaimByStaff || res.Claim.TaskID == nil {
			t.Fatalf("claim = %+v, %v", res, err)
		}
		// The same message processed again claims nothing new.
		again, err := s.ClaimPhone(ctx, store.PhoneClaimInput{CustomerID: v.CustomerID, IdentityID: v.ID, Phone: "13800138000", MessageID: 42})
		if err != nil || again.Claim.ID != res.Claim.ID {
			t.Fatalf("replayed claim = %+v, %v", again, err)
		}
		task, err := s.TaskByID(ctx, *res.Claim.TaskID)
		if err != nil || task.Kind != store.TaskVerifyPhone || task.CustomerID != res.Claim.TargetID || !strings.Contains(task.Title, "+8613800138000") {
			t.Fatalf("task = %+v, %v", task, err)
		}
		list, _, err := s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimPending})
		if err != nil || len(list) != 1 || list[0].ClaimantChannel != store.ChannelWeChat {
			t.Fatalf("pending = %+v, %v", list, err)
		}
		if _, _, err := s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: "maybe"}); !store.IsCode(err, store.EINVALID) {
			t.Errorf("bad status filter: %v", err)
		}

		c, err := s.ApprovePhoneClaim(ctx, res.Claim.ID, by)
		if err != nil || c.Status != store.ClaimVerified || c.KeptID == nil || *c.KeptID != res.Claim.TargetID || *c.DecidedBy != manager.ID {
			t.Fatalf("approved = %+v, %v", c, err)
		}
		kept, err := s.CustomerByID(ctx, res.Claim.TargetID)
		if err != nil || kept.Name != "李雷" || len(kept.Identities) != 1 || kept.Identities[0].ExternalID != "openid-1" {
			t.Fatalf("kept = %+v, %v", kept, err)
		}
		if task, _ := s.TaskByID(ctx, *res.Claim.TaskID); task.Status != store.TaskDone {
			t.Fatalf("task after approval: %s", task.Status)
		}
		merges, _ := s.CustomerMerges(ctx, kept.ID)
		if len(merges) != 1 || merges[0].Method != store.MergeStaff || *merges[0].ByStaffID != manager.ID {
			t.Fatalf("merges %+v", merges)
		}
		if _, err := s.ApprovePhoneClaim(ctx, res.Claim.ID, by); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("approved twice: %v", err)
		}
		if _, err := s.RejectPhoneClaim(ctx, 9999, by); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("unknown claim: %v", err)
		}

		// Rejected: no merge, task cancelled.
		v2 := arrive(t, s, store.ChannelWeChat, "openid-2", "你好")
		res, err = s.ClaimPhone(ctx, store.PhoneClaimInput{CustomerID: v2.CustomerID, IdentityID: v2.ID, Phone: "13900139000"})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := s.RejectPhoneClaim(ctx, res.Claim.ID, by); err != nil || c.Status != store.ClaimRejected {
			t.Fatalf("rejected = %+v, %v", c, err)
		}
		if task, _ := s.TaskByID(ctx, *res.Claim.TaskID); task.Status != store.TaskCancelled {
			t.Fatalf("task after rejection: %s", task.Status)
		}
		if me, err := s.CustomerByID(ctx, v2.CustomerID); err != nil || me.Phone != "" {
			t.Fatalf("rejected claimant = %+v, %v", me, err)
		}
	})
}

// A Telegram contact of the sender themselves proves the number: it goes
// on record, merging with whoever had it (and ending their open claim).
func TestProvePhone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		holder, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("Old"), Phone: ptr("13800138000"), Tags: &[]string{"vip"}})
		if err != nil {
			t.Fatal(err)
		}
		tg := arrive(t, s, store.ChannelTelegram, "888", "hi")
		res, err := s.ClaimPhone(ctx, store.PhoneClaimInput{CustomerID: tg.CustomerID, IdentityID: tg.ID, Phone: "13800138000"})
		if err != nil || res.Claim.Method != store.ClaimByStaff {
			t.Fatalf("claim %+v, %v", res, err)
		}
		kept, err := s.ProvePhone(ctx, store.PhoneProof{CustomerID: tg.CustomerID, Phone: "+8613800138000", Method: store.MergeTelegramContact})
		if err != nil || kept.ID != holder.ID || !kept.PhoneVerified || len(kept.Identities) != 1 || strings.Join(kept.Tags, ",") != "vip" {
			t.Fatalf("kept = %+v, %v", kept, err)
		}
		if task, _ := s.TaskByID(ctx, *res.Claim.TaskID); task.Status != store.TaskCancelled {
			t.Errorf("the call is not needed any more, task is %s", task.Status)
		}
		if pending, _, _ := s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimPending}); len(pending) != 0 {
			t.Errorf("pending claims after proof: %+v", pending)
		}
		// A number nobody has: on record for the prover.
		other := arrive(t, s, store.ChannelTelegram, "999", "hi")
		c, err := s.ProvePhone(ctx, store.PhoneProof{CustomerID: other.CustomerID, Phone: "+85291234567", Method: store.MergeTelegramContact})
		if err != nil || c.ID != other.CustomerID || c.Phone != "+85291234567" || !c.PhoneVerified {
			t.Fatalf("proved own = %+v, %v", c, err)
		}
		if _, err := s.ProvePhone(ctx, store.PhoneProof{CustomerID: other.CustomerID, Phone: "+12", Method: store.MergeTelegramContact}); !store.IsCode(err, store.EINVALID) {
			t.Fatalf("bad contact phone: %v", err)
		}
	})
}

// A database of the previous release where two customers have one number
// written two ways: the migration writes both canonical, puts the number
// on record for the older one only, merges nothing, and reports the
// duplicate (and an unreadable number) for staff to decide.
func TestMigratePhoneKeys(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, dialect)
			loadDump(t, cfg, "testdata/release8."+dialect+".sql")
			// 王芳 (1) has +8613800138000; 李雷 (2) 13800138000.
			execSQL(t, cfg, "UPDATE customers SET phone = '+86 138-0013-8000' WHERE id = 1")
			execSQL(t, cfg, "UPDATE customers SET phone = '12345' WHERE id = 4")
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for range 2 {
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			want := map[int64]struct {
				phone    string
				verified bool
			}{1: {"+8613800138000", true}, 2: {"+8613800138000", false}, 3: {"+8613900139000", true}, 4: {"12345", false}}
			for id, w := range want {
				c, err := s.CustomerByID(ctx, id)
				if err != nil || c.Phone != w.phone || c.PhoneVerified != w.verified {
					t.Errorf("customer %d = %q verified=%v (%v), want %q %v", id, c.Phone, c.PhoneVerified, err, w.phone, w.verified)
				}
			}
			rep, err := s.PhoneKeyReport(ctx)
			if err != nil || rep == nil {
				t.Fatalf("report %+v, %v", rep, err)
			}
			wantRep := []store.PhoneKeySample{{CustomerID: 2, Phone: "+8613800138000", KeptBy: 1}, {CustomerID: 4, Phone: "12345"}}
			if diff := cmp.Diff(wantRep, rep.Samples); diff != "" || rep.Duplicates != 1 || rep.Invalid != 1 || rep.Keyed != 2 {
				t.Fatalf("report %+v (-want +got):\n%s", rep, diff)
			}
			// The step itself may run again (after a crash halfway): no
			// second claim, the same findings.
			execSQL(t, cfg, "DELETE FROM schema_migrations WHERE id = '0017_customer_phone_keys'")
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			claims, _, err := s.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimPending})
			if err != nil || len(claims) != 1 || claims[0].Method != store.ClaimDuplicate || claims[0].ClaimantID != 2 || claims[0].TargetID != 1 {
				t.Fatalf("duplicate claims %+v, %v", claims, err)
			}
			if again, _ := s.PhoneKeyReport(ctx); again.Duplicates != 1 || again.Keyed != 0 {
				t.Fatalf("report after running again %+v", again)
			}
			// The number is one customer's now: a third is refused, and
			// staff may decide the duplicate is the same person.
			if _, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("x"), Phone: ptr("13800138000")}); !store.IsCode(err, store.ECONFLICT) {
				t.Fatalf("third customer with the number: %v", err)
			}
			if _, err := s.ApprovePhoneClaim(ctx, claims[0].ID, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CustomerByID(ctx, 2); !store.IsCode(err, store.ENOTFOUND) {
				t.Fatalf("duplicate after approval: %v", err)
			}
		})
	}
}

// execSQL runs one statement on a database before the store opens it.
func execSQL(t *testing.T, cfg store.Config, stmt string) {
	t.Helper()
	driver := cfg.Driver
	db, err := sql.Open(driver, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}
