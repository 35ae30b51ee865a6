package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Import job statuses: queued until its process gets to it, checking
// (the importer's first pass), writing (its second), then done or failed.
const (
	ImportQueued   = "queued"
	ImportChecking = "checking"
	ImportWriting  = "writing"
	ImportDone     = "done"
	ImportFailed   = "failed"
)

// Import kinds.
const (
	ImportCustomers = "customers"
	ImportOrders    = "orders"
	ImportPoints    = "points" // opening balances
)

// MaxImportBadRowsKept bounds the bad rows an import job keeps (the first
// ones by line); BadRows still counts them all.
const MaxImportBadRowsKept = 10000

// activeImport are the statuses of a job still under way.
var activeImport = []string{ImportQueued, ImportChecking, ImportWriting}

// ImportJob is a CSV import started from the console (or the API) and run
// in the background by the process that received the file. Its row is
// the progress everyone sees; the process writes it as it goes and beats
// HeartbeatAt, so that a job whose process died is found and failed.
type ImportJob struct {
	ID          int64  `gorm:"primaryKey" json:"id"`
	Kind        string `gorm:"size:16;not null" json:"kind"`
	Status      string `gorm:"size:16;not null;index" json:"status"`
	SkipBadRows bool   `gorm:"not null;default:false" json:"skip_bad_rows"`
	FileName    string `gorm:"size:255;not null;default:''" json:"file_name"`
	FileBytes   int64  `gorm:"not null;default:0" json:"file_bytes"`
	// RowsTotal is the file's line count (less the header) until the
	// checking pass has read it, then its exact row count.
	RowsTotal int `gorm:"not null;default:0" json:"rows_total"`
	// RowsDone counts the rows the current pass has read.
	RowsDone int `gorm:"not null;default:0" json:"rows_done"`
	// BadRows counts rejected rows; BadRowsKept how many of them (the
	// first by line, at most MaxImportBadRowsKept) GET bad-rows.csv gives.
	BadRows     int    `gorm:"not null;default:0" json:"bad_rows"`
	BadRowsKept int    `gorm:"not null;default:0" json:"bad_rows_kept"`
	Created     int    `gorm:"not null;default:0" json:"created"`
	Updated     int    `gorm:"not null;default:0" json:"updated"`
	Duplicates  int    `gorm:"not null;default:0" json:"duplicates"`
	Written     int    `gorm:"not null;default:0" json:"written"`
	Error       string `gorm:"type:text" json:"error,omitempty"`
	CreatedBy   *int64 `json:"created_by"`
	// Spool is the process's temporary copy of the file, removed when the
	// job ends.
	Spool       string     `gorm:"size:255;not null;default:''" json:"-"`
	HeartbeatAt time.Time  `gorm:"not null;index" json:"-"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// ImportBadRow is one kept rejected row of an import job.
type ImportBadRow struct {
	ID     int64  `gorm:"primaryKey" json:"-"`
	JobID  int64  `gorm:"not null;uniqueIndex:ux_import_bad_rows_job_line,priority:1" json:"-"`
	Line   int    `gorm:"not null;uniqueIndex:ux_import_bad_rows_job_line,priority:2" json:"line"`
	Reason string `gorm:"type:text" json:"reason"`
}

// ImportJobInput starts an import job.
type ImportJobInput struct {
	Kind        string
	SkipBadRows bool
	FileName    string
	FileBytes   int64
	// RowsTotal is the first estimate (lines less the header).
	RowsTotal int
	Spool     string
	CreatedBy *int64
}

// ValidImportKind reports whether k is customers, orders or points.
func ValidImportKind(k string) bool {
	return k == ImportCustomers || k == ImportOrders || k == ImportPoints
}

// CreateImportJob records a queued job.
func (s *Store) CreateImportJob(ctx context.Context, in ImportJobInput) (*ImportJob, error) {
	if !ValidImportKind(in.Kind) {
		return nil, Invalid("kind", "%q is not customers, orders or points", in.Kind)
	}
	now := s.Now().Truncate(time.Millisecond)
	j := &ImportJob{Kind: in.Kind, Status: ImportQueued, SkipBadRows: in.SkipBadRows, FileName: CutRunes(strings.TrimSpace(in.FileName), 255),
		FileBytes: in.FileBytes, RowsTotal: in.RowsTotal, Spool: in.Spool, CreatedBy: in.CreatedBy,
		HeartbeatAt: now, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(j).Error; err != nil {
		return nil, fmt.Errorf("create import job: %w", err)
	}
	return j, nil
}

// ImportJobByID loads one job.
func (s *Store) ImportJobByID(ctx context.Context, id int64) (*ImportJob, error) {
	var j ImportJob
	if err := s.db.WithContext(ctx).Take(&j, id).Error; err != nil {
		return nil, fmt.Errorf("import job: %w", notFound(err, "import job %d", id))
	}
	return &j, nil
}

// ListImportJobs returns jobs, newest first.
func (s *Store) ListImportJobs(ctx context.Context, p Page) ([]*ImportJob, string, error) {
	limit, before, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&ImportJob{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	js, next, err := pageOf(q.Order("id DESC"), limit, func(j *ImportJob) int64 { return j.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list import jobs: %w", err)
	}
	return js, next, nil
}

// ImportProgress is how far a job has got.
type ImportProgress struct {
	Status    string
	RowsTotal int
	RowsDone  int
	BadRows   int
}

// ProgressImportJob writes a running job's progress and beats its heart.
// A job that ended meanwhile (failed by a sweep that found it silent) is
// left alone: only FinishImportJob writes an ended job.
func (s *Store) ProgressImportJob(ctx context.Context, id int64, p ImportProgress) error {
	if !slices.Contains(activeImport, p.Status) {
		return Invalid("status", "%q is not queued, checking or writing", p.Status)
	}
	now := s.Now().Truncate(time.Millisecond)
	set := map[string]any{"status": p.Status, "rows_total": p.RowsTotal, "rows_done": p.RowsDone, "bad_rows": p.BadRows,
		"heartbeat_at": now, "updated_at": now}
	if p.Status != ImportQueued {
		set["started_at"] = gorm.Expr("COALESCE(started_at, ?)", now)
	}
	err := s.db.WithContext(ctx).Model(&ImportJob{}).Where("id = ? AND status IN ?", id, activeImport).Updates(set).Error
	if err != nil {
		return fmt.Errorf("import job progress: %w", err)
	}
	return nil
}

// BeatImportJobs tells that this process still holds the jobs (queued or
// running) without changing their progress.
func (s *Store) BeatImportJobs(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.Now().Truncate(time.Millisecond)
	err := s.db.WithContext(ctx).Model(&ImportJob{}).Where("id IN ? AND status IN ?", ids, activeImport).
		Updates(map[string]any{"heartbeat_at": now}).Error
	if err != nil {
		return fmt.Errorf("import job heartbeat: %w", err)
	}
	return nil
}

// ImportOutcome is how a job ended.
type ImportOutcome struct {
	Status                                string // done or failed
	Error                                 string
	RowsTotal, BadRows                    int
	Created, Updated, Duplicates, Written int
	// Bad are the rejected rows by line; the first MaxImportBadRowsKept
	// are kept.
	Bad []ImportBadRow
}

// FinishImportJob records a job's end and keeps its first bad rows, in one
// transaction. It writes the job whatever its status: the process that
// ran it knows best (a sweep may have failed it while a long write held
// the database).
func (s *Store) FinishImportJob(ctx context.Context, id int64, o ImportOutcome) (*ImportJob, error) {
	if o.Status != ImportDone && o.Status != ImportFailed {
		return nil, Invalid("status", "%q is not done or failed", o.Status)
	}
	bad := o.Bad
	if len(bad) > MaxImportBadRowsKept {
		bad = bad[:MaxImportBadRowsKept]
	}
	now := s.Now().Truncate(time.Millisecond)
	var j ImportJob
	err := s.tx(ctx, func(tx *gorm.DB) error {
		j = ImportJob{}
		if err := tx.Take(&j, id).Error; err != nil {
			return notFound(err, "import job %d", id)
		}
		// Again after a retried transaction, or a job finished twice.
		if err := tx.Where("job_id = ?", id).Delete(&ImportBadRow{}).Error; err != nil {
			return err
		}
		rows := make([]ImportBadRow, 0, len(bad))
		for _, b := range bad {
			if n := len(rows); n > 0 && rows[n-1].Line == b.Line {
				continue // one reason a line
			}
			rows = append(rows, ImportBadRow{JobID: id, Line: b.Line, Reason: CutRunes(b.Reason, 1000)})
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 500).Error; err != nil {
				return err
			}
		}
		set := map[string]any{
			"status": o.Status, "error": CutRunes(o.Error, 2000), "rows_total": o.RowsTotal, "bad_rows": o.BadRows,
			"bad_rows_kept": len(rows), "created": o.Created, "updated": o.Updated, "duplicates": o.Duplicates,
			"written": o.Written, "spool": "", "finished_at": now, "heartbeat_at": now, "updated_at": now,
		}
		if o.Status == ImportDone {
			set["rows_done"] = o.RowsTotal
		}
		if err := tx.Model(&ImportJob{}).Where("id = ?", id).Updates(set).Error; err != nil {
			return err
		}
		return tx.Take(&j, id).Error
	})
	if err != nil {
		return nil, fmt.Errorf("finish import job: %w", err)
	}
	return &j, nil
}

// FailSilentImportJobs fails the jobs under way whose process has not
// beaten their heart since before (it died, or was stopped before it
// could say so), but those in mine, which the caller runs. It returns the
// failed jobs (their spool files are the caller's to remove).
func (s *Store) FailSilentImportJobs(ctx context.Context, before time.Time, mine []int64) ([]*ImportJob, error) {
	db := s.db.WithContext(ctx)
	q := db.Where("status IN ? AND heartbeat_at < ?", activeImport, before.UTC())
	if len(mine) > 0 {
		q = q.Where("id NOT IN ?", mine)
	}
	var silent []*ImportJob
	if err := q.Order("id").Limit(100).Find(&silent).Error; err != nil {
		return nil, fmt.Errorf("silent import jobs: %w", err)
	}
	now := s.Now().Truncate(time.Millisecond)
	var failed []*ImportJob
	for _, j := range silent {
		// Conditional: a job that beat or ended meanwhile stays as it is.
		res := db.Model(&ImportJob{}).Where("id = ? AND status IN ? AND heartbeat_at < ?", j.ID, activeImport, before.UTC()).
			Updates(map[string]any{"status": ImportFailed, "spool": "", "finished_at": now, "updated_at": now,
				"error": "interrupted: the server that ran this import stopped before it ended. An import writes all " +
					"its rows in one transaction, so nothing of this file was written; upload it again."})
		if res.Error != nil {
			return failed, fmt.Errorf("fail import job %d: %w", j.ID, res.Error)
		}
		if res.RowsAffected == 1 {
			failed = append(failed, j)
		}
	}
	return failed, nil
}

// ActiveImportSpools lists the spool files of jobs under way, so that a
// process cleaning its spool directory leaves them (another process on
// the same host may run them).
func (s *Store) ActiveImportSpools(ctx context.Context) ([]string, error) {
	var spools []string
	err := s.db.WithContext(ctx).Model(&ImportJob{}).Where("status IN ? AND spool <> ''", activeImport).Pluck("spool", &spools).Error
	if err != nil {
		return nil, fmt.Errorf("import spools: %w", err)
	}
	return spools, nil
}

// ImportBadRows returns up to limit of a job's kept bad rows after line
// (0: from the start), by line.
func (s *Store) ImportBadRows(ctx context.Context, jobID int64, after, limit int) ([]ImportBadRow, error) {
	if limit <= 0 || limit > 5000 {
		limit = 5000
	}
	var rows []ImportBadRow
	err := s.db.WithContext(ctx).Where("job_id = ? AND line > ?", jobID, after).Order("line").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("import bad rows: %w", err)
	}
	return rows, nil
}
