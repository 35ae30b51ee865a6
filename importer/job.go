package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Jobs runs imports in the background for the console: Submit copies an
// upload to a spool file and records a queued job (store.ImportJob); Run
// works through this process's jobs one at a time and keeps their rows
// current, so that anyone may watch one, leave, and come back.
//
// A job lives in the process that received its file. If that process
// dies, the job's transaction is rolled back with it, so nothing of the
// file is written; any process's Run then fails the job once it has been
// silent for JobOptions.Silence (a restarted process does so within that
// time of starting) and removes its spool file. Failing rather than
// resuming: the spool may be gone with the process (a container), and the
// person who uploaded it is told plainly to upload it again, which is safe
// (imports are idempotent).
type Jobs struct {
	store *store.Store
	opt   JobOptions
	queue chan *job

	mu       sync.Mutex
	jobs     map[int64]*job // this process's jobs, queued or running
	arriving int            // uploads being spooled
}

// JobOptions configure Jobs; zero fields take the defaults.
type JobOptions struct {
	// Dir holds the spool files (default $TMPDIR/rapport-imports).
	Dir string
	// Location reads orders' local times (default UTC).
	Location *time.Location
	Logger   *slog.Logger
	// MaxJobs bounds the jobs a process holds at once, running and
	// waiting (default 4): each holds a spool file of up to the upload
	// limit.
	MaxJobs int
	// MaxRows bounds a file's lines (default 1,000,000): the importer
	// keeps a few dozen bytes per row in memory.
	MaxRows int
	// Beat is how often a running job's progress is written (default 1s).
	Beat time.Duration
	// Silence is how long a job under way may go without a heartbeat
	// before any process fails it (default 30s).
	Silence time.Duration
}

// Defaults.
const (
	defaultMaxJobs = 4
	defaultMaxRows = 1_000_000
	// spoolGrace spares spool files being written by an upload that has
	// not recorded its job yet (in this or another process on the host).
	spoolGrace = time.Minute
	spoolGlob  = "import-*.csv"
)

// job is one of this process's jobs.
type job struct {
	id      int64
	kind    string
	skipBad bool
	spool   string
	// estimate is the rows the file's lines promise, until the checking
	// pass has counted them.
	estimate int

	mu       sync.Mutex
	status   string
	progress Progress
	written  Progress // what the row says, to write only changes
}

// row is the job's progress as its row says it.
func (jb *job) row(status string, p Progress) store.ImportProgress {
	total := p.Total
	if total == 0 {
		total = max(jb.estimate, p.Rows)
	}
	return store.ImportProgress{Status: status, RowsTotal: total, RowsDone: p.Rows, BadRows: p.Bad}
}

// NewJobs makes the runner; call Run to start it.
func NewJobs(s *store.Store, opt JobOptions) *Jobs {
	if opt.Dir == "" {
		opt.Dir = filepath.Join(os.TempDir(), "rapport-imports")
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxJobs <= 0 {
		opt.MaxJobs = defaultMaxJobs
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = defaultMaxRows
	}
	if opt.Beat <= 0 {
		opt.Beat = time.Second
	}
	if opt.Silence <= 0 {
		opt.Silence = 30 * time.Second
	}
	return &Jobs{store: s, opt: opt, queue: make(chan *job, opt.MaxJobs), jobs: map[int64]*job{}}
}

// Submit spools body and queues a job for it. The caller bounds body's
// size (the web handler does). A process holding MaxJobs jobs answers
// EUNAVAILABLE; a file over MaxRows lines, or empty, EINVALID naming file.
func (j *Jobs) Submit(ctx context.Context, in store.ImportJobInput, body io.Reader) (*store.ImportJob, error) {
	if !store.ValidImportKind(in.Kind) {
		return nil, store.Invalid("kind", "%q is not customers, orders or points", in.Kind)
	}
	j.mu.Lock()
	if len(j.jobs)+j.arriving >= j.opt.MaxJobs {
		j.mu.Unlock()
		return nil, store.Errorf(store.EUNAVAILABLE, "%d imports are running or waiting on this server; try again when one has finished", j.opt.MaxJobs)
	}
	j.arriving++
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.arriving--
		j.mu.Unlock()
	}()

	path, size, rows, err := j.spool(body)
	if err != nil {
		return nil, err
	}
	in.Spool, in.FileBytes, in.RowsTotal = path, size, rows
	row, err := j.store.CreateImportJob(ctx, in)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	jb := &job{id: row.ID, kind: row.Kind, skipBad: row.SkipBadRows, spool: path, estimate: rows, status: store.ImportQueued}
	j.mu.Lock()
	j.jobs[row.ID] = jb
	j.mu.Unlock()
	j.queue <- jb // never blocks: at most MaxJobs jobs, and room for as many
	return row, nil
}

