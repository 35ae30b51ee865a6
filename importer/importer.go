// Package importer loads customers and orders from CSV files into the
// store, as `rapport import` does.
//
// An import reads its file twice and never holds it: a checking pass
// checks every row and writes nothing, collecting the bad rows by line;
// a writing pass hands the good rows to the store in batches, all inside
// one transaction, so that a file lands whole or not at all; with bad rows
// and skipBad off it writes nothing. A customer file, whose checks read no
// database, is read by both passes at once when it can be (a file, not a
// stream): the writing pass waits for the checking pass's verdict on each
// line, and stops, rolling back, when that pass finds a bad row it may not
// skip; so the database starts work at once rather than after a pass over
// the whole file. Each pass reads and checks the next batch while the one
// before is handed on, so our CPU and the database's overlap. Memory is
// three batches of rows per pass plus what the in-file checks remember: a
// 16-byte hash and a number per row (its external_ref or order_ref, to
// find repeats; an order without one, its contents, to number identical
// rows). A caller with a stream rather than a file spools it to a
// temporary file first.
package importer

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/rapport-crm/rapport/store"
)

// RowError is one rejected CSV row: its line number (the header is line 1)
// and why.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Result summarises an import. With rejected rows and no skipBad, nothing
// is written (Written 0).
type Result struct {
	Rows    int `json:"rows"`
	Written int `json:"written"`
	Created int `json:"created"`
	Updated int `json:"updated"`
	// Unchanged counts customer rows that matched a customer they would
	// not change (a file imported again): they write nothing.
	Unchanged int `json:"unchanged"`
	// Duplicates counts rows skipped because they were already stored
	// (orders: the same order_ref or the same contents).
	Duplicates int        `json:"duplicates"`
	Rejected   []RowError `json:"rejected"`
}

// Options are an import's choices beyond the file.
type Options struct {
	// SkipBad writes the good rows when some are bad (the bad ones are
	// still reported); without it a bad row means nothing is written.
	SkipBad bool
	// Progress, when set, is told how far the import has got after every
	// row each pass reads (keep it cheap). It changes nothing imported.
	Progress func(Progress)
}

// Progress is how far an import has got.
type Progress struct {
	// Writing is false in the checking pass, true in the writing pass.
	// When the two run at once the reports are the writing pass's, and
	// the checking pass's once the writing pass has stopped.
	Writing bool
	// Rows counts the rows this pass has read, Total the file's rows
	// (known once the checking pass has read them all; 0 before).
	Rows, Total int
	// Bad counts the rows rejected so far.
	Bad int
}

// pass is one reading of the file: the checking pass, or the writing pass,
// which skips the lines the checking pass rejected.
type pass struct {
	writing bool
	// skip reports whether the writing pass skips the record starting on
	// line, or why it stops.
	skip   func(line int) (bool, error)
	bad    func(RowError) // reports a bad row
	read   func(rows int) // reports the rows read so far
	judged func(line int) // the checking pass has judged every record up to line
}

