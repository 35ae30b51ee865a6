package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
)

// runImport is `rapport import customers|orders|points [-skip-bad-rows]
// FILE.csv` (points: opening balances).
// It prints a summary and every rejected row; rejected rows make the exit
// status 1 unless -skip-bad-rows (then the good rows are written). Rows
// already stored (an orders file imported again) are skipped and counted as
// duplicates; that is success.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import")
	cfgPath := configFlag(fs)
	skip := fs.Bool("skip-bad-rows", false, "write the good rows even if some are bad (the bad ones are still reported)")
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(rest) == 0 || (rest[0] != "customers" && rest[0] != "orders" && rest[0] != "points") {
		return usageError{"import", "say what the file holds: customers, orders or points (opening balances)"}
	}
	kind := rest[0]
	if len(rest) != 2 {
		return usageError{"import", fmt.Sprintf("give exactly one CSV file of %s", kind)}
	}
	path := rest[1]
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", kind, err)
	}
	defer file.Close()
	cfg, s, err := openConfigured(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer s.Close()
	// Memory stays flat whatever the file's size: the live set is one
	// batch plus the in-file duplicate check (~25 bytes a row), and without
	// a limit the collector lets the heap grow to twice that before it
	// runs. GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	}
	if path := os.Getenv("RAPPORT_CPU_PROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	opt := importer.Options{SkipBad: *skip}
	if tty, ok := stderr.(*os.File); ok && isTerminal(tty) {
		p := &progressLine{w: stderr, start: time.Now()}
		opt.Progress = p.show
		defer p.end()
	}
	var res *importer.Result
	switch kind {
	case "customers":
		res, err = importer.CustomersWith(ctx, s, file, opt)
	case "points":
		res, err = importer.Points(ctx, s, file, opt)
	default:
		res, err = importer.OrdersWith(ctx, s, file, cfg.Location(), opt)
	}
	if err != nil {
		if store.ErrorCode(err) != store.EINTERNAL {
			err = fmt.Errorf("%s", store.ErrorMessage(err))
		}
		return fmt.Errorf("import %s %s: %w", kind, path, err)
	}
	for _, r := range res.Rejected {
		fmt.Fprintf(stdout, "line %d: %s\n", r.Line, r.Reason)
	}
	// Customers already stored are matched (updated, or unchanged when
	// the row changes nothing); orders and balances already stored are
	// duplicates.
	if kind == "customers" {
		fmt.Fprintf(stdout, "customers: %d rows, %d written (%d created, %d updated), %d unchanged, %d rejected\n",
			res.Rows, res.Written, res.Created, res.Updated, res.Unchanged, len(res.Rejected))
	} else {
		fmt.Fprintf(stdout, "%s: %d rows, %d written (%d created, %d updated), %d rejected, %d duplicates skipped\n",
			kind, res.Rows, res.Written, res.Created, res.Updated, len(res.Rejected), res.Duplicates)
	}
	if len(res.Rejected) > 0 && !*skip {
		return exitErr{code: 1, err: fmt.Errorf("import %s: %d bad rows, nothing written (use -skip-bad-rows to write the good ones)", kind, len(res.Rejected))}
	}
	if kind == "orders" && res.Created > 0 {
		return settleImport(ctx, &Main{Config: cfg, Logger: newLogger(stderr), Store: s}, stdout)
	}
	return nil
}

// isTerminal reports whether f is a terminal (a character device), where
// a progress line helps; to a file or a pipe it would be noise.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressLine redraws one line on a terminal, at most five times a
// second: the pass, rows, rows/s, the writing pass's ETA, bad rows so far.
type progressLine struct {
	w         io.Writer
	start     time.Time
	passStart time.Time
	writing   bool
	last      time.Time
	drawn     bool
}

func (p *progressLine) show(pr importer.Progress) {
	now := time.Now()
	if pr.Writing != p.writing || p.passStart.IsZero() {
		p.writing, p.passStart = pr.Writing, now
	}
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	rate := float64(pr.Rows) / max(now.Sub(p.passStart).Seconds(), 0.001)
	line := fmt.Sprintf("checking: %d rows, %.0f rows/s", pr.Rows, rate)
	switch {
	case pr.Writing && pr.Total == 0: // checked beside: the file's rows not yet counted
		line = fmt.Sprintf("writing: %d rows, %.0f rows/s", pr.Rows, rate)
	case pr.Writing:
		line = fmt.Sprintf("writing: %d of %d rows, %.0f rows/s", pr.Rows, pr.Total, rate)
		if left := pr.Total - pr.Rows; rate > 0 && left > 0 {
			line += fmt.Sprintf(", ETA %s", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		}
	}
	fmt.Fprintf(p.w, "\r\033[K%s, %d bad", line, pr.Bad)
}

// end leaves the terminal on a fresh line with the time taken.
func (p *progressLine) end() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r\033[Kdone in %s\n", time.Since(p.start).Round(100*time.Millisecond))
	}
}
