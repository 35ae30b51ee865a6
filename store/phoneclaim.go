package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"
	"gorm.io/gorm"
)

// A phone typed in chat (/phone) is a claim, not a fact: anyone can type
// anyone's number. A claim on a number another customer has on record
// merges the two only after proof — a code sent to that customer's own
// chat account and echoed back, a Telegram contact the sender shared of
// themselves (ProvePhone), or a staff member's approval after a call.
// Until then the claimant stays a separate profile and learns nothing of
// the other one.

// Phone claim statuses.
const (
	ClaimPending  = "pending"
	ClaimVerified = "verified"
	ClaimRejected = "rejected"
	ClaimExpired  = "expired"
	// ClaimFailed: too many wrong codes.
	ClaimFailed = "failed"
	// ClaimSuperseded: the claimant claimed again, or the two profiles
	// became one some other way.
	ClaimSuperseded = "superseded"
)

// Phone claim methods: how a claim is to be proved.
const (
	// ClaimByCode: a code went to the holder's chat account.
	ClaimByCode = "code"
	// ClaimByStaff: the holder has no chat account to reach; a staff task
	// asks for a call.
	ClaimByStaff = "staff"
	// ClaimDuplicate: found by the migration to canonical phones, two
	// customers with one number on record; staff decide.
	ClaimDuplicate = "duplicate"
)

// Phone claim limits. Six digits and five tries per code give 1 in 200,000
// per code; the per-holder cap bounds the codes an attacker can have sent,
// however many web chat visitors they make up.
const (
	PhoneCodeTTL       = 15 * time.Minute
	PhoneCodeAttempts  = 5
	PhoneClaimsPerHour = 3 // per claimant
	PhoneClaimsPerDay  = 5 // per holder of the number
)