// importFile runs an import's two passes over file, read(file, res, p)
// each. The checking pass writes nothing. The writing pass runs inside
// the store's transaction (inTx), which may run it again from the start:
// after the checking pass, unless it rejected rows and SkipBad is off; or,
// with alongside set and a file that two readers can read at once, beside
// it. Rows the writing pass rejects (the database changed meanwhile)
// write nothing without SkipBad.
func importFile(file io.ReadSeeker, opt Options, alongside bool, inTx func(writing func() error) error, read func(io.ReadSeeker, *Result, pass) (int, error)) (*Result, error) {
	res := &Result{Rejected: []RowError{}}
	v := newVerdicts()
	var mu sync.Mutex // the passes report from their own goroutines
	var written []RowError
	writing := false // the writing pass reports, the checking pass is quiet
	report := func(writer bool, rows int) {
		if opt.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if writer != writing {
			return
		}
		bad, total := v.found()
		opt.Progress(Progress{Writing: writer, Rows: rows, Total: total, Bad: bad + len(written)})
	}
	check := func(f io.ReadSeeker) {
		rows, err := read(f, &Result{}, pass{bad: v.add, judged: v.judged, read: func(n int) { report(false, n) }})
		v.finish(rows, err)
	}
	files, ok := readers(file)
	if alongside && ok {
		writing = true
		go check(files())
	} else {
		check(file)
		if rows, bad, err := v.wait(); err != nil {
			return nil, err
		} else if len(bad) > 0 && !opt.SkipBad {
			res.Rows, res.Rejected = rows, slices.Clone(bad)
			slices.SortStableFunc(res.Rejected, func(a, b RowError) int { return a.Line - b.Line })
			return res, nil
		}
		files = func() io.ReadSeeker { return file }
		mu.Lock()
		writing = true
		mu.Unlock()
	}
	err := inTx(func() error {
		res.Created, res.Updated, res.Unchanged, res.Duplicates = 0, 0, 0, 0 // a retried transaction counts afresh
		mu.Lock()
		written = nil
		mu.Unlock()
		p := pass{writing: true, skip: func(line int) (bool, error) { return v.skip(line, opt.SkipBad) },
			bad:  func(e RowError) { mu.Lock(); written = append(written, e); mu.Unlock() },
			read: func(n int) { report(true, n) }}
		if _, err := read(files(), res, p); err != nil {
			return err
		}
		if _, bad, err := v.wait(); err != nil || len(bad) > 0 && !opt.SkipBad {
			return errChecked
		}
		if len(written) > 0 && !opt.SkipBad {
			return errRejected
		}
		return nil
	})
	mu.Lock()
	writing = false // the checking pass reports again, if it is still reading
	mu.Unlock()
	rows, bad, cerr := v.wait()
	if cerr != nil {
		return nil, cerr
	}
	res.Rows = rows
	res.Rejected = append(append([]RowError{}, bad...), written...)
	slices.SortStableFunc(res.Rejected, func(a, b RowError) int { return a.Line - b.Line })
	if errors.Is(err, errRejected) || errors.Is(err, errChecked) {
		res.Created, res.Updated, res.Unchanged, res.Duplicates = 0, 0, 0, 0
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	if opt.Progress != nil {
		opt.Progress(Progress{Writing: true, Rows: rows, Total: rows, Bad: len(res.Rejected)})
	}
	res.Written = res.Created + res.Updated
	return res, nil
}

// batchSize is how many rows go to the store at once.
const batchSize = 500

// maxRecordBytes bounds one CSV record, so that a file without line breaks
// (or one endless quoted field) cannot fill memory.
const maxRecordBytes = 1 << 20

// errRejected rolls back a writing pass that found rows bad which the
// checking pass found good (the database changed in between).
var errRejected = errors.New("import: rows rejected")

// csvFile reads a header row and then records, with their line numbers.
type csvFile struct {
	r    *csv.Reader
	size *recordLimit
	cols map[string]int
}

// openCSV reads file from its start: an optional UTF-8 byte order mark
// (Excel writes one), then a header of allowed column names, each at most
// once, in any case.
func openCSV(file io.ReadSeeker, allowed []string) (*csvFile, error) {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	size := &recordLimit{r: file}
	br := bufio.NewReaderSize(size, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, store.Invalid("file", "empty: expected a header row")
	} else if errors.Is(err, errRecordTooLong) || errors.As(err, new(*csv.ParseError)) {
		return nil, store.Invalid("file", "header: %v", err)
	} else if err != nil {
		return nil, err
	}
	f := &csvFile{r: cr, size: size, cols: map[string]int{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(allowed, h) {
			return nil, store.Invalid("header", "unknown column %q (expected %s)", h, strings.Join(allowed, ","))
		}
		if _, dup := f.cols[h]; dup {
			return nil, store.Invalid("header", "column %q appears twice", h)
		}
		f.cols[h] = i
	}
	return f, nil
}

// records reads the rest of the file for a pass and calls fn with each
// record the pass does not skip, and its line. A malformed record comes
// with why (malformed), and reading goes on after it; any other error ends
// the file. It returns how many rows the file has.
func (f *csvFile) records(p pass, fn func(rec []string, line int, malformed error) error) (rows int, err error) {
	last := 1
	for {
		f.size.n = 0
		rec, err := f.r.Read()
		line, malformed := 0, error(nil)
		var pe *csv.ParseError
		switch {
		case errors.Is(err, io.EOF):
			return rows, nil
		case errors.As(err, &pe):
			line, malformed = pe.StartLine, err
		case errors.Is(err, errRecordTooLong):
			return rows, store.Invalid("file", "the record after line %d is %v", last, err)
		case err != nil:
			return rows, err
		default:
			line, _ = f.r.FieldPos(0)
			last = line
		}
		rows++
		if p.read != nil {
			p.read(rows)
		}
		if p.skip != nil {
			if skip, err := p.skip(line); err != nil {
				return rows, err
			} else if skip {
				continue
			}
		}
		if err := fn(rec, line, malformed); err != nil {
			return rows, err
		}
	}
}

// batches reads the records of a pass (records) and hands what read makes
// of each (unless read says why the row is bad: reported, not kept) to
// flush, batchSize at a time, and the rest at the end. It returns how many
// rows the file has.
//
// A batch is read, and prepared (prepare, when set: its checks), on a
// goroutine of its own while flush has the batch before: reading and
// checking overlap the writing and the database's work. Bad rows and
// progress are reported on flush's goroutine, a batch's before flush gets
// it, so that the pass's callbacks need no lock.
func batches[T any](f *csvFile, p pass, read func(rec []string, line int, malformed error) (T, error), prepare func([]T), flush func([]T) error) (int, error) {
	type batch struct {
		rows []T
		bad  []RowError
		read int // the rows of the file read by the batch's end
		line int // the line of the last record it read
	}
	full := make(chan batch, 1)
	free := make(chan []T, 2) // a batch's rows, to reuse: one being read, one queued, one flushed
	free <- make([]T, 0, batchSize)
	free <- make([]T, 0, batchSize)
	stop := make(chan struct{})
	var rows int
	var readErr error
	go func() {
		defer close(full)
		b := batch{rows: make([]T, 0, batchSize)}
		send := func() bool {
			if prepare != nil && len(b.rows) > 0 {
				prepare(b.rows)
			}
			select {
			case full <- b:
			case <-stop:
				return false
			}
			select {
			case buf := <-free:
				b = batch{rows: buf[:0], read: b.read, line: b.line}
				return true
			case <-stop:
				return false
			}
		}
		reading := p
		reading.read = func(n int) { b.read = n }
		rows, readErr = f.records(reading, func(rec []string, line int, malformed error) error {
			b.line = line
			v, err := read(rec, line, malformed)
			if err != nil {
				b.bad = append(b.bad, RowError{line, store.ErrorMessage(err)})
				return nil
			}
			if b.rows = append(b.rows, v); len(b.rows) == batchSize && !send() {
				return errStopped
			}
			return nil
		})
		if readErr == nil {
			send()
		}
	}()
	var err error
	reported := 0
	for b := range full {
		if err != nil {
			continue // until the reader has seen stop
		}
		for reported < b.read {
			reported++
			if p.read != nil {
				p.read(reported)
			}
		}
		for _, e := range b.bad {
			p.bad(e)
		}
		if len(b.rows) > 0 {
			err = flush(b.rows)
		}
		if err != nil {
			close(stop)
			continue
		}
		if p.judged != nil {
			p.judged(b.line)
		}
		free <- b.rows
	}
	if err == nil {
		err = readErr
	}
	return rows, err
}

// errStopped ends a reading that flush no longer wants.
var errStopped = errors.New("import: stopped")

// get returns the record's value of col, trimmed ("" when the file has no
// such column).
func (f *csvFile) get(rec []string, col string) string {
	i, ok := f.cols[col]
	if !ok || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// has reports whether the file has the column.
func (f *csvFile) has(col string) bool {
	_, ok := f.cols[col]
	return ok
}

// rowError is what is wrong with a record before its fields are read:
// malformed (bad), or not as many fields as the header.
func (f *csvFile) rowError(rec []string, bad error) error {
	if bad != nil {
		return store.Errorf(store.EINVALID, "malformed CSV: %v", bad)
	}
	if len(rec) != len(f.cols) {
		return store.Errorf(store.EINVALID, "%d fields, header has %d", len(rec), len(f.cols))
	}
	return nil
}

var errRecordTooLong = fmt.Errorf("longer than %d bytes", maxRecordBytes)

// recordLimit fails a read once more than maxRecordBytes (and a buffer's
// read-ahead) were read since records reset n.
type recordLimit struct {
	r io.Reader
	n int
}

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.n > maxRecordBytes+128<<10 {
		return 0, errRecordTooLong
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}

// firstLines remembers the line on which each key (an external_ref, an
// order_ref) first appeared. It keeps a 16-byte hash of the key, not the
// key: a million keys take about 30 MB.
type firstLines map[[16]byte]int

func hashOf(key string) [16]byte {
	sum := sha256.Sum256([]byte(key))
	return [16]byte(sum[:16])
}

// seen returns the line key first appeared on, or records line for it.
func (fl firstLines) seen(key string, line int) (first int, dup bool) {
	h := hashOf(key)
	if first, dup := fl[h]; dup {
		return first, true
	}
	fl[h] = line
	return 0, false
}
