package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// The nightly job, in two passes over the database, never holding it:
//
//  1. Every order, in (customer, time) order from the covering figures
//     index, a range of customer ids per query, summed up per customer
//     into a slice of figures (56 bytes each, only customers with orders).
//     From it, the population's thresholds: the tier cut points and the
//     RFM quintiles and medians (one scratch slice of int64, sorted per
//     dimension). The run row keeps them, so a resumed run uses the same.
//  2. Every customer, by id, in batches, with their stored figures: merged
//     with the slice, computed, compared, and only the rows that change
//     written, in multi-row upserts, while the next batches are read and
//     computed; Writers batches are written side by side (each INSERT runs
//     on one database thread). The run's cursor moves once the batches up
//     to it are written, so a run killed midway resumes after the last
//     written batch; a batch written twice changes nothing the second
//     time (a stage already moved records no history).

// errBusy: another run is going on.
func errBusy(r *store.AnalyticsRun) error {
	return store.Errorf(store.ECONFLICT, "a recompute is already running (run %d, %s, started %s); try again when it ends",
		r.ID, r.RunKey, r.StartedAt.Format(time.RFC3339))
}

// Recompute recomputes every customer now, as the nightly job does, and
// returns how many customers it went through. Another run going on is a
// conflict (409).
func (s *Service) Recompute(ctx context.Context) (int, error) {
	now := s.store.Now()
	var b [4]byte
	rand.Read(b[:])
	key := "manual:" + strconv.FormatInt(now.UnixMilli(), 10) + ":" + hex.EncodeToString(b[:])
	run, err := s.run(ctx, key, now)
	if err != nil {
		return 0, err
	}
	return run.Customers, nil
}

// Nightly runs the nightly recompute for the business date of day, once:
// a date done answers its run; one that failed or whose process died
// resumes. It judges everyone at the moment it first starts.
func (s *Service) Nightly(ctx context.Context, day time.Time) (*store.AnalyticsRun, error) {
	key := "nightly:" + day.In(s.o.Location).Format(time.DateOnly)
	r, err := s.run(ctx, key, s.store.Now())
	if err == nil && s.o.AfterNightly != nil {
		if herr := s.o.AfterNightly(ctx, s.store.Now()); herr != nil && ctx.Err() == nil {
			s.o.Logger.Error("analytics: after the nightly run", "key", key, "err", herr)
		}
	}
	return r, err
}

// run claims run key and does it; when the claim hands over another run
// whose process died, it does that one first.
func (s *Service) run(ctx context.Context, key string, asOf time.Time) (*store.AnalyticsRun, error) {
	for range 3 {
		r, claimed, err := s.store.ClaimAnalyticsRun(ctx, key, asOf, s.o.Holder, s.o.Lease)
		if err != nil {
			return nil, err
		}
		if !claimed {
			if r.RunKey == key && r.Status == store.RunDone {
				return r, nil
			}
			return r, errBusy(r)
		}
		if err := s.execute(ctx, r); err != nil {
			return r, err
		}
		if r.RunKey == key {
			return r, nil
		}
		s.o.Logger.Info("analytics: resumed an interrupted run", "run", r.ID, "key", r.RunKey)
	}
	return nil, store.Errorf(store.ECONFLICT, "analytics: could not claim run %s", key)
}