// spool copies body to a new file in Dir, counting its bytes and lines;
// rows is the line count less the header. The file is removed on error.
func (j *Jobs) spool(body io.Reader) (path string, size int64, rows int, err error) {
	if err := os.MkdirAll(j.opt.Dir, 0o700); err != nil {
		return "", 0, 0, fmt.Errorf("import spool: %w", err)
	}
	f, err := os.CreateTemp(j.opt.Dir, spoolGlob)
	if err != nil {
		return "", 0, 0, fmt.Errorf("import spool: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("import spool: %w", cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	buf := make([]byte, 64<<10)
	lines, last := 0, byte('\n')
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			lines += bytes.Count(buf[:n], []byte{'\n'})
			last = buf[n-1]
			size += int64(n)
			if lines > j.opt.MaxRows {
				return "", 0, 0, store.Invalid("file", "more than %d rows: split it, or import it with `rapport import`", j.opt.MaxRows)
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return "", 0, 0, fmt.Errorf("import spool: %w", werr)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		} else if rerr != nil {
			return "", 0, 0, rerr // the request's (too large, cut off): the caller's to answer
		}
	}
	if size == 0 {
		return "", 0, 0, store.Invalid("file", "empty: expected a CSV file with a header row")
	}
	if last != '\n' {
		lines++
	}
	return f.Name(), size, max(lines-1, 0), nil
}

// Run works through the jobs until ctx ends: one at a time, while another
// goroutine writes their progress and heartbeats and fails other
// processes' silent jobs. At the start it cleans up what a process that
// died left behind. Jobs still waiting when ctx ends are failed.
func (j *Jobs) Run(ctx context.Context) error {
	if err := os.MkdirAll(j.opt.Dir, 0o700); err != nil {
		return fmt.Errorf("import spool: %w", err)
	}
	j.sweep(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		j.beat(ctx)
	}()
	defer wg.Wait()
	defer os.Remove(j.opt.Dir) // when empty: nothing is left behind
	for {
		select {
		case <-ctx.Done():
			j.abandon()
			return nil
		case jb := <-j.queue:
			j.run(ctx, jb)
		}
	}
}

// beat writes the running job's progress every Beat, and every few beats
// tells the database that this process still holds its jobs and fails
// other processes' silent ones.
func (j *Jobs) beat(ctx context.Context) {
	t := time.NewTicker(j.opt.Beat)
	defer t.Stop()
	every := max(int(j.opt.Silence/j.opt.Beat/6), 1)
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, jb := range j.running() {
			jb.mu.Lock()
			p, changed := jb.progress, jb.progress != jb.written
			status := jb.status
			jb.mu.Unlock()
			if !changed && n%every != 0 {
				continue
			}
			err := j.store.ProgressImportJob(ctx, jb.id, jb.row(status, p))
			if err != nil {
				// SQLite: the import's own transaction holds the database;
				// Freshen shows this process's progress meanwhile.
				j.opt.Logger.Debug("import job progress not written", "job", jb.id, "err", err)
				continue
			}
			jb.mu.Lock()
			jb.written = p
			jb.mu.Unlock()
		}
		if n%every == 0 {
			if err := j.store.BeatImportJobs(ctx, j.held()); err != nil {
				j.opt.Logger.Debug("import job heartbeat not written", "err", err)
			}
			j.sweep(ctx)
		}
	}
}

// running is this process's job being worked on, if any.
func (j *Jobs) running() []*job {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*job
	for _, jb := range j.jobs {
		jb.mu.Lock()
		if jb.status != store.ImportQueued {
			out = append(out, jb)
		}
		jb.mu.Unlock()
	}
	return out
}

// held lists the ids of this process's jobs.
func (j *Jobs) held() []int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	ids := make([]int64, 0, len(j.jobs))
	for id := range j.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// sweep fails the silent jobs of processes that died and removes spool
// files no job under way uses.
func (j *Jobs) sweep(ctx context.Context) {
	failed, err := j.store.FailSilentImportJobs(ctx, j.store.Now().Add(-j.opt.Silence), j.held())
	if err != nil {
		j.opt.Logger.Warn("import jobs: sweep", "err", err)
	}
	for _, f := range failed {
		j.opt.Logger.Warn("import job failed: its server stopped", "job", f.ID)
	}
	files, _ := filepath.Glob(filepath.Join(j.opt.Dir, spoolGlob))
	if len(files) == 0 {
		return
	}
	active, err := j.store.ActiveImportSpools(ctx)
	if err != nil {
		return
	}
	for _, f := range files {
		if slices.Contains(active, f) {
			continue
		}
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > spoolGrace {
			os.Remove(f)
		}
	}
}

