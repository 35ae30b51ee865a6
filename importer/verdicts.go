package importer

import (
	"errors"
	"io"
	"math"
	"sync"
)

// verdicts is what the checking pass has found so far, for a writing pass
// that may run beside it: which lines are bad, and how far it has got.
// The writing pass asks about each line and waits until the checking pass
// has judged it.
type verdicts struct {
	mu      sync.Mutex
	changed sync.Cond
	through int // every record starting on a line up to this is judged
	bad     []RowError
	badLine map[int]bool
	done    bool // the pass has ended: rows and err are its outcome
	rows    int
	err     error
}

func newVerdicts() *verdicts {
	v := &verdicts{badLine: map[int]bool{}}
	v.changed.L = &v.mu
	return v
}

// errChecked stops a writing pass once the checking pass has found a bad
// row (without SkipBad) or failed: the import writes nothing.
var errChecked = errors.New("import: stopped by the checking pass")

// add records a bad row the checking pass found.
func (v *verdicts) add(e RowError) {
	v.mu.Lock()
	v.bad = append(v.bad, e)
	v.badLine[e.Line] = true
	v.mu.Unlock()
}

// judged says every record starting on a line up to line is judged.
func (v *verdicts) judged(line int) {
	v.mu.Lock()
	v.through = max(v.through, line)
	v.mu.Unlock()
	v.changed.Broadcast()
}

// finish ends the checking pass with how many rows the file has, or why
// it could not be read.
func (v *verdicts) finish(rows int, err error) {
	v.mu.Lock()
	v.done, v.rows, v.err, v.through = true, rows, err, math.MaxInt
	v.mu.Unlock()
	v.changed.Broadcast()
}

// skip waits until line is judged and reports whether the writing pass
// skips it; errChecked when the pass should stop instead.
func (v *verdicts) skip(line int, skipBad bool) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for v.through < line {
		v.changed.Wait()
	}
	if v.err != nil || len(v.bad) > 0 && !skipBad {
		return false, errChecked
	}
	return v.badLine[line], nil
}

// wait waits for the checking pass to end and returns what it found.
func (v *verdicts) wait() (rows int, bad []RowError, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for !v.done {
		v.changed.Wait()
	}
	return v.rows, v.bad, v.err
}

// found is how many bad rows the checking pass has found so far, and the
// rows it has counted once it has ended (else 0).
func (v *verdicts) found() (bad, total int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done {
		total = v.rows
	}
	return len(v.bad), total
}

// readers returns a function that gives each call a reader of its own of
// file, from its start, when file can be read at an offset: then the two
// passes can read it at once.
func readers(file io.ReadSeeker) (func() io.ReadSeeker, bool) {
	at, ok := file.(io.ReaderAt)
	if !ok {
		return nil, false
	}
	size, err := file.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, false
	}
	return func() io.ReadSeeker { return io.NewSectionReader(at, 0, size) }, true
}
