package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Console sign-in: staff sign in as themselves, with a one-time code sent
// to their bound chat account (or a longer one-time link the CLI prints
// for the first admin), or with a password. Either way they get a session:
// a random token the console keeps in a cookie, of which only the SHA-256
// is stored. Every limit below is counted in the database, so replicas
// share them and a restart forgets nothing.
//
// Guessing: a code is 6 digits; a staff member may fail SignInFailuresPerStaff
// times an hour (codes and passwords alike) and a client address
// SignInFailuresPerIP times in signInWindow, after which even a right
// answer is refused until the window passes. Each code also dies after
// maxCodeAttempts wrong tries.
const (
	SignInCodeTTL = 5 * time.Minute
	// SignInLinkTTL is how long the CLI's one-time link stays valid.
	SignInLinkTTL = time.Hour
	// SignInCodesPerStaff is how many codes one staff member is sent per
	// signInWindow; more requests are answered the same but send nothing.
	SignInCodesPerStaff = 5
	// SignInRequestsPerIP bounds code requests from one client address
	// per signInWindow (429 beyond).
	SignInRequestsPerIP = 20
	// SignInFailuresPerIP bounds wrong codes and passwords from one
	// client address per signInWindow.
	SignInFailuresPerIP = 20
	// SignInFailuresPerStaff bounds wrong codes and passwords for one
	// staff member per hour.
	SignInFailuresPerStaff = 10
	signInWindow           = 15 * time.Minute
	maxCodeAttempts        = 5
	// MinPasswordLen and MaxPasswordLen bound a password in characters
	// (the upper bound keeps hashing cheap).
	MinPasswordLen = 10
	MaxPasswordLen = 128
	// maxNameCandidates bounds the staff one sign-in name may stand for
	// (names are not unique).
	maxNameCandidates = 5
	// sessionSeenEvery is how stale last_seen_at may get (one write a
	// minute at most per session, as for tokens).
	sessionSeenEvery = time.Minute
)

// Sign-in methods, as sessions record them.
const (
	SignInByCode     = "code"
	SignInByLink     = "link"
	SignInByPassword = "password"
)