// run imports one job's file and records how it ended.
func (j *Jobs) run(ctx context.Context, jb *job) {
	defer func() {
		os.Remove(jb.spool)
		j.mu.Lock()
		delete(j.jobs, jb.id)
		j.mu.Unlock()
	}()
	jb.mu.Lock()
	jb.status = store.ImportChecking
	jb.mu.Unlock()
	if err := j.store.ProgressImportJob(ctx, jb.id, jb.row(store.ImportChecking, Progress{})); err != nil {
		j.opt.Logger.Debug("import job start not written", "job", jb.id, "err", err)
	}
	res, err := j.importFile(ctx, jb)
	out := store.ImportOutcome{Status: store.ImportDone}
	switch {
	case err != nil && ctx.Err() != nil:
		out.Status, out.Error = store.ImportFailed, "stopped: the server shut down during this import. An import writes all its rows "+
			"in one transaction, so nothing of this file was written; upload it again."
	case err != nil && store.ErrorCode(err) == store.EINTERNAL:
		j.opt.Logger.Error("import job failed", "job", jb.id, "kind", jb.kind, "err", err)
		out.Status, out.Error = store.ImportFailed, "internal error (logged on the server); nothing of this file was written"
	case err != nil:
		out.Status, out.Error = store.ImportFailed, store.ErrorMessage(err)
	default:
		out.RowsTotal, out.BadRows = res.Rows, len(res.Rejected)
		out.Created, out.Updated, out.Duplicates, out.Written = res.Created, res.Updated, res.Duplicates, res.Written
		n := min(len(res.Rejected), store.MaxImportBadRowsKept)
		out.Bad = make([]store.ImportBadRow, n)
		for i, r := range res.Rejected[:n] {
			out.Bad[i] = store.ImportBadRow{Line: r.Line, Reason: r.Reason}
		}
		if len(res.Rejected) > 0 && !jb.skipBad {
			out.Status = store.ImportFailed
			out.Error = fmt.Sprintf("%d bad rows, so nothing was written: fix them, or import the file again choosing to skip bad rows",
				len(res.Rejected))
		}
	}
	if out.Status == store.ImportFailed && out.RowsTotal == 0 {
		jb.mu.Lock()
		out.RowsTotal, out.BadRows = max(jb.progress.Total, jb.progress.Rows), jb.progress.Bad
		jb.mu.Unlock()
	}
	// The end is written even when ctx has ended (shutdown): then the job
	// says so at once instead of after Silence.
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := j.store.FinishImportJob(fin, jb.id, out); err != nil {
		j.opt.Logger.Error("import job end not written", "job", jb.id, "err", err)
	}
}

func (j *Jobs) importFile(ctx context.Context, jb *job) (*Result, error) {
	f, err := os.Open(jb.spool)
	if err != nil {
		return nil, fmt.Errorf("import job %d: %w", jb.id, err)
	}
	defer f.Close()
	file := ctxFile{ctx, f} // the checking pass of customers reads no database: it stops here
	opt := Options{SkipBad: jb.skipBad, Progress: func(p Progress) {
		jb.mu.Lock()
		jb.progress = p
		if p.Writing {
			jb.status = store.ImportWriting
		}
		jb.mu.Unlock()
	}}
	switch jb.kind {
	case store.ImportCustomers:
		return CustomersWith(ctx, j.store, file, opt)
	case store.ImportPoints:
		return Points(ctx, j.store, file, opt)
	}
	return OrdersWith(ctx, j.store, file, j.opt.Location, opt)
}

// ctxFile fails its reads once ctx has ended, so that an import stops
// mid-file when the process does.
type ctxFile struct {
	ctx context.Context
	*os.File
}

func (f ctxFile) Read(p []byte) (int, error) {
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f ctxFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

// abandon fails the jobs still waiting when the process stops (the
// running one has ended by then) and removes their files.
func (j *Jobs) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		select {
		case jb := <-j.queue:
			os.Remove(jb.spool)
			j.mu.Lock()
			delete(j.jobs, jb.id)
			j.mu.Unlock()
			_, err := j.store.FinishImportJob(ctx, jb.id, store.ImportOutcome{Status: store.ImportFailed,
				Error: "stopped: the server shut down before this import began; nothing was written, upload the file again"})
			if err != nil {
				j.opt.Logger.Warn("import job end not written", "job", jb.id, "err", err)
			}
		default:
			return
		}
	}
}

// Freshen sets the progress of the jobs this process is running to what
// it knows now: on SQLite the import's own transaction holds up the
// progress writes, and even elsewhere the row lags by up to Beat.
func (j *Jobs) Freshen(rows ...*store.ImportJob) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range rows {
		jb, ok := j.jobs[r.ID]
		if !ok || r.Status == store.ImportDone || r.Status == store.ImportFailed {
			continue
		}
		jb.mu.Lock()
		if jb.status != store.ImportQueued {
			p := jb.row(jb.status, jb.progress)
			r.Status, r.RowsTotal, r.RowsDone, r.BadRows = p.Status, p.RowsTotal, p.RowsDone, p.BadRows
		}
		jb.mu.Unlock()
	}
}
