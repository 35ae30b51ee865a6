package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Campaign states.
const (
	CampaignDraft     = "draft"
	CampaignScheduled = "scheduled"
	CampaignSending   = "sending"
	CampaignDone      = "done"
	CampaignCancelled = "cancelled"
)

// Campaign run states. A run is one delivery of a campaign to its segment:
// the campaign's own send (TriggerKey "") or one trigger.
const (
	CampaignRunPending   = "pending"
	CampaignRunRunning   = "running"
	CampaignRunDone      = "done"
	CampaignRunFailed    = "failed"
	CampaignRunCancelled = "cancelled"
)

// Campaign is a message to a segment, sent once (now or at SendAt) and/or
// on triggers.
type Campaign struct {
	ID          int64  `gorm:"primaryKey" json:"id"`
	Name        string `gorm:"size:128;not null" json:"name"`
	SegmentID   int64  `gorm:"not null;index" json:"segment_id"`
	TemplateKey string `gorm:"size:64;not null;default:''" json:"template_key,omitempty"`
	// BodiesJSON holds inline bodies by locale ("*" for every locale).
	BodiesJSON string            `gorm:"column:bodies;type:text" json:"-"`
	Bodies     map[string]string `gorm:"-" json:"bodies,omitempty"`
	SendAt     *time.Time        `gorm:"index" json:"send_at,omitempty"`
	EndAt      *time.Time        `json:"end_at,omitempty"`
	Status     string            `gorm:"size:16;not null;index" json:"status"`
	// CapExempt campaigns skip the per-customer cap (set by an admin,
	// recorded with who).
	CapExempt   bool       `gorm:"not null;default:false" json:"cap_exempt"`
	CapExemptBy *int64     `json:"cap_exempt_by,omitempty"`
	CreatedBy   *int64     `json:"created_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`

	Results *CampaignResults `gorm:"-" json:"results,omitempty"`
}

func (c *Campaign) decode() {
	c.Bodies = nil
	if c.BodiesJSON != "" {
		_ = json.Unmarshal([]byte(c.BodiesJSON), &c.Bodies)
	}
}

