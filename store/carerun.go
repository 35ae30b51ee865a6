package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Care run statuses.
const (
	RunRunning = "running"
	RunDone    = "done"
	RunFailed  = "failed"
)

// CareRun is one run of a care workflow for one date. A real run is claimed
// by inserting its unique ClaimKey (workflow:date), so replicas, cron ticks
// and manual triggers never run the same (workflow, date) twice at once. The
// claimer holds a lease it renews after every batch; a run whose claimer died
// (lease expired) or that failed can be claimed again and resumed.
type CareRun struct {
	ID       int64  `gorm:"primaryKey" json:"id"`
	Workflow string `gorm:"size:32;not null;index:ix_care_runs_wf_date,priority:1" json:"workflow"`
	Date     string `gorm:"size:10;not null;index:ix_care_runs_wf_date,priority:2" json:"date"`
	DryRun   bool   `gorm:"not null;default:false" json:"dry_run"`
	// ClaimKey is workflow:date for real runs; dry runs get a unique one
	// each, so they never block or replace a real run.
	ClaimKey string `gorm:"size:64;not null;uniqueIndex" json:"-"`
	Status   string `gorm:"size:16;not null" json:"status"`
	// Planned: candidates the workflow selected. Queued: outbox rows this
	// run created (cumulative over resumed attempts). Skipped: candidates
	// not messaged, by reason in SkipReasons. Duplicates: messages already
	// queued by an earlier attempt (dropped by their idempotency key).
	// Tasks: staff tasks opened. Failed: candidates that errored.
	Planned    int `gorm:"not null;default:0" json:"planned"`
	Queued     int `gorm:"not null;default:0" json:"queued"`
	Skipped    int `gorm:"not null;default:0" json:"skipped"`
	Failed     int `gorm:"not null;default:0" json:"failed"`
	Tasks      int `gorm:"not null;default:0" json:"tasks"`
	Duplicates int `gorm:"not null;default:0" json:"duplicates"`
	// WouldQueue is what a dry run would have queued.
	WouldQueue  int            `gorm:"not null;default:0" json:"would_queue"`
	ReasonsJSON string         `gorm:"column:reasons;type:text" json:"-"`
	SkipReasons map[string]int `gorm:"-" json:"skip_reasons"`
	// Sample holds a few rendered messages of a dry run (not persisted).
	Sample   []RunSample `gorm:"-" json:"sample,omitempty"`
	Attempts int         `gorm:"not null;default:0" json:"attempts"`
	Error    string      `gorm:"type:text" json:"error,omitempty"`

	ClaimedBy  string     `gorm:"size:64;not null;default:''" json:"-"`
	LeaseUntil *time.Time `json:"-"`
	// Beats grows on every progress write, so the conditional UPDATE always
	// changes the row (MySQL counts only changed rows as affected).
	Beats      int64      `gorm:"not null;default:0" json:"-"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// RunSample is one message a dry run would send.
type RunSample struct {
	CustomerID int64  `json:"customer_id"`
	Channel    string `json:"channel,omitempty"`
	Template   string `json:"template"`
	Locale     string `json:"locale"`
	Text       string `json:"text"`
	NotBefore  string `json:"not_before,omitempty"`
	Action     string `json:"action"` // message | task
}

func (r *CareRun) decode() {
	r.SkipReasons = map[string]int{}
	if r.ReasonsJSON != "" {
		_ = json.Unmarshal([]byte(r.ReasonsJSON), &r.SkipReasons)
	}
}

func (r *CareRun) encode() {
	if len(r.SkipReasons) == 0 {
		r.ReasonsJSON = ""
		return
	}
	b, _ := json.Marshal(r.SkipReasons)
	r.ReasonsJSON = string(b)
}

// ErrRunClaimLost is returned by ProgressCareRun when another process took
// the run over (this claimer's lease had expired).
var ErrRunClaimLost = Errorf(ECONFLICT, "care run claim lost to another process")

// ClaimCareRun claims the run of workflow on date for holder until
// now+lease. It returns the run and claimed=true when the caller must do the
// work: a new run, a failed or abandoned (lease expired) one to resume, or —
// with rerun — a done one to run again (queued and tasks stay cumulative;
// what earlier attempts queued counts as duplicates). Otherwise claimed=false and the
// run is the existing one: done (without rerun), or running elsewhere. A dry
// run always gets a fresh row of its own.
func (s *Store) ClaimCareRun(ctx context.Context, workflow, date string, dryRun, rerun bool, holder string, lease time.Duration) (*CareRun, bool, error) {
	now := s.Now().Truncate(time.Millisecond)
	until := now.Add(lease)
	token := claimToken(holder)
	key := workflow + ":" + date
	if dryRun {
		key = "dry:" + token
	}
	key = CutRunes(key, 64)
	run := &CareRun{
		Workflow: workflow, Date: date, DryRun: dryRun, ClaimKey: key, Status: RunRunning,
		Attempts: 1, ClaimedBy: token, LeaseUntil: &until, StartedAt: now, UpdatedAt: now,
	}
	db := s.db.WithContext(ctx)
	// Each statement is retried alone (no transaction): on a Galera
	// cluster two nodes' claims conflict at certification, and the loser's
	// retry finds the winner's row.
	var res *gorm.DB
	err := retry(ctx, func() error {
		run.ID = 0
		res = db.Clauses(clause.OnConflict{DoNothing: true}).Create(run)
		return res.Error
	})
	if err != nil && !isDuplicate(err) {
		return nil, false, fmt.Errorf("claim care run: %w", err)
	}
	if err == nil && res.RowsAffected == 1 {
		run.decode()
		return run, true, nil
	}
	// It exists: take it over if it failed or its claimer's lease expired,
	// or, asked to rerun, if it is done.
	again := []string{RunFailed}
	if rerun {
		again = append(again, RunDone)
	}
	var up *gorm.DB
	err = retry(ctx, func() error {
		up = db.Model(&CareRun{}).
			Where("claim_key = ? AND (status IN ? OR (status = ? AND lease_until < ?))", key, again, RunRunning, now).
			Updates(map[string]any{
				"status": RunRunning, "claimed_by": token, "lease_until": until, "attempts": gorm.Expr("attempts + 1"),
				"beats": gorm.Expr("beats + 1"), "error": "", "finished_at": nil, "started_at": now, "updated_at": now,
			})
		return up.Error
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim care run: %w", err)
	}
	var got CareRun
	if err := db.Where("claim_key = ?", key).Take(&got).Error; err != nil {
		return nil, false, fmt.Errorf("claim care run: %w", err)
	}
	got.decode()
	return &got, up.RowsAffected == 1 && got.ClaimedBy == token, nil
}

// ProgressCareRun writes the run's counters and renews its lease until
// now+lease.
func (s *Store) ProgressCareRun(ctx context.Context, run *CareRun, lease time.Duration) error {
	until := s.Now().Truncate(time.Millisecond).Add(lease)
	if err := s.writeRun(ctx, "care run progress", run, map[string]any{"lease_until": until}); err != nil {
		return err
	}
	run.LeaseUntil = &until
	return nil
}

// FinishCareRun records the run's end: done, or failed with errMsg.
func (s *Store) FinishCareRun(ctx context.Context, run *CareRun, status, errMsg string) error {
	now := s.Now().Truncate(time.Millisecond)
	set := map[string]any{"status": status, "error": errMsg, "lease_until": nil, "finished_at": now}
	if err := s.writeRun(ctx, "finish care run", run, set); err != nil {
		return err
	}
	run.Status, run.Error, run.FinishedAt, run.LeaseUntil = status, errMsg, &now, nil
	return nil
}

// writeRun writes the run's counters and set to the run, if this claimer
// still holds it; otherwise (another process took it over after this
// one's lease expired) it fails with ErrRunClaimLost, so a stalled
// process stops instead of racing its successor.
func (s *Store) writeRun(ctx context.Context, what string, run *CareRun, set map[string]any) error {
	run.encode()
	maps.Copy(set, map[string]any{
		"planned": run.Planned, "queued": run.Queued, "skipped": run.Skipped, "failed": run.Failed, "tasks": run.Tasks,
		"duplicates": run.Duplicates, "would_queue": run.WouldQueue, "reasons": run.ReasonsJSON,
		"beats": gorm.Expr("beats + 1"), "updated_at": s.Now().Truncate(time.Millisecond),
	})
	// Outside any transaction: retried on deadlocks and lock waits (and
	// TiDB's and Galera's retryable errors) as a whole.
	var res *gorm.DB
	if err := retry(ctx, func() error {
		res = s.db.WithContext(ctx).Model(&CareRun{}).
			Where("id = ? AND claimed_by = ? AND status = ?", run.ID, run.ClaimedBy, RunRunning).Updates(set)
		return res.Error
	}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if res.RowsAffected == 0 {
		return ErrRunClaimLost
	}
	return nil
}

// CareRunByID loads one run.
func (s *Store) CareRunByID(ctx context.Context, id int64) (*CareRun, error) {
	r, err := byID[CareRun](ctx, s, "care run", id)
	if err == nil {
		r.decode()
	}
	return r, err
}

// CareRunFilter narrows ListCareRuns.
type CareRunFilter struct {
	Workflow string
	Date     string
	Page
}

// ListCareRuns returns runs, newest first.
func (s *Store) ListCareRuns(ctx context.Context, f CareRunFilter) ([]*CareRun, string, error) {
	limit, before, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&CareRun{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if f.Workflow != "" {
		q = q.Where("workflow = ?", f.Workflow)
	}
	if f.Date != "" {
		q = q.Where("date = ?", f.Date)
	}
	rs, next, err := pageOf(q.Order("id DESC"), limit, func(r *CareRun) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list care runs: %w", err)
	}
	for _, r := range rs {
		r.decode()
	}
	return rs, next, nil
}