// execute does a claimed run to its end (or to where ctx stops it: then
// the run stays claimed until its lease lapses, and is resumed).
func (s *Service) execute(ctx context.Context, run *store.AnalyticsRun) error {
	// A run makes a row of garbage per customer (read, computed, written)
	// while it keeps the figures, 56 bytes a customer, live; by default the
	// heap may grow to twice the live size between collections. Half that
	// keeps the process's peak near the figures plus a few batches, and
	// costs little: the figures hold no pointers, so a collection does not
	// scan them. (Process-wide while the run lasts.)
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	began := time.Now()
	snapshot := s.store.Now()
	w := s.cfg.windowAt(run.AsOf)
	fs, err := s.pass1(ctx, w)
	read := time.Since(began)
	if err == nil {
		err = s.pass2(ctx, run, fs, w, snapshot)
	}
	if err == nil {
		err = s.store.ClearTouches(ctx, snapshot)
	}
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, store.ErrAnalyticsRunLost) {
			if ferr := s.store.FinishAnalyticsRun(context.WithoutCancel(ctx), run, store.RunFailed, err.Error()); ferr != nil {
				s.o.Logger.Error("analytics: recording a failed run", "run", run.ID, "err", ferr)
			}
		}
		return fmt.Errorf("analytics run %s: %w", run.RunKey, err)
	}
	if err := s.store.FinishAnalyticsRun(ctx, run, store.RunDone, ""); err != nil {
		return err
	}
	s.forgetThresholds()
	s.metrics.runSeconds.Set(time.Since(began).Seconds())
	s.o.Logger.Info("analytics: run done", "run", run.ID, "key", run.RunKey, "customers", run.Customers, "written", run.Written,
		"stage_changes", run.StageChanges, "tier_changes", run.TierChanges, "buyers", len(fs),
		"orders_read", read.Round(time.Millisecond), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// orderSpan is how many customer ids one pass-1 query covers.
const orderSpan = 50_000

// pass1 reads every order into per-customer figures, by customer id.
func (s *Service) pass1(ctx context.Context, w window) ([]figures, error) {
	maxID, err := s.store.MaxCustomerID(ctx)
	if err != nil {
		return nil, err
	}
	// Customers with orders are at most the customers: sized once, the
	// slice never grows (growing copies it, and a copy is a second slice).
	fs := make([]figures, 0, min(maxID, 1<<22))
	var ps []store.OrderPoint
	var gaps []int64
	cur := int64(-1)
	flush := func() {
		if len(ps) == 0 {
			return
		}
		var f figures
		f, gaps = figuresOf(cur, ps, w, gaps)
		fs = append(fs, f)
		ps = ps[:0]
	}
	for lo := int64(0); lo < maxID; lo += orderSpan {
		err := s.store.EachOrderPoint(ctx, lo, lo+orderSpan, func(id int64, p store.OrderPoint) {
			if id != cur {
				flush()
				cur = id
			}
			ps = append(ps, p)
		})
		if err != nil {
			return nil, err
		}
	}
	flush()
	return fs, nil
}

// batch is one batch of pass 2: what to write and how far it goes.
type batch struct {
	write     store.FigureWrite
	hi        int64 // the batch's last customer id
	customers int
}

// pass2 goes through every customer after the run's cursor.
func (s *Service) pass2(ctx context.Context, run *store.AnalyticsRun, fs []figures, w window, snapshot time.Time) error {
	t, err := s.runThresholds(ctx, run, fs)
	if err != nil {
		return err
	}
	complaints, err := s.store.OpenComplaintCustomers(ctx)
	if err != nil {
		return err
	}
	next := sort.Search(len(fs), func(i int) bool { return fs[i].id > run.Cursor })
	after, batches := run.Cursor, 0
	var inFlight []*batch
	var wg sync.WaitGroup
	var errs []error
	var mu sync.Mutex
	for {
		// Read and compute the next batches while the previous ones are
		// written.
		var group []*batch
		for range s.o.Writers {
			rows, err := s.store.FigureRows(ctx, after, s.o.BatchSize, complaints)
			if err != nil {
				wg.Wait()
				return err
			}
			if len(rows) == 0 {
				break
			}
			b := &batch{hi: rows[len(rows)-1].ID, customers: len(rows), write: store.FigureWrite{At: run.AsOf, RunID: &run.ID}}
			next = s.compute(b, rows, fs, next, t, w, snapshot)
			group = append(group, b)
			after = b.hi
		}
		wg.Wait()
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if len(inFlight) > 0 {
			run.Cursor = inFlight[len(inFlight)-1].hi
			if err := s.store.ProgressAnalyticsRun(ctx, run, s.o.Lease); err != nil {
				return err
			}
			batches += len(inFlight)
			if s.afterBatch != nil {
				s.afterBatch(run, batches)
			}
		}
		if len(group) == 0 {
			return nil
		}
		inFlight = group
		for _, b := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				done, err := s.store.WriteFigures(ctx, b.write)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				run.Customers += b.customers
				run.Written += len(b.write.Stats)
				for _, c := range done {
					if c.Field == store.FieldStage {
						run.StageChanges++
					} else {
						run.TierChanges++
					}
				}
				s.metrics.count(done)
			}()
		}
	}
}

// runThresholds are the run's thresholds: those it saved (a resumed run),
// else computed from fs and saved with the run.
func (s *Service) runThresholds(ctx context.Context, run *store.AnalyticsRun, fs []figures) (*Thresholds, error) {
	var t Thresholds
	if run.Thresholds != "" {
		if err := json.Unmarshal([]byte(run.Thresholds), &t); err != nil {
			return nil, fmt.Errorf("thresholds of run %d: %w", run.ID, err)
		}
		return &t, nil
	}
	t = thresholdsOf(fs, s.cfg, make([]int64, 0, len(fs)))
	b, _ := json.Marshal(t)
	run.Thresholds = string(b)
	return &t, s.store.ProgressAnalyticsRun(ctx, run, s.o.Lease)
}

// compute fills b from rows, merging them with fs from index next (both
// by id), and returns where the next batch starts in fs. A customer whose
// stored figures are fresher than the snapshot (an order refreshed them
// meanwhile) is left as it is.
func (s *Service) compute(b *batch, rows []store.FigureRow, fs []figures, next int, t *Thresholds, w window, snapshot time.Time) int {
	for _, r := range rows {
		for next < len(fs) && fs[next].id < r.ID {
			next++
		}
		f := figures{id: r.ID}
		if next < len(fs) && fs[next].id == r.ID {
			f = fs[next]
		}
		if r.Stats != nil && r.Stats.FiguresAt.After(snapshot) {
			continue
		}
		st := s.model.evaluate(f, personOf(r), t, w.asOf, snapshot)
		b.write.Changes = append(b.write.Changes, s.model.changesOf(r, st, f, w.asOf)...)
		if !store.SameFigures(r.Stats, st) {
			b.write.Stats = append(b.write.Stats, st)
		}
	}
	return next
}