// CampaignRun is one delivery of a campaign, claimed by one process at a
// time (lease), resumable from its cursor AfterID.
type CampaignRun struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	CampaignID int64  `gorm:"not null;uniqueIndex:ux_campaign_runs_key,priority:1" json:"campaign_id"`
	TriggerKey string `gorm:"size:128;not null;default:'';uniqueIndex:ux_campaign_runs_key,priority:2" json:"key"`
	VarsJSON   string `gorm:"column:vars;type:text" json:"-"`
	Status     string `gorm:"size:16;not null;index" json:"status"`
	// AfterID: customers up to this id are done (the resume point).
	AfterID     int64             `gorm:"not null;default:0" json:"-"`
	Planned     int               `gorm:"not null;default:0" json:"planned"`
	Queued      int               `gorm:"not null;default:0" json:"queued"`
	Skipped     int               `gorm:"not null;default:0" json:"skipped"`
	Failed      int               `gorm:"not null;default:0" json:"failed"`
	Tasks       int               `gorm:"not null;default:0" json:"tasks"`
	Duplicates  int               `gorm:"not null;default:0" json:"duplicates"`
	ReasonsJSON string            `gorm:"column:reasons;type:text" json:"-"`
	SkipReasons map[string]int    `gorm:"-" json:"skip_reasons"`
	Vars        map[string]string `gorm:"-" json:"vars,omitempty"`
	Attempts    int               `gorm:"not null;default:0" json:"attempts"`
	Error       string            `gorm:"type:text" json:"error,omitempty"`
	ClaimedBy   string            `gorm:"size:64;not null;default:''" json:"-"`
	LeaseUntil  *time.Time        `json:"-"`
	Beats       int64             `gorm:"not null;default:0" json:"-"`
	CreatedAt   time.Time         `json:"created_at"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func (r *CampaignRun) decode() {
	r.SkipReasons = map[string]int{}
	if r.ReasonsJSON != "" {
		_ = json.Unmarshal([]byte(r.ReasonsJSON), &r.SkipReasons)
	}
	r.Vars = nil
	if r.VarsJSON != "" {
		_ = json.Unmarshal([]byte(r.VarsJSON), &r.Vars)
	}
}

// CampaignKey is the outbox idempotency-key prefix and workflow of a
// campaign's messages: "campaign:ID".
func CampaignKey(id int64) string { return "campaign:" + strconv.FormatInt(id, 10) }

// ErrCampaignCancelled stops a run whose campaign was cancelled.
var ErrCampaignCancelled = Errorf(ECONFLICT, "campaign cancelled")

// CreateCampaign inserts a draft (the caller has checked it).
func (s *Store) CreateCampaign(ctx context.Context, c *Campaign) error {
	now := s.Now().Truncate(time.Millisecond)
	c.Status, c.CreatedAt, c.UpdatedAt = CampaignDraft, now, now
	c.BodiesJSON = ""
	if len(c.Bodies) > 0 {
		b, _ := json.Marshal(c.Bodies)
		c.BodiesJSON = string(b)
	}
	if err := s.db.WithContext(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	return nil
}

// CampaignByID loads a campaign.
func (s *Store) CampaignByID(ctx context.Context, id int64) (*Campaign, error) {
	c, err := byID[Campaign](ctx, s, "campaign", id)
	if err == nil {
		c.decode()
	}
	return c, err
}

// ListCampaigns returns campaigns, newest first; status narrows.
func (s *Store) ListCampaigns(ctx context.Context, status string, p Page) ([]*Campaign, string, error) {
	limit, before, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&Campaign{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	cs, next, err := pageOf(q.Order("id DESC"), limit, func(c *Campaign) int64 { return c.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list campaigns: %w", err)
	}
	for _, c := range cs {
		c.decode()
	}
	return cs, next, nil
}

// SetCampaignCapExempt records an admin's exemption from the cap.
func (s *Store) SetCampaignCapExempt(ctx context.Context, id int64, exempt bool, by *int64) error {
	res := s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ?", id).
		Updates(map[string]any{"cap_exempt": exempt, "cap_exempt_by": by, "updated_at": s.Now().Truncate(time.Millisecond)})
	if res.Error != nil {
		return fmt.Errorf("campaign cap exempt: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return Errorf(ENOTFOUND, "campaign %d not found", id)
	}
	return nil
}

// transition moves a campaign from one of from to to by a conditional
// UPDATE (the claim that makes replicas agree); a campaign in another
// state is 409 naming it.
func (s *Store) transition(ctx context.Context, id int64, from []string, set map[string]any) (*Campaign, bool, error) {
	set["updated_at"] = s.Now().Truncate(time.Millisecond)
	var res *gorm.DB
	if err := retry(ctx, func() error {
		res = s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status IN ?", id, from).Updates(set)
		return res.Error
	}); err != nil {
		return nil, false, fmt.Errorf("campaign %d: %w", id, err)
	}
	c, err := s.CampaignByID(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return c, res.RowsAffected == 1, nil
}

func stateConflict(c *Campaign, what string) error {
	return &Error{Code: ECONFLICT, Field: "status", Message: fmt.Sprintf("campaign %d is %s; it cannot be %s", c.ID, c.Status, what)}
}

// ScheduleCampaign sets a draft (or scheduled) campaign to go at at.
func (s *Store) ScheduleCampaign(ctx context.Context, id int64, at time.Time) (*Campaign, error) {
	c, ok, err := s.transition(ctx, id, []string{CampaignDraft, CampaignScheduled},
		map[string]any{"status": CampaignScheduled, "send_at": at.UTC().Truncate(time.Millisecond)})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, stateConflict(c, "scheduled")
	}
	return c, nil
}

// SendCampaign starts a draft or scheduled campaign now: it becomes
// sending and its run is created for a worker to claim.
func (s *Store) SendCampaign(ctx context.Context, id int64) (*Campaign, error) {
	now := s.Now().Truncate(time.Millisecond)
	c, ok, err := s.transition(ctx, id, []string{CampaignDraft, CampaignScheduled},
		map[string]any{"status": CampaignSending, "started_at": now})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, stateConflict(c, "sent")
	}
	if _, _, err := s.CreateCampaignRun(ctx, id, "", nil); err != nil {
		return nil, err
	}
	return c, nil
}

// StartDueCampaigns moves scheduled campaigns whose time has come to
// sending, each claimed by one conditional UPDATE so two replicas never
// both start one, and creates their runs (also for a sending campaign
// whose process died between the two). It returns the ids started.
func (s *Store) StartDueCampaigns(ctx context.Context, now time.Time) ([]int64, error) {
	var ids []int64
	db := s.db.WithContext(ctx)
	if err := db.Model(&Campaign{}).Where("status = ? AND send_at <= ?", CampaignScheduled, now.UTC()).
		Order("send_at").Limit(100).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("due campaigns: %w", err)
	}
	var started []int64
	for _, id := range ids {
		_, ok, err := s.transition(ctx, id, []string{CampaignScheduled}, map[string]any{"status": CampaignSending, "started_at": now.UTC()})
		if err != nil {
			return started, err
		}
		if ok {
			started = append(started, id)
		}
	}
	var orphans []int64
	if err := db.Model(&Campaign{}).Where("status = ? AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = campaigns.id AND r.trigger_key = '')",
		CampaignSending).Limit(100).Pluck("id", &orphans).Error; err != nil {
		return started, fmt.Errorf("due campaigns: %w", err)
	}
	for _, id := range orphans {
		if _, _, err := s.CreateCampaignRun(ctx, id, "", nil); err != nil {
			return started, err
		}
	}
	return started, nil
}

// endsSweptKey holds (in kv) the instant up to which ended campaigns have
// been swept (WithdrawEndedCampaigns).
const endsSweptKey = "campaigns.ends_swept"

// WithdrawEndedCampaigns withdraws the messages still queued (deferred by
// quiet hours, waiting for the channel's rate, retrying) of every
// campaign whose end_at has passed since the last sweep, so nothing of a
// campaign goes out after its end. Each end is swept once (a watermark
// in kv, moved after the sweep: two replicas sweeping together withdraw
// the same rows, which is harmless). It returns how many were withdrawn.
func (s *Store) WithdrawEndedCampaigns(ctx context.Context, now time.Time) (int, error) {
	q := s.db.WithContext(ctx).Model(&Campaign{}).Where("end_at IS NOT NULL AND end_at <= ?", now.UTC())
	if v, ok, err := s.KVGet(ctx, endsSweptKey); err != nil {
		return 0, err
	} else if ok {
		if since, err := time.Parse(time.RFC3339Nano, v); err == nil {
			q = q.Where("end_at > ?", since.UTC())
		}
	}
	var ids []int64
	if err := q.Where("status <> ?", CampaignDraft).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("ended campaigns: %w", err)
	}
	total := 0
	for _, id := range ids {
		n, err := s.WithdrawCampaign(ctx, id, ReasonCampaignEnded)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, s.KVSet(ctx, endsSweptKey, now.UTC().Format(time.RFC3339Nano), 0)
}

// CreateCampaignRun creates the run of campaign id for key ("" = its own
// send) unless it exists: created=false answers the existing one (the
// same trigger key never runs twice).
func (s *Store) CreateCampaignRun(ctx context.Context, id int64, key string, vars map[string]string) (*CampaignRun, bool, error) {
	now := s.Now().Truncate(time.Millisecond)
	r := &CampaignRun{CampaignID: id, TriggerKey: key, Status: CampaignRunPending, CreatedAt: now, UpdatedAt: now}
	if len(vars) > 0 {
		b, _ := json.Marshal(vars)
		r.VarsJSON = string(b)
	}
	var res *gorm.DB
	err := retry(ctx, func() error {
		r.ID = 0
		res = s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(r)
		return res.Error
	})
	if err != nil && !isDuplicate(err) {
		return nil, false, fmt.Errorf("campaign run: %w", err)
	}
	if err == nil && res.RowsAffected == 1 {
		r.decode()
		return r, true, nil
	}
	var got CampaignRun
	if err := s.db.WithContext(ctx).Where("campaign_id = ? AND trigger_key = ?", id, key).Take(&got).Error; err != nil {
		return nil, false, fmt.Errorf("campaign run: %w", err)
	}
	got.decode()
	return &got, false, nil
}

// ClaimCampaignRun claims one run that is pending, or running with an
// expired lease (its process died: resumed from its cursor), for holder
// until now+lease; nil when there is none.
func (s *Store) ClaimCampaignRun(ctx context.Context, holder string, lease time.Duration) (*CampaignRun, error) {
	now := s.Now().Truncate(time.Millisecond)
	db := s.db.WithContext(ctx)
	var ids []int64
	if err := db.Model(&CampaignRun{}).Where("status = ? OR (status = ? AND lease_until < ?)", CampaignRunPending, CampaignRunRunning, now).
		Order("id").Limit(10).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("claim campaign run: %w", err)
	}
	token := claimToken(holder)
	until := now.Add(lease)
	for _, id := range ids {
		var res *gorm.DB
		err := retry(ctx, func() error {
			res = db.Model(&CampaignRun{}).Where("id = ? AND (status = ? OR (status = ? AND lease_until < ?))", id, CampaignRunPending, CampaignRunRunning, now).
				Updates(map[string]any{"status": CampaignRunRunning, "claimed_by": token, "lease_until": until,
					"attempts": gorm.Expr("attempts + 1"), "beats": gorm.Expr("beats + 1"), "started_at": now, "updated_at": now})
			return res.Error
		})
		if err != nil {
			return nil, fmt.Errorf("claim campaign run: %w", err)
		}
		if res.RowsAffected == 1 {
			var r CampaignRun
			if err := db.Take(&r, id).Error; err != nil {
				return nil, fmt.Errorf("claim campaign run: %w", err)
			}
			r.decode()
			return &r, nil
		}
	}
	return nil, nil
}

// ProgressCampaignRun records the run's counts and cursor and renews its
// lease; ErrCampaignCancelled when the run was cancelled, ErrRunClaimLost
// when another process took it over.
func (s *Store) ProgressCampaignRun(ctx context.Context, r *CampaignRun, lease time.Duration) error {
	until := s.Now().Truncate(time.Millisecond).Add(lease)
	return s.writeCampaignRun(ctx, r, map[string]any{"lease_until": until})
}

// FinishCampaignRun records the run's end; the campaign's own run done
// makes the campaign done.
func (s *Store) FinishCampaignRun(ctx context.Context, r *CampaignRun, status, errMsg string) error {
	now := s.Now().Truncate(time.Millisecond)
	if err := s.writeCampaignRun(ctx, r, map[string]any{"status": status, "error": errMsg, "finished_at": now, "lease_until": nil}); err != nil {
		return err
	}
	r.Status, r.Error, r.FinishedAt = status, errMsg, &now
	if r.TriggerKey == "" && status == CampaignRunDone {
		if _, _, err := s.transition(ctx, r.CampaignID, []string{CampaignSending}, map[string]any{"status": CampaignDone, "finished_at": now}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writeCampaignRun(ctx context.Context, r *CampaignRun, set map[string]any) error {
	reasons := ""
	if len(r.SkipReasons) > 0 {
		b, _ := json.Marshal(r.SkipReasons)
		reasons = string(b)
	}
	maps.Copy(set, map[string]any{
		"planned": r.Planned, "queued": r.Queued, "skipped": r.Skipped, "failed": r.Failed, "tasks": r.Tasks,
		"duplicates": r.Duplicates, "reasons": reasons, "after_id": r.AfterID,
		"beats": gorm.Expr("beats + 1"), "updated_at": s.Now().Truncate(time.Millisecond),
	})
	var res *gorm.DB
	if err := retry(ctx, func() error {
		res = s.db.WithContext(ctx).Model(&CampaignRun{}).
			Where("id = ? AND claimed_by = ? AND status = ?", r.ID, r.ClaimedBy, CampaignRunRunning).Updates(set)
		return res.Error
	}); err != nil {
		return fmt.Errorf("campaign run %d: %w", r.ID, err)
	}
	if res.RowsAffected == 0 {
		var st string
		if err := s.db.WithContext(ctx).Model(&CampaignRun{}).Where("id = ?", r.ID).Pluck("status", &st).Error; err == nil && st == CampaignRunCancelled {
			return ErrCampaignCancelled
		}
		return ErrRunClaimLost
	}
	return nil
}

// CampaignNames returns the names of the campaigns ids, by id.
func (s *Store) CampaignNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	return namesOf[Campaign](ctx, s.db, "campaign", ids)
}

// CampaignRuns lists all of a campaign's runs, newest first: its results
// add up every run's skip reasons (a triggered campaign's runs are
// small rows, one per trigger; ListCampaignRuns pages them for the API).
func (s *Store) CampaignRuns(ctx context.Context, id int64) ([]*CampaignRun, error) {
	var rs []*CampaignRun
	if err := s.db.WithContext(ctx).Where("campaign_id = ?", id).Order("id DESC").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("campaign runs: %w", err)
	}
	for _, r := range rs {
		r.decode()
	}
	return rs, nil
}

// ListCampaignRuns pages through a campaign's runs (its own send and each
// trigger's), newest first; ENOTFOUND when there is no such campaign.
func (s *Store) ListCampaignRuns(ctx context.Context, id int64, p Page) ([]*CampaignRun, string, error) {
	limit, before, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	if _, err := s.CampaignByID(ctx, id); err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&CampaignRun{}).Where("campaign_id = ?", id)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	rs, next, err := pageOf(q.Order("id DESC"), limit, func(r *CampaignRun) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("campaign runs: %w", err)
	}
	for _, r := range rs {
		r.decode()
	}
	return rs, next, nil
}

// CancelCampaign cancels a campaign in any state but cancelled: its runs
// stop at their next batch and its messages not yet sent are withdrawn
// (skipped, "campaign cancelled"). It returns how many were withdrawn.
func (s *Store) CancelCampaign(ctx context.Context, id int64) (*Campaign, int, error) {
	now := s.Now().Truncate(time.Millisecond)
	c, ok, err := s.transition(ctx, id, []string{CampaignDraft, CampaignScheduled, CampaignSending, CampaignDone},
		map[string]any{"status": CampaignCancelled, "finished_at": now})
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, stateConflict(c, "cancelled")
	}
	if err := retry(ctx, func() error {
		return s.db.WithContext(ctx).Model(&CampaignRun{}).Where("campaign_id = ? AND status IN ?", id, []string{CampaignRunPending, CampaignRunRunning}).
			Updates(map[string]any{"status": CampaignRunCancelled, "finished_at": now, "lease_until": nil, "updated_at": now}).Error
	}); err != nil {
		return nil, 0, fmt.Errorf("cancel campaign: %w", err)
	}
	n, err := s.WithdrawCampaign(ctx, id, ReasonCampaignCancelled)
	return c, n, err
}

// Reasons a campaign's queued messages are withdrawn with.
const (
	ReasonCampaignCancelled = "campaign cancelled"
	ReasonCampaignEnded     = "campaign ended"
)

// WithdrawCampaign marks the campaign's queued messages that no sender
// holds right now as skipped for reason; a message being sent at this
// moment goes.
func (s *Store) WithdrawCampaign(ctx context.Context, id int64, reason string) (int, error) {
	keys, kargs := s.campaignKeys(id)
	now := s.Now().Truncate(time.Millisecond)
	var res *gorm.DB
	if err := retry(ctx, func() error {
		res = s.db.WithContext(ctx).Model(&Message{}).Where(keys, kargs...).
			Where("status = ? AND (lease_until IS NULL OR lease_until < ?)", StatusQueued, now).
			Updates(map[string]any{"status": StatusSkipped, "reason": reason, "next_attempt_at": nil, "updated_at": now})
		return res.Error
	}); err != nil {
		return 0, fmt.Errorf("withdraw campaign: %w", err)
	}
	return int(res.RowsAffected), nil
}

// campaignKeys selects a campaign's messages by their idempotency keys
// ("campaign:ID:..."): a range of the unique index. SQLite compares bytes,
// so the range ends at "campaign:ID;"; MySQL's collations order
// punctuation otherwise (";" before ":"), so there it is a LIKE prefix,
// which the index serves as a range too.
func (s *Store) campaignKeys(id int64) (string, []any) {
	k := CampaignKey(id) + ":"
	if s.dialect == MySQL {
		return "idempotency_key LIKE ?", []any{k + "%"}
	}
	return "idempotency_key >= ? AND idempotency_key < ?", []any{k, CampaignKey(id) + ";"}
}

// CampaignInput creates a campaign: a segment, a saved template
// (TemplateKey) or inline Body (every locale) / Bodies (by locale), an
// optional send time and end.
type CampaignInput struct {
	Name        string            `json:"name"`
	SegmentID   int64             `json:"segment_id"`
	TemplateKey string            `json:"template_key,omitempty"`
	Body        string            `json:"body,omitempty"`
	Bodies      map[string]string `json:"bodies,omitempty"`
	SendAt      *time.Time        `json:"send_at,omitempty"`
	EndAt       *time.Time        `json:"end_at,omitempty"`
	// CapExempt is honoured for admins only (recorded with who).
	CapExempt bool `json:"cap_exempt,omitempty"`
}

// CampaignDryRun is what a campaign would do now, sending nothing.
type CampaignDryRun struct {
	// Members: the segment's count (opted-out excluded); OptedOut: those
	// the filter matches but who opted out.
	Members  int64 `json:"members"`
	OptedOut int64 `json:"opted_out"`
	// WouldSend: messages it would queue; Skipped by reason (unreachable,
	// no chat identity, cap, "wechat 48h window closed: staff task"...).
	WouldSend int            `json:"would_send"`
	Skipped   map[string]int `json:"skipped"`
	Sample    []RunSample    `json:"sample"`
}