// PhoneClaim is one claim by a customer (ClaimantID) on a phone another
// customer (TargetID) has on record.
type PhoneClaim struct {
	ID              int64  `gorm:"primaryKey" json:"id"`
	ClaimantID      int64  `gorm:"not null;index:ix_phone_claims_claimant,priority:1" json:"claimant_id"`
	ClaimantChannel string `gorm:"size:16;not null;default:''" json:"claimant_channel,omitempty"`
	TargetID        int64  `gorm:"not null;index:ix_phone_claims_target,priority:1" json:"target_id"`
	Phone           string `gorm:"size:32;not null" json:"phone"`
	Method          string `gorm:"size:16;not null" json:"method"`
	Status          string `gorm:"size:16;not null;index" json:"status"`
	// CodeHash is the code's hash (ClaimByCode); the code itself is only
	// in the message to the holder.
	CodeHash string `gorm:"size:64;not null;default:''" json:"-"`
	Attempts int    `gorm:"not null;default:0" json:"attempts"`
	// CodeIdentityID is the holder's chat account the code went to.
	CodeIdentityID *int64 `json:"-"`
	// MessageID is the /phone message: processing it again after a crash
	// makes no second claim (and sends no second code).
	MessageID *int64     `gorm:"uniqueIndex" json:"-"`
	TaskID    *int64     `json:"task_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// KeptID is the customer the two became when the claim was verified.
	KeptID *int64 `json:"kept_id,omitempty"`
	// ProofMessageID is the /verify message that proved the claim: it
	// answers the same when processed again.
	ProofMessageID *int64     `gorm:"index" json:"-"`
	DecidedBy      *int64     `json:"decided_by,omitempty"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
	CreatedAt      time.Time  `gorm:"index:ix_phone_claims_claimant,priority:2;index:ix_phone_claims_target,priority:2" json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// live reports whether a pending claim can still be proved at now.
func (c *PhoneClaim) live(now time.Time) bool {
	return c.Status == ClaimPending && (c.ExpiresAt == nil || now.Before(*c.ExpiresAt))
}

// CodeNotice is the rendered message that carries a code to the holder.
type CodeNotice struct {
	Text            string
	TemplateKey     string
	TemplateVersion int
}

// PhoneClaimInput is a /phone from a customer's chat account.
type PhoneClaimInput struct {
	CustomerID int64
	IdentityID int64
	Phone      string // as typed
	MessageID  int64  // the /phone message (0: none)
	// CodeText renders the code message for the holder of the number with
	// vars "phone" (masked, 138****8000) and "code". It runs inside the
	// transaction that records the claim, so claim and message are written
	// together or not at all.
	CodeText func(holder *Customer, vars map[string]string) (CodeNotice, error)
}

// ClaimOutcome is what a /phone did. The claimant is told the same in
// every case but ClaimOwn: whether a number is someone's is never revealed.
type ClaimOutcome string

const (
	// ClaimSaved: nobody has the number on record; it is saved on the
	// claimant, unverified.
	ClaimSaved ClaimOutcome = "saved"
	// ClaimOwn: the claimant already has it on record.
	ClaimOwn ClaimOutcome = "own"
	// ClaimOpened: another customer has it on record; a claim waits for
	// proof (a code was sent, or a staff task opened).
	ClaimOpened ClaimOutcome = "opened"
	// ClaimThrottled: too many claims by the claimant or on the number;
	// nothing was done.
	ClaimThrottled ClaimOutcome = "throttled"
)

// ClaimResult is ClaimPhone's answer.
type ClaimResult struct {
	Phone   string // canonical
	Outcome ClaimOutcome
	Claim   *PhoneClaim // ClaimOpened only
}

// ErrPhoneCode is every failed /verify: no pending claim, wrong, expired
// or used-up code. One error for all, so the answer says nothing more.
var ErrPhoneCode = &Error{Code: EINVALID, Field: "code", Message: "code: unknown, wrong or expired verification code"}

// errClaimRace ends an attempt that lost a unique-key race; the next one
// finds the winner's row.
var errClaimRace = errors.New("phone claim: lost a race")

// ClaimPhone records a phone a customer typed in chat. Nobody has it on
// record: it is saved on the claimant, unverified (PhoneKey NULL). Another
// customer has it: the claimant stays separate and a claim waits for proof
// — a one-time code sent to the holder's most recent reachable chat
// account (VerifyPhoneCode), or, when the holder has none, a verify_phone
// task for staff (ApprovePhoneClaim). A bad number is EINVALID naming
// phone.
func (s *Store) ClaimPhone(ctx context.Context, in PhoneClaimInput) (*ClaimResult, error) {
	phone, err := s.CanonicalPhone(in.Phone)
	if err != nil {
		return nil, Invalid("phone", "%v", err)
	}
	if phone == "" {
		return nil, Invalid("phone", "must not be empty")
	}
	var res *ClaimResult
	for attempt := 0; attempt < 3; attempt++ {
		err = s.tx(ctx, func(tx *gorm.DB) error {
			var err error
			res, err = s.claimPhone(tx, in, phone)
			return err
		})
		if !errors.Is(err, errClaimRace) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim phone: %w", err)
	}
	return res, nil
}

func (s *Store) claimPhone(tx *gorm.DB, in PhoneClaimInput, phone string) (*ClaimResult, error) {
	now := s.Now().Truncate(time.Millisecond)
	res := &ClaimResult{Phone: phone}
	if in.MessageID != 0 {
		var done PhoneClaim
		err := tx.Where("message_id = ?", in.MessageID).Take(&done).Error
		if err == nil {
			res.Outcome, res.Claim = ClaimOpened, &done
			return res, nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, err
		}
	}
	var me Customer
	if err := s.forUpdate(tx).Take(&me, in.CustomerID).Error; err != nil {
		return nil, notFound(err, "customer %d", in.CustomerID)
	}
	var holder Customer
	err := s.forUpdate(tx).Where("phone_key = ?", phone).Take(&holder).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		// Nobody's: the claimant's own, unproved. A number they had on
		// record before is replaced (and so freed).
		if err := s.supersedeClaims(tx, me.ID, now); err != nil {
			return nil, err
		}
		err := tx.Model(&Customer{}).Where("id = ?", me.ID).
			Updates(map[string]any{"phone": phone, "phone_key": nil, "updated_at": now}).Error
		res.Outcome = ClaimSaved
		return res, err
	case err != nil:
		return nil, err
	case holder.ID == me.ID:
		res.Outcome = ClaimOwn
		return res, nil
	}

	var mine, onNumber int64
	if err := tx.Model(&PhoneClaim{}).Where("claimant_id = ? AND created_at > ? AND method <> ?", me.ID, now.Add(-time.Hour), ClaimDuplicate).
		Count(&mine).Error; err != nil {
		return nil, err
	}
	if err := tx.Model(&PhoneClaim{}).Where("target_id = ? AND created_at > ? AND method <> ?", holder.ID, now.Add(-24*time.Hour), ClaimDuplicate).
		Count(&onNumber).Error; err != nil {
		return nil, err
	}
	if mine >= PhoneClaimsPerHour || onNumber >= PhoneClaimsPerDay {
		res.Outcome = ClaimThrottled
		return res, nil
	}
	if err := s.supersedeClaims(tx, me.ID, now); err != nil {
		return nil, err
	}
	reach, err := s.codeRoute(tx, holder.ID, now)
	if err != nil {
		return nil, err
	}
	claim := &PhoneClaim{ClaimantID: me.ID, TargetID: holder.ID, Phone: phone, Status: ClaimPending, CreatedAt: now, UpdatedAt: now}
	if in.MessageID != 0 {
		id := in.MessageID
		claim.MessageID = &id
	}
	var claimant Identity
	if in.IdentityID != 0 && tx.Take(&claimant, in.IdentityID).Error == nil {
		claim.ClaimantChannel = claimant.Channel
	}
	code := ""
	if reach != nil && in.CodeText != nil {
		code = newPhoneCode()
		exp := now.Add(PhoneCodeTTL)
		claim.Method, claim.CodeHash, claim.ExpiresAt, claim.CodeIdentityID = ClaimByCode, phoneCodeHash(me.ID, code), &exp, &reach.ID
	} else {
		claim.Method = ClaimByStaff
	}
	if err := tx.Create(claim).Error; err != nil {
		if isDuplicate(err) {
			return nil, errClaimRace
		}
		return nil, err
	}
	res.Outcome, res.Claim = ClaimOpened, claim
	if code != "" {
		n, err := in.CodeText(&holder, map[string]string{"phone": MaskPhone(phone), "code": code})
		if err != nil {
			return nil, err
		}
		hid, iid := holder.ID, reach.ID
		_, err = s.enqueue(tx, []Outbound{{
			CustomerID: &hid, IdentityID: &iid, Channel: reach.Channel, ChatID: reach.ExternalID,
			Text: n.Text, TemplateKey: n.TemplateKey, TemplateVersion: n.TemplateVersion,
			IdempotencyKey: "phone_code:" + strconv.FormatInt(claim.ID, 10),
		}})
		return res, err
	}
	task, err := s.verifyPhoneTask(tx, claim, &me, &claimant)
	if err != nil {
		return nil, err
	}
	claim.TaskID = &task.ID
	return res, tx.Model(claim).Update("task_id", task.ID).Error
}

// codeRoute is where a code for the holder goes: their reachable chat
// account that wrote last (WeChat only within its 48-hour window), or nil.
func (s *Store) codeRoute(tx *gorm.DB, holderID int64, now time.Time) (*Identity, error) {
	var ids []Identity
	if err := tx.Where("customer_id = ? AND unreachable = ?", holderID, false).Find(&ids).Error; err != nil {
		return nil, err
	}
	return lastWrote(ids, func(id *Identity) bool {
		return id.Channel != ChannelWeChat || InWeChatWindow(id.LastInboundAt, now)
	}), nil
}

// verifyPhoneTask asks staff to call the number: the holder has no chat
// account a code could go to.
func (s *Store) verifyPhoneTask(tx *gorm.DB, claim *PhoneClaim, claimant *Customer, via *Identity) (*Task, error) {
	who := fmt.Sprintf("客户 #%d", claimant.ID)
	if claimant.Name != "" {
		who = fmt.Sprintf("%s（#%d）", claimant.Name, claimant.ID)
	}
	if via.Channel != "" {
		who += "，来自 " + via.Channel
	}
	in := TaskInput{
		CustomerID: claim.TargetID, Kind: TaskVerifyPhone, Source: "phone_claim",
		Title: fmt.Sprintf("请电话确认：%s 声称手机号 %s 是本人的", who, claim.Phone),
		Detail: fmt.Sprintf("请拨打 %s，确认接听的是否本人、是否刚在聊天中申请关联这个号码。"+
			"确认后批准（POST /api/v1/phone-claims/%d/approve）即合并两个资料；否则拒绝（/reject）。", claim.Phone, claim.ID),
		DedupKey: "phone_claim:" + strconv.FormatInt(claim.ID, 10),
	}
	if err := in.normalize(); err != nil {
		return nil, err
	}
	t, _, err := s.createTask(tx, in)
	return t, err
}

// supersedeClaims ends a claimant's pending claims: one live claim each.
func (s *Store) supersedeClaims(tx *gorm.DB, claimantID int64, now time.Time) error {
	return s.endClaims(tx, now, "claimant_id = ? AND method <> ?", claimantID, ClaimDuplicate)
}

// endClaims supersedes the pending claims matching where and cancels
// their open staff tasks: nobody should call about a claim that is over.
func (s *Store) endClaims(tx *gorm.DB, now time.Time, where string, args ...any) error {
	var over []PhoneClaim
	if err := tx.Where("status = ?", ClaimPending).Where(where, args...).Find(&over).Error; err != nil {
		return err
	}
	if len(over) == 0 {
		return nil
	}
	ids := make([]int64, len(over))
	var tasks []int64
	for i, c := range over {
		ids[i] = c.ID
		if c.TaskID != nil {
			tasks = append(tasks, *c.TaskID)
		}
	}
	if err := tx.Model(&PhoneClaim{}).Where("id IN ?", ids).Updates(map[string]any{"status": ClaimSuperseded, "updated_at": now}).Error; err != nil {
		return err
	}
	if len(tasks) == 0 {
		return nil
	}
	var open []Task
	if err := s.forUpdate(tx).Where("id IN ? AND status = ?", tasks, TaskOpen).Find(&open).Error; err != nil {
		return err
	}
	cancelled, note := TaskCancelled, "phone claim superseded: claimed again or proved another way"
	for i := range open {
		if err := s.applyTaskUpdate(tx, &open[i], TaskUpdate{Status: &cancelled, Note: &note}, SystemActor()); err != nil {
			return err
		}
	}
	return nil
}

// newPhoneCode is six random digits.
func newPhoneCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}

func phoneCodeHash(claimantID int64, code string) string {
	h := sha256.Sum256([]byte("phone-code:" + strconv.FormatInt(claimantID, 10) + ":" + code))
	return hex.EncodeToString(h[:])
}

// PhoneCodeOf reads a code out of what a customer typed after /verify:
// "123456", "１２３ ４５６", "码 123456"; "" when there is none.
func PhoneCodeOf(args string) string {
	s := strings.TrimPrefix(strings.TrimSpace(width.Narrow.String(args)), "码")
	s = strings.NewReplacer(" ", "", "-", "", ":", "").Replace(s)
	if len(s) != 6 || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return s
}

// PhoneCode is a /verify from a claimant.
type PhoneCode struct {
	CustomerID int64  // the claimant
	Code       string // as typed
	MessageID  int64  // the /verify message (0: none)
}

// VerifyPhoneCode checks a code the claimant echoed back against their
// pending claim. Right: the claimant and the holder are merged (the oldest
// profile kept) and the kept customer is returned; the same message
// processed again returns it again. Anything else is ErrPhoneCode; a wrong
// code counts against the claim, which fails after PhoneCodeAttempts.
func (s *Store) VerifyPhoneCode(ctx context.Context, in PhoneCode) (*Customer, error) {
	claimantID, code := in.CustomerID, PhoneCodeOf(in.Code)
	var kept int64
	var verdict error
	err := s.tx(ctx, func(tx *gorm.DB) error {
		kept, verdict = 0, nil
		now := s.Now().Truncate(time.Millisecond)
		var c PhoneClaim
		if in.MessageID != 0 {
			err := tx.Where("proof_message_id = ? AND status = ?", in.MessageID, ClaimVerified).Take(&c).Error
			if err == nil && c.KeptID != nil {
				kept = *c.KeptID
				return nil
			} else if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}
		}
		err := s.forUpdate(tx).Where("claimant_id = ? AND status = ? AND method = ?", claimantID, ClaimPending, ClaimByCode).
			Order("id DESC").Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			verdict = ErrPhoneCode
			return nil
		} else if err != nil {
			return err
		}
		set := map[string]any{"updated_at": now}
		switch {
		case !c.live(now):
			verdict, set["status"] = ErrPhoneCode, ClaimExpired
		case code == "" || subtle.ConstantTimeCompare([]byte(phoneCodeHash(claimantID, code)), []byte(c.CodeHash)) != 1:
			// Committed with the transaction: the failure must count.
			verdict, set["attempts"] = ErrPhoneCode, c.Attempts+1
			if c.Attempts+1 >= PhoneCodeAttempts {
				set["status"] = ClaimFailed
			}
		default:
			held, err := holds(tx, c.TargetID, c.Phone)
			if err != nil {
				return err
			}
			if !held {
				// The number left the holder since: nothing to join.
				verdict, set["status"] = ErrPhoneCode, ClaimSuperseded
				break
			}
			set["status"], set["decided_at"], set["kept_id"] = ClaimVerified, now, min(c.ClaimantID, c.TargetID)
			if in.MessageID != 0 {
				set["proof_message_id"] = in.MessageID
			}
			if err := tx.Model(&c).Updates(set).Error; err != nil {
				return err
			}
			kept, _, err = s.mergeCustomers(tx, c.ClaimantID, c.TargetID, mergeProof{Phone: c.Phone, Method: MergeCode, ClaimID: &c.ID})
			return err
		}
		return tx.Model(&c).Updates(set).Error
	})
	if err != nil {
		return nil, fmt.Errorf("verify phone: %w", err)
	}
	if verdict != nil {
		return nil, verdict
	}
	return s.CustomerByID(ctx, kept)
}

// holds reports whether a customer still has phone on record.
func holds(tx *gorm.DB, customerID int64, phone string) (bool, error) {
	var n int64
	err := tx.Model(&Customer{}).Where("id = ? AND phone_key = ?", customerID, phone).Count(&n).Error
	return n > 0, err
}

// PhoneProof is a phone proved to belong to a customer's chat account
// (MergeTelegramContact: Telegram verified the contact the sender shared
// of themselves).
type PhoneProof struct {
	CustomerID int64
	Phone      string
	Method     string
}

// ProvePhone puts a proved phone on record for the customer. If another
// customer has it on record, the two are one person and are merged (the
// oldest kept); the kept customer is returned.
func (s *Store) ProvePhone(ctx context.Context, p PhoneProof) (*Customer, error) {
	phone, err := s.CanonicalPhone(p.Phone)
	if err != nil {
		return nil, Invalid("phone", "%v", err)
	}
	if phone == "" {
		return nil, Invalid("phone", "must not be empty")
	}
	var kept int64
	prove := func(tx *gorm.DB) error {
		var me Customer
		if err := s.forUpdate(tx).Take(&me, p.CustomerID).Error; err != nil {
			return notFound(err, "customer %d", p.CustomerID)
		}
		kept = me.ID
		var holder Customer
		err := s.forUpdate(tx).Where("phone_key = ?", phone).Take(&holder).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			return tx.Model(&Customer{}).Where("id = ?", me.ID).
				Updates(map[string]any{"phone": phone, "phone_key": phone, "updated_at": s.Now().Truncate(time.Millisecond)}).Error
		case err != nil:
			return err
		case holder.ID == me.ID:
			return nil
		}
		kept, _, err = s.mergeCustomers(tx, me.ID, holder.ID, mergeProof{Phone: phone, Method: p.Method})
		return err
	}
	// Someone may put the number on record meanwhile: then it is theirs
	// to merge with.
	if err := s.txCreating(ctx, prove); err != nil {
		return nil, fmt.Errorf("prove phone: %w", err)
	}
	return s.CustomerByID(ctx, kept)
}

// ApprovePhoneClaim is a staff member's proof (they called the number):
// the claimant and the holder are merged, the claim is verified and its
// task done. A claim that is not pending, or whose number the holder no
// longer has on record, is ECONFLICT.
func (s *Store) ApprovePhoneClaim(ctx context.Context, id int64, by Actor) (*PhoneClaim, error) {
	return s.decideClaim(ctx, id, by, true)
}

// RejectPhoneClaim ends a claim without merging; its task is cancelled.
func (s *Store) RejectPhoneClaim(ctx context.Context, id int64, by Actor) (*PhoneClaim, error) {
	return s.decideClaim(ctx, id, by, false)
}

func (s *Store) decideClaim(ctx context.Context, id int64, by Actor, approve bool) (*PhoneClaim, error) {
	var c PhoneClaim
	err := s.tx(ctx, func(tx *gorm.DB) error {
		c = PhoneClaim{}
		now := s.Now().Truncate(time.Millisecond)
		if err := s.forUpdate(tx).Take(&c, id).Error; err != nil {
			return notFound(err, "phone claim %d", id)
		}
		if !c.live(now) {
			return Errorf(ECONFLICT, "phone claim %d is %s", id, s.claimStatus(&c))
		}
		status, taskStatus, note := ClaimRejected, TaskCancelled, fmt.Sprintf("phone claim #%d rejected", id)
		if approve {
			held, err := holds(tx, c.TargetID, c.Phone)
			if err != nil {
				return err
			}
			if !held {
				return Errorf(ECONFLICT, "customer %d no longer has %s on record; reject the claim", c.TargetID, c.Phone)
			}
			status, taskStatus, note = ClaimVerified, TaskDone, fmt.Sprintf("phone claim #%d approved: customers merged", id)
		}
		c.Status, c.DecidedBy, c.DecidedAt, c.UpdatedAt = status, by.StaffID, &now, now
		if approve {
			// mergeCustomers keeps the older (lower id) profile.
			kept := min(c.ClaimantID, c.TargetID)
			c.KeptID = &kept
		}
		if err := tx.Model(&c).Updates(map[string]any{"status": status, "kept_id": c.KeptID, "decided_by": by.StaffID, "decided_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		if approve {
			if _, _, err := s.mergeCustomers(tx, c.ClaimantID, c.TargetID, mergeProof{Phone: c.Phone, Method: MergeStaff, By: by.StaffID, ClaimID: &c.ID}); err != nil {
				return err
			}
		}
		if c.TaskID == nil {
			return nil
		}
		var t Task
		if err := s.forUpdate(tx).Take(&t, *c.TaskID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil
			}
			return err
		}
		if t.Status != TaskOpen {
			return nil
		}
		return s.applyTaskUpdate(tx, &t, TaskUpdate{Status: &taskStatus, Note: &note}, by)
	})
	if err != nil {
		return nil, fmt.Errorf("decide phone claim: %w", err)
	}
	return &c, nil
}

// claimStatus is a claim's status as the API shows it: a pending claim
// whose code has expired is expired.
func (s *Store) claimStatus(c *PhoneClaim) string {
	if c.Status == ClaimPending && !c.live(s.Now()) {
		return ClaimExpired
	}
	return c.Status
}

// PhoneClaimFilter narrows ListPhoneClaims.
type PhoneClaimFilter struct {
	Status string // "" = all
	// CustomerID, when set, keeps the claims that customer made or that
	// name them as the number's holder.
	CustomerID *int64
	Page
}

// ListPhoneClaims returns one page of claims, oldest first.
func (s *Store) ListPhoneClaims(ctx context.Context, f PhoneClaimFilter) ([]*PhoneClaim, string, error) {
	limit, after, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	q := s.db.WithContext(ctx).Where("id > ?", after)
	if f.CustomerID != nil {
		q = q.Where("(claimant_id = ? OR target_id = ?)", *f.CustomerID, *f.CustomerID)
	}
	switch f.Status {
	case "":
	case ClaimPending:
		q = q.Where("status = ? AND (expires_at IS NULL OR expires_at > ?)", ClaimPending, now)
	case ClaimExpired:
		q = q.Where("status = ? OR (status = ? AND expires_at <= ?)", ClaimExpired, ClaimPending, now)
	case ClaimVerified, ClaimRejected, ClaimFailed, ClaimSuperseded:
		q = q.Where("status = ?", f.Status)
	default:
		return nil, "", Invalid("status", "%q is not pending, verified, rejected, expired, failed or superseded", f.Status)
	}
	cs, next, err := pageOf(q.Order("id"), limit, func(r *PhoneClaim) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list phone claims: %w", err)
	}
	for _, c := range cs {
		c.Status = s.claimStatus(c)
	}
	return cs, next, nil
}

// movePhoneClaims re-points the pending claims of a merged-away customer
// to the kept one; those that now join the kept customer to itself are
// over. Decided claims keep their ids as history.
func (s *Store) movePhoneClaims(tx *gorm.DB, keep, gone int64, now time.Time) error {
	for _, col := range []string{"claimant_id", "target_id"} {
		if err := tx.Model(&PhoneClaim{}).Where(col+" = ? AND status = ?", gone, ClaimPending).
			Updates(map[string]any{col: keep, "updated_at": now}).Error; err != nil {
			return err
		}
	}
	return s.endClaims(tx, now, "claimant_id = ? AND target_id = ?", keep, keep)
}