// passwordParams are argon2id's costs: OWASP's minimum (19 MiB, 2
// passes). Store.passwords bounds how many hashes run at once, so a flood
// of sign-ins cannot take all memory.
var passwordParams = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// SignInCode is a one-time sign-in code. Only a hash of staff id and code
// is stored; codes are short, so the hash is not unique.
type SignInCode struct {
	ID        int64      `gorm:"primaryKey"`
	StaffID   int64      `gorm:"not null;index:ix_sign_in_codes_staff,priority:1"`
	Kind      string     `gorm:"size:8;not null"` // code | link
	Hash      string     `gorm:"size:64;not null"`
	Attempts  int        `gorm:"not null;default:0"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time // also set when the code dies of wrong tries
	CreatedAt time.Time  `gorm:"index:ix_sign_in_codes_staff,priority:2"`
}

// signInAttempt is one sign-in request or failure, counted in its
// bucket ("ip:ADDR:code", "ip:ADDR:fail", "staff:ID:fail").
type signInAttempt struct {
	ID        int64     `gorm:"primaryKey"`
	Bucket    string    `gorm:"size:160;not null;index:ix_sign_in_attempts_bucket,priority:1"`
	CreatedAt time.Time `gorm:"index:ix_sign_in_attempts_bucket,priority:2;index"`
}

func (signInAttempt) TableName() string { return "sign_in_attempts" }

// StaffPassword is a staff member's console password: an argon2id hash
// in its standard encoding (parameters and salt included).
type StaffPassword struct {
	StaffID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Hash      string `gorm:"size:255;not null"`
	SetBy     *int64
	UpdatedAt time.Time
}

// ConsoleSession is a signed-in staff member's session.
type ConsoleSession struct {
	ID         int64      `gorm:"primaryKey" json:"id"`
	StaffID    int64      `gorm:"not null;index" json:"staff_id"`
	Hash       string     `gorm:"size:64;not null;uniqueIndex" json:"-"`
	Method     string     `gorm:"size:16;not null" json:"method"`
	UserAgent  string     `gorm:"size:255;not null;default:''" json:"user_agent"`
	IP         string     `gorm:"size:64;not null;default:''" json:"ip"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`

	// StaffName and Current are for the list (not stored).
	StaffName string `gorm:"-" json:"staff_name"`
	Current   bool   `gorm:"-" json:"current"`
}

// SessionPolicy is how long a session lasts: Idle without use, Max in all.
type SessionPolicy struct {
	Idle time.Duration
	Max  time.Duration
}

// DefaultSessionPolicy is 12 hours idle, 30 days in all.
func DefaultSessionPolicy() SessionPolicy {
	return SessionPolicy{Idle: 12 * time.Hour, Max: 30 * 24 * time.Hour}
}

// Sign-in errors. A wrong code and an unknown name answer the same, so
// the answer tells nobody who is staff.
var (
	ErrSignInFailed    = &Error{Code: EUNAUTHORIZED, Message: "wrong name, code or password, or the code expired"}
	ErrSignInThrottled = &Error{Code: ETOOMANY, Message: "too many sign-in attempts; wait 15 minutes and try again"}
)

// SignInCodeRequest asks for a code to be sent to a staff member's chat.
type SignInCodeRequest struct {
	Staff string // a name or an id
	IP    string
	// Text renders the message carrying the code for one staff member.
	Text func(st *Staff, code string) (CodeNotice, error)
}

// RequestSignInCode sends a new code to the chat of each active staff
// member the name stands for who has a bound chat account. It answers the
// same (nil) whether or not anyone was sent anything; only a client
// address over its request limit gets ErrSignInThrottled.
func (s *Store) RequestSignInCode(ctx context.Context, req SignInCodeRequest) error {
	now := s.Now().Truncate(time.Millisecond)
	ipKey := "ip:" + cutKey(req.IP) + ":code"
	n, err := s.countAttempts(ctx, ipKey, now.Add(-signInWindow))
	if err != nil {
		return err
	}
	if n >= SignInRequestsPerIP {
		return ErrSignInThrottled
	}
	if err := s.db.WithContext(ctx).Create(&signInAttempt{Bucket: ipKey, CreatedAt: now}).Error; err != nil {
		return fmt.Errorf("sign-in code: %w", err)
	}
	// Old attempts count for nothing; drop them now and then.
	s.db.WithContext(ctx).Where("created_at < ?", now.Add(-24*time.Hour)).Delete(&signInAttempt{})

	cands, err := s.signInCandidates(ctx, req.Staff)
	if err != nil {
		return err
	}
	for _, st := range cands {
		chat, err := s.StaffChat(ctx, st.ID)
		if err != nil {
			return err
		}
		if chat == nil {
			continue
		}
		code := digits(6)
		id := st.ID
		err = s.tx(ctx, func(tx *gorm.DB) error {
			var sent int64
			if err := tx.Model(&SignInCode{}).Where("staff_id = ? AND kind = ? AND created_at > ?", st.ID, SignInByCode, now.Add(-signInWindow)).
				Count(&sent).Error; err != nil {
				return err
			}
			if sent >= SignInCodesPerStaff {
				return nil // answered the same; the staff member has codes enough
			}
			notice, err := req.Text(st, code)
			if err != nil {
				return err
			}
			if err := tx.Create(&SignInCode{StaffID: st.ID, Kind: SignInByCode, Hash: codeHash(st.ID, code),
				ExpiresAt: now.Add(SignInCodeTTL), CreatedAt: now}).Error; err != nil {
				return err
			}
			_, err = s.enqueue(tx, []Outbound{{StaffID: &id, Channel: chat.Channel, ChatID: chat.ChatID, Text: notice.Text,
				TemplateKey: notice.TemplateKey, TemplateVersion: notice.TemplateVersion, IdempotencyKey: "sign_in:" + rowToken()}})
			return err
		})
		if err != nil {
			return fmt.Errorf("sign-in code: %w", err)
		}
	}
	return nil
}

// IssueSignInLink makes a one-time code for a sign-in link (the CLI's
// first-admin link): longer than a chat code, valid SignInLinkTTL.
func (s *Store) IssueSignInLink(ctx context.Context, staffID int64) (string, error) {
	st, err := s.StaffByID(ctx, staffID)
	if err != nil {
		return "", err
	}
	if !st.Active {
		return "", Invalid("staff", "staff %d is not active", staffID)
	}
	var b [20]byte
	rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.Now().Truncate(time.Millisecond)
	if err := s.db.WithContext(ctx).Create(&SignInCode{StaffID: staffID, Kind: SignInByLink, Hash: codeHash(staffID, code),
		ExpiresAt: now.Add(SignInLinkTTL), CreatedAt: now}).Error; err != nil {
		return "", fmt.Errorf("sign-in link: %w", err)
	}
	return code, nil
}

// SignInInput is a sign-in with a code or a password.
type SignInInput struct {
	Staff     string // a name or an id
	Code      string
	Password  string
	IP        string
	UserAgent string
	Policy    SessionPolicy
}

// SignIn checks a code or a password and starts a session; it returns
// the session's token (the cookie's value), shown once.
func (s *Store) SignIn(ctx context.Context, in SignInInput) (string, *ConsoleSession, error) {
	in.Code = strings.TrimSpace(in.Code)
	switch {
	case in.Code == "" && in.Password == "":
		return "", nil, Invalid("code", "give a code or a password")
	case in.Code != "" && in.Password != "":
		return "", nil, Invalid("password", "give a code or a password, not both")
	case len(in.Code) > 64:
		return "", nil, ErrSignInFailed
	}
	now := s.Now().Truncate(time.Millisecond)
	ipKey := "ip:" + cutKey(in.IP) + ":fail"
	n, err := s.countAttempts(ctx, ipKey, now.Add(-signInWindow))
	if err != nil {
		return "", nil, err
	}
	if n >= SignInFailuresPerIP {
		return "", nil, ErrSignInThrottled
	}
	cands, err := s.signInCandidates(ctx, in.Staff)
	if err != nil {
		return "", nil, err
	}
	var who *Staff
	method := SignInByPassword
	throttled := false
	for _, st := range cands {
		k := "staff:" + strconv.FormatInt(st.ID, 10) + ":fail"
		n, err := s.countAttempts(ctx, k, now.Add(-time.Hour))
		if err != nil {
			return "", nil, err
		}
		if n >= SignInFailuresPerStaff {
			throttled = true
			continue
		}
		var ok bool
		if in.Code != "" {
			method, ok, err = s.useSignInCode(ctx, st.ID, in.Code, now)
		} else {
			ok, err = s.checkPassword(ctx, st.ID, in.Password)
		}
		if err != nil {
			return "", nil, err
		}
		if ok {
			who = st
			break
		}
	}
	if len(cands) == 0 && in.Password != "" {
		// Spend the same time as a real check: timing tells nothing either.
		s.checkPassword(ctx, 0, in.Password)
	}
	if who == nil {
		fails := []signInAttempt{{Bucket: ipKey, CreatedAt: now}}
		for _, st := range cands {
			fails = append(fails, signInAttempt{Bucket: "staff:" + strconv.FormatInt(st.ID, 10) + ":fail", CreatedAt: now})
		}
		if err := s.db.WithContext(ctx).Create(&fails).Error; err != nil {
			return "", nil, fmt.Errorf("sign in: %w", err)
		}
		if throttled {
			return "", nil, ErrSignInThrottled
		}
		return "", nil, ErrSignInFailed
	}
	return s.startSession(ctx, who.ID, method, in, now)
}

// startSession writes a new session and returns its token.
func (s *Store) startSession(ctx context.Context, staffID int64, method string, in SignInInput, now time.Time) (string, *ConsoleSession, error) {
	pol := in.Policy
	if pol.Max <= 0 {
		pol = DefaultSessionPolicy()
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("start session: %w", err)
	}
	plain := base64.RawURLEncoding.EncodeToString(b[:])
	ua := in.UserAgent
	if !utf8.ValidString(ua) {
		ua = strings.ToValidUTF8(ua, "\uFFFD")
	}
	sess := &ConsoleSession{StaffID: staffID, Hash: hashToken(plain), Method: method, UserAgent: cleanText(ua, 255),
		IP: cutKey(in.IP), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(pol.Max)}
	if err := s.db.WithContext(ctx).Create(sess).Error; err != nil {
		return "", nil, fmt.Errorf("start session: %w", err)
	}
	return plain, sess, nil
}

// useSignInCode spends a live code of the staff member that matches, and
// reports its kind. A wrong code counts against each live code; a code
// wrong maxCodeAttempts times dies.
func (s *Store) useSignInCode(ctx context.Context, staffID int64, code string, now time.Time) (string, bool, error) {
	var live []SignInCode
	db := s.db.WithContext(ctx)
	if err := db.Where("staff_id = ? AND used_at IS NULL AND expires_at > ?", staffID, now).Find(&live).Error; err != nil {
		return "", false, fmt.Errorf("sign in: %w", err)
	}
	want := codeHash(staffID, code)
	for _, c := range live {
		if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(want)) != 1 {
			continue
		}
		// Single use even when two sign-ins race with the same code.
		res := db.Model(&SignInCode{}).Where("id = ? AND used_at IS NULL", c.ID).Update("used_at", now)
		if res.Error != nil {
			return "", false, fmt.Errorf("sign in: %w", res.Error)
		}
		return c.Kind, res.RowsAffected == 1, nil
	}
	if len(live) > 0 {
		ids := make([]int64, len(live))
		for i, c := range live {
			ids[i] = c.ID
		}
		// used_at first: MySQL assigns left to right, so it still sees
		// the old count, as SQLite does.
		err := db.Exec("UPDATE sign_in_codes SET used_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE used_at END, attempts = attempts + 1 WHERE id IN ?",
			maxCodeAttempts, now, ids).Error
		if err != nil {
			return "", false, fmt.Errorf("sign in: %w", err)
		}
	}
	return "", false, nil
}

// signInCandidates are the active staff a sign-in name stands for: the
// staff member with that id, and those with that name.
func (s *Store) signInCandidates(ctx context.Context, name string) ([]*Staff, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return nil, Invalid("staff", "give your name or staff id")
	}
	q := s.db.WithContext(ctx).Where("active = ?", true)
	if id, err := strconv.ParseInt(name, 10, 64); err == nil && id > 0 {
		q = q.Where("id = ? OR name = ?", id, name)
	} else {
		q = q.Where("name = ?", name)
	}
	var out []*Staff
	if err := q.Order("id").Limit(maxNameCandidates).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	return out, nil
}

func (s *Store) countAttempts(ctx context.Context, key string, since time.Time) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&signInAttempt{}).Where("bucket = ? AND created_at > ?", key, since).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("sign in: %w", err)
	}
	return n, nil
}

// codeHash ties a code to its staff member: the same short code for two
// people are two hashes.
func codeHash(staffID int64, code string) string {
	return hashToken(strconv.FormatInt(staffID, 10) + ":" + code)
}

// digits is n random decimal digits.
func digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		var r [1]byte
		for {
			rand.Read(r[:])
			if r[0] < 250 { // 250 = 25 × 10: unbiased
				break
			}
		}
		b[i] = '0' + r[0]%10
	}
	return string(b)
}

// cutKey bounds a client address used in a key.
func cutKey(s string) string { return CutRunes(cleanText(s, 0), 64) }

// hashing waits for a free password-hashing slot (Store.passwords).
func (s *Store) hashing(ctx context.Context) (func(), error) {
	select {
	case s.passwords <- struct{}{}:
		return func() { <-s.passwords }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Second):
		return nil, Errorf(EUNAVAILABLE, "too many sign-ins at once; try again")
	}
}

// dummyHash is what a check without a stored password compares against.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$95HL8W5HXzrY89wI/3/9Zg$JxpG95ekx1xIAOox3CFiQMBZlZIiLae3HtPQfC6PoQM"

// checkPassword reports whether password is the staff member's.
func (s *Store) checkPassword(ctx context.Context, staffID int64, password string) (bool, error) {
	if utf8.RuneCountInString(password) > MaxPasswordLen {
		return false, nil
	}
	hash := dummyHash
	var sp StaffPassword
	err := s.db.WithContext(ctx).Take(&sp, staffID).Error
	switch {
	case err == nil:
		hash = sp.Hash
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return false, fmt.Errorf("sign in: %w", err)
	}
	release, err := s.hashing(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return false, fmt.Errorf("sign in: password hash of staff %d: %w", staffID, err)
	}
	return ok && sp.StaffID != 0, nil
}

// PasswordChange sets a staff member's password. Current is required when
// staff change their own password and have one; admins setting someone
// else's (an initial password) give none.
type PasswordChange struct {
	StaffID  int64
	Current  string
	Password string
	By       Actor
}

// SetPassword stores the argon2id hash of a new password.
func (s *Store) SetPassword(ctx context.Context, ch PasswordChange) error {
	n := utf8.RuneCountInString(ch.Password)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return Invalid("password", "must be %d-%d characters", MinPasswordLen, MaxPasswordLen)
	}
	st, err := s.StaffByID(ctx, ch.StaffID)
	if err != nil {
		return err
	}
	own := ch.By.StaffID != nil && *ch.By.StaffID == ch.StaffID
	if !own {
		if ch.By.Role != "" && ch.By.Role != RoleAdmin {
			return Errorf(EFORBIDDEN, "only admins set other staff members' passwords")
		}
	} else {
		var sp StaffPassword
		err := s.db.WithContext(ctx).Take(&sp, ch.StaffID).Error
		if err == nil {
			ok, err := s.checkPassword(ctx, ch.StaffID, ch.Current)
			if err != nil {
				return err
			}
			if !ok {
				return Invalid("current", "is not your current password")
			}
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("set password: %w", err)
		}
	}
	if !st.Active {
		return Invalid("staff", "staff %d is not active", st.ID)
	}
	release, err := s.hashing(ctx)
	if err != nil {
		return err
	}
	p := passwordParams
	hash, err := argon2id.CreateHash(ch.Password, &p)
	release()
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	row := StaffPassword{StaffID: st.ID, Hash: hash, SetBy: ch.By.StaffID, UpdatedAt: s.Now().Truncate(time.Millisecond)}
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "staff_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"hash", "set_by", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// HasPassword reports whether the staff member has set a password.
func (s *Store) HasPassword(ctx context.Context, staffID int64) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&StaffPassword{}).Where("staff_id = ?", staffID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("has password: %w", err)
	}
	return n > 0, nil
}

// AuthenticateSession resolves a session token: unknown, revoked, expired
// and idle sessions, and sessions of deactivated staff, are refused. One
// query reads the session and its staff member; the role is the staff
// member's current one.
func (s *Store) AuthenticateSession(ctx context.Context, plain string, idle time.Duration) (*Principal, error) {
	if plain == "" || len(plain) > 128 {
		return nil, Errorf(EUNAUTHORIZED, "not signed in")
	}
	var row struct {
		ConsoleSession
		StaffActive bool
		StaffRole   Role
	}
	err := s.scan.WithContext(ctx).Model(&ConsoleSession{}).
		Select("console_sessions.*, staff.active AS staff_active, staff.role AS staff_role").
		Joins("JOIN staff ON staff.id = console_sessions.staff_id").
		Where("console_sessions.hash = ?", hashToken(plain)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, Errorf(EUNAUTHORIZED, "not signed in")
	} else if err != nil {
		return nil, fmt.Errorf("authenticate session: %w", err)
	}
	now := s.Now()
	sess := row.ConsoleSession
	switch {
	case sess.RevokedAt != nil:
		return nil, Errorf(EUNAUTHORIZED, "signed out")
	case !now.Before(sess.ExpiresAt):
		return nil, Errorf(EUNAUTHORIZED, "session expired; sign in again")
	case idle > 0 && now.Sub(sess.LastSeenAt) >= idle:
		return nil, Errorf(EUNAUTHORIZED, "session expired after %s without use; sign in again", idle)
	case !row.StaffActive:
		return nil, Errorf(EUNAUTHORIZED, "staff member deactivated")
	}
	if now.Sub(sess.LastSeenAt) >= sessionSeenEvery {
		cut := now.Add(-sessionSeenEvery)
		s.db.WithContext(ctx).Model(&ConsoleSession{}).Where("id = ? AND last_seen_at <= ?", sess.ID, cut).
			Update("last_seen_at", now.Truncate(time.Millisecond))
	}
	id := sess.StaffID
	return &Principal{SessionID: sess.ID, Role: row.StaffRole, StaffID: &id}, nil
}

// SessionFilter picks sessions to list.
type SessionFilter struct {
	StaffID *int64        // nil: everyone's
	Current int64         // the caller's own session, marked in the list
	Active  bool          // only sessions still usable ...
	Idle    time.Duration // ... given this idle limit
	Page
}

// ListSessions returns sessions, newest first.
func (s *Store) ListSessions(ctx context.Context, f SessionFilter) ([]*ConsoleSession, string, error) {
	limit, after, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&ConsoleSession{})
	if f.StaffID != nil {
		q = q.Where("staff_id = ?", *f.StaffID)
	}
	if f.Active {
		q = q.Where("revoked_at IS NULL AND expires_at > ?", s.Now())
		if f.Idle > 0 {
			q = q.Where("last_seen_at > ?", s.Now().Add(-f.Idle))
		}
	}
	if after > 0 {
		q = q.Where("id < ?", after)
	}
	out, next, err := pageOf(q.Order("id DESC"), limit, func(r *ConsoleSession) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	names, err := s.staffNames(ctx, out)
	if err != nil {
		return nil, "", err
	}
	for _, x := range out {
		x.StaffName = names[x.StaffID]
		x.Current = x.ID == f.Current
	}
	return out, next, nil
}

func (s *Store) staffNames(ctx context.Context, sess []*ConsoleSession) (map[int64]string, error) {
	ids := make([]int64, 0, len(sess))
	for _, x := range sess {
		ids = append(ids, x.StaffID)
	}
	return s.StaffNames(ctx, ids)
}

// StaffNames maps staff ids to names (unknown ids are left out).
func (s *Store) StaffNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	return namesOf[Staff](ctx, s.db, "staff", ids)
}

// RevokeSession ends one session. Staff end their own; admins anyone's.
// Someone else's session is "not found" to those who may not end it.
func (s *Store) RevokeSession(ctx context.Context, by Actor, id int64) error {
	db := s.db.WithContext(ctx)
	var sess ConsoleSession
	if err := db.Take(&sess, id).Error; err != nil {
		return notFound(err, "session %d", id)
	}
	own := by.StaffID != nil && *by.StaffID == sess.StaffID
	if !own && by.Role != RoleAdmin && by.Role != "" {
		return Errorf(ENOTFOUND, "session %d not found", id)
	}
	if err := db.Model(&ConsoleSession{}).Where("id = ? AND revoked_at IS NULL", id).
		Update("revoked_at", s.Now().Truncate(time.Millisecond)).Error; err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeStaffSessions ends every session of a staff member but keep (0:
// all of them) and reports how many it ended.
func (s *Store) RevokeStaffSessions(ctx context.Context, staffID, keep int64) (int64, error) {
	res := s.db.WithContext(ctx).Model(&ConsoleSession{}).Where("staff_id = ? AND id <> ? AND revoked_at IS NULL", staffID, keep).
		Update("revoked_at", s.Now().Truncate(time.Millisecond))
	if res.Error != nil {
		return 0, fmt.Errorf("revoke sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// CreateAdmin adds an active admin (the CLI's first admin).
func (s *Store) CreateAdmin(ctx context.Context, name string) (*Staff, error) {
	return s.CreateStaff(ctx, StaffInput{Name: name, Role: RoleAdmin})
}

// HasAdmin reports whether anyone can administer: an active admin staff
// member, or an admin token that is neither revoked nor expired.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&Staff{}).Where("role = ? AND active = ?", RoleAdmin, true).Count(&n).Error; err != nil {
		return false, fmt.Errorf("has admin: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	if err := db.Model(&APIToken{}).Where("role = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", RoleAdmin, s.Now()).
		Count(&n).Error; err != nil {
		return false, fmt.Errorf("has admin: %w", err)
	}
	return n > 0, nil
}
