package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AnalyticsRun is one recompute of every customer's figures: the nightly
// one for a date (RunKey "nightly:YYYY-MM-DD") or one asked for now
// ("manual:..."). At most one runs at a time across all processes: a
// running run holds ActiveSlot, which is unique. Its claimer renews a
// lease after every batch; a run whose claimer died (lease expired) is
// taken over by the next claim and resumed from Cursor with the
// Thresholds and AsOf it started with, so it ends as it would have.
type AnalyticsRun struct {
	ID         int64   `gorm:"primaryKey" json:"id"`
	RunKey     string  `gorm:"size:64;not null;uniqueIndex" json:"key"`
	Status     string  `gorm:"size:16;not null" json:"status"` // running, done, failed
	ActiveSlot *string `gorm:"size:16;uniqueIndex" json:"-"`
	// AsOf is the time the run judges everyone at (stages, risk, windows).
	AsOf time.Time `gorm:"not null" json:"as_of"`
	// Thresholds are the population's cut points (tier, RFM), JSON written
	// once pass 1 has them; the incremental updates use the last done
	// run's.
	Thresholds string `gorm:"type:text" json:"-"`
	// Cursor: every customer with id <= Cursor is done.
	Cursor       int64      `gorm:"not null;default:0" json:"-"`
	Customers    int        `gorm:"not null;default:0" json:"customers"`
	Written      int        `gorm:"not null;default:0" json:"written"`
	StageChanges int        `gorm:"not null;default:0" json:"stage_changes"`
	TierChanges  int        `gorm:"not null;default:0" json:"tier_changes"`
	Attempts     int        `gorm:"not null;default:0" json:"attempts"`
	Error        string     `gorm:"type:text" json:"error,omitempty"`
	ClaimedBy    string     `gorm:"size:64;not null;default:''" json:"-"`
	LeaseUntil   *time.Time `json:"-"`
	Beats        int64      `gorm:"not null;default:0" json:"-"`
	StartedAt    time.Time  `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

const analyticsSlot = "analytics"

// ErrAnalyticsRunLost is returned by ProgressAnalyticsRun when another
// process took the run over (this claimer's lease had expired).
var ErrAnalyticsRunLost = Errorf(ECONFLICT, "analytics run claim lost to another process")

// ClaimAnalyticsRun claims the run key (judging everyone at asOf) for
// holder until now+lease. claimed=true means the caller must do the run
// returned: the one asked for, new or failed before; or, when another
// run's claimer died, that run, to resume (its key differs from key: do
// it, then claim again). claimed=false returns the run that stops this
// one: key already done, or a run going on elsewhere.
func (s *Store) ClaimAnalyticsRun(ctx context.Context, key string, asOf time.Time, holder string, lease time.Duration) (*AnalyticsRun, bool, error) {
	now := s.Now().Truncate(time.Millisecond)
	until := now.Add(lease)
	token := claimToken(holder)
	slot := analyticsSlot
	db := s.db.WithContext(ctx)
	run := &AnalyticsRun{RunKey: CutRunes(key, 64), Status: RunRunning, ActiveSlot: &slot, AsOf: asOf.UTC().Truncate(time.Millisecond),
		Attempts: 1, ClaimedBy: token, LeaseUntil: &until, StartedAt: now, UpdatedAt: now}
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(run)
	if res.Error != nil && !isDuplicate(res.Error) {
		return nil, false, fmt.Errorf("claim analytics run: %w", res.Error)
	}
	if res.Error == nil && res.RowsAffected == 1 {
		return run, true, nil
	}
	var mine AnalyticsRun
	err := db.Where("run_key = ?", run.RunKey).Take(&mine).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, false, fmt.Errorf("claim analytics run: %w", err)
	}
	if err == nil && mine.Status == RunDone {
		return &mine, false, nil
	}
	take := map[string]any{"status": RunRunning, "active_slot": slot, "claimed_by": token, "lease_until": until,
		"attempts": gorm.Expr("attempts + 1"), "beats": gorm.Expr("beats + 1"), "error": "", "updated_at": now}
	var active AnalyticsRun
	err = db.Where("active_slot = ?", slot).Take(&active).Error
	switch {
	case err == nil && active.LeaseUntil != nil && !active.LeaseUntil.Before(now):
		return &active, false, nil // going on elsewhere
	case err == nil:
		// Its claimer died: take it over, to resume it.
		up := db.Model(&AnalyticsRun{}).Where("id = ? AND active_slot = ? AND lease_until < ?", active.ID, slot, now).Updates(take)
		if up.Error != nil {
			return nil, false, fmt.Errorf("claim analytics run: %w", up.Error)
		}
		got, gerr := s.analyticsRun(ctx, active.ID)
		return got, gerr == nil && up.RowsAffected == 1 && got.ClaimedBy == token, gerr
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, false, fmt.Errorf("claim analytics run: %w", err)
	}
	if mine.ID == 0 {
		// The running run finished between the insert and the read: try
		// once more.
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(run)
		if res.Error == nil && res.RowsAffected == 1 {
			return run, true, nil
		}
		return nil, false, Errorf(ECONFLICT, "another analytics run started meanwhile; try again")
	}
	// Failed before: resume it.
	up := db.Model(&AnalyticsRun{}).Where("id = ? AND status = ?", mine.ID, RunFailed).Updates(take)
	if up.Error != nil && !isDuplicate(up.Error) {
		return nil, false, fmt.Errorf("claim analytics run: %w", up.Error)
	}
	got, err := s.analyticsRun(ctx, mine.ID)
	return got, err == nil && up.Error == nil && up.RowsAffected == 1 && got.ClaimedBy == token, err
}

func (s *Store) analyticsRun(ctx context.Context, id int64) (*AnalyticsRun, error) {
	var r AnalyticsRun
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return nil, fmt.Errorf("analytics run: %w", notFound(err, "analytics run %d", id))
	}
	return &r, nil
}

// AbandonedAnalyticsRun returns the run whose claimer died (running, lease
// expired), or nil.
func (s *Store) AbandonedAnalyticsRun(ctx context.Context) (*AnalyticsRun, error) {
	var r AnalyticsRun
	err := s.db.WithContext(ctx).Where("active_slot = ? AND lease_until < ?", analyticsSlot, s.Now()).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("abandoned analytics run: %w", err)
	}
	return &r, nil
}

// ProgressAnalyticsRun writes the run's thresholds, cursor and counters
// and renews its lease until now+lease. It fails with ErrAnalyticsRunLost
// when the run is no longer this claimer's.
func (s *Store) ProgressAnalyticsRun(ctx context.Context, run *AnalyticsRun, lease time.Duration) error {
	now := s.Now().Truncate(time.Millisecond)
	until := now.Add(lease)
	res := s.db.WithContext(ctx).Model(&AnalyticsRun{}).
		Where("id = ? AND claimed_by = ? AND status = ?", run.ID, run.ClaimedBy, RunRunning).
		Updates(map[string]any{
			"thresholds": run.Thresholds, "cursor": run.Cursor, "customers": run.Customers, "written": run.Written,
			"stage_changes": run.StageChanges, "tier_changes": run.TierChanges,
			"lease_until": until, "beats": gorm.Expr("beats + 1"), "updated_at": now,
		})
	if res.Error != nil {
		return fmt.Errorf("analytics run progress: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrAnalyticsRunLost
	}
	run.LeaseUntil = &until
	return nil
}

// FinishAnalyticsRun records the run's end (done, or failed with errMsg)
// and frees the slot.
func (s *Store) FinishAnalyticsRun(ctx context.Context, run *AnalyticsRun, status, errMsg string) error {
	now := s.Now().Truncate(time.Millisecond)
	res := s.db.WithContext(ctx).Model(&AnalyticsRun{}).
		Where("id = ? AND claimed_by = ? AND status = ?", run.ID, run.ClaimedBy, RunRunning).
		Updates(map[string]any{
			"status": status, "error": errMsg, "active_slot": nil, "thresholds": run.Thresholds, "cursor": run.Cursor,
			"customers": run.Customers, "written": run.Written, "stage_changes": run.StageChanges, "tier_changes": run.TierChanges,
			"lease_until": nil, "finished_at": now, "beats": gorm.Expr("beats + 1"), "updated_at": now,
		})
	if res.Error != nil {
		return fmt.Errorf("finish analytics run: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrAnalyticsRunLost
	}
	run.Status, run.Error, run.FinishedAt, run.LeaseUntil, run.ActiveSlot = status, errMsg, &now, nil, nil
	return nil
}

// LastAnalyticsRun is the latest done run (nil before the first).
func (s *Store) LastAnalyticsRun(ctx context.Context) (*AnalyticsRun, error) {
	var r AnalyticsRun
	err := s.db.WithContext(ctx).Where("status = ?", RunDone).Order("finished_at DESC, id DESC").Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("last analytics run: %w", err)
	}
	return &r, nil
}

// AnalyticsRunByKey loads a run by its key (nil if there is none).
func (s *Store) AnalyticsRunByKey(ctx context.Context, key string) (*AnalyticsRun, error) {
	var r AnalyticsRun
	err := s.db.WithContext(ctx).Where("run_key = ?", key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("analytics run: %w", err)
	}
	return &r, nil
}

// customerIntelligence adds what analytics keeps: the figures, the stage
// and tier history, the touches, the runs; customers' place (city,
// region) and pins; and the event columns filled from what is stored
// (each customer's latest survey score and staff contact).
func customerIntelligence(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&Customer{}, &CustomerStats{}, &CustomerChange{}, &customerTouch{}, &AnalyticsRun{}); err != nil {
		return err
	}
	// The latest answer's score; ignore: a second answer at the same time.
	ignore := "INSERT IGNORE"
	if tx.Dialector.Name() == "sqlite" {
		ignore = "INSERT OR IGNORE"
	}
	err := tx.Exec(ignore+` INTO customer_stats (customer_id, figures_at, last_score, last_score_at)
		SELECT s.customer_id, ?, s.score, s.answered_at FROM surveys s
		WHERE s.score IS NOT NULL AND s.answered_at = (SELECT MAX(s2.answered_at) FROM surveys s2 WHERE s2.customer_id = s.customer_id AND s2.score IS NOT NULL)`,
		unset()).Error
	if err != nil {
		return err
	}
	var rows []struct {
		CustomerID int64
		Last       anyTime
	}
	q := tx.Raw(`SELECT customer_id, MAX(created_at) AS last FROM messages
		WHERE customer_id IS NOT NULL AND staff_id IS NULL AND direction = ? AND workflow = '' AND template_key = '' AND status <> ?
		GROUP BY customer_id`, DirectionOut, StatusSkipped)
	raw, err := q.Rows()
	if err != nil {
		return err
	}
	for raw.Next() {
		var r struct {
			CustomerID int64
			Last       anyTime
		}
		if err := raw.Scan(&r.CustomerID, &r.Last); err != nil {
			raw.Close()
			return err
		}
		rows = append(rows, r)
	}
	raw.Close()
	if err := raw.Err(); err != nil {
		return err
	}
	for _, r := range rows {
		if err := noteStats(tx, r.CustomerID, map[string]any{"last_staff_contact_at": r.Last.t}); err != nil {
			return err
		}
	}
	return nil
}
