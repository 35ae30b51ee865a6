package importer_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// customersFile is n customer rows, each with its own phone and
// external_ref, with lines (by line number) replaced.
func customersFile(n int, lines map[int]string) string {
	var b strings.Builder
	b.WriteString("name,phone,external_ref\n")
	for i := range n {
		if l, ok := lines[i+2]; ok {
			b.WriteString(l + "\n")
			continue
		}
		fmt.Fprintf(&b, "C%d,139%08d,ref-%d\n", i, i, i)
	}
	return b.String()
}

// TestImportCustomersBadRowLate: the writing pass of a customer file runs
// beside the checking pass, so it has written batches by the time the
// checking pass finds a bad row near the end; without skip, those are
// rolled back and every bad row is reported, as when the passes ran one
// after the other.
func TestImportCustomersBadRowLate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 1100 // three batches
		cases := []struct {
			name  string
			lines map[int]string
			want  []importer.RowError
		}{
			{"bad date", map[int]string{n: "Late,13700000001,ref-late,x", n + 1: ",,"},
				[]importer.RowError{{Line: n, Reason: "3 fields, header has 3"}, {Line: n + 1, Reason: "name: a customer needs a name or a phone"}}},
			{"external_ref again", map[int]string{n + 1: "Again,13700000002,ref-3"},
				[]importer.RowError{{Line: n + 1, Reason: `external_ref: "ref-3" already on line 5`}}},
		}
		cases[0].want[0].Reason = "4 fields, header has 3"
		for _, c := range cases {
			res, err := importer.Customers(ctx, s, strings.NewReader(customersFile(n, c.lines)), false)
			want := &importer.Result{Rows: n, Rejected: c.want}
			if err != nil || cmp.Diff(want, res) != "" {
				t.Fatalf("%s (-want +got):\n%s %v", c.name, cmp.Diff(want, res), err)
			}
			if cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{}); len(cs) != 0 {
				t.Fatalf("%s: %d customers written", c.name, len(cs))
			}
		}
		// With skip, the good rows are written and the bad ones reported.
		res, err := importer.Customers(ctx, s, strings.NewReader(customersFile(n, cases[1].lines)), true)
		want := &importer.Result{Rows: n, Written: n - 1, Created: n - 1, Rejected: cases[1].want}
		if err != nil || cmp.Diff(want, res) != "" {
			t.Fatalf("with skip (-want +got):\n%s %v", cmp.Diff(want, res), err)
		}
	})
}

// TestImportCustomersPassesAtOnce: the writing pass starts before the
// checking pass has read the whole file. The file holds back what follows
// its first 64 KiB (each pass's first read) until a second pass starts
// reading it, which passes run one after the other never do.
func TestImportCustomersPassesAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var b strings.Builder
		b.WriteString("name,phone,external_ref\n")
		const n = 300 // about 75 KiB
		for i := range n {
			fmt.Fprintf(&b, "%s%d,139%08d,ref-%d\n", strings.Repeat("名", 80), i, i, i)
		}
		held := &heldFile{r: strings.NewReader(b.String()), from: 1<<16 + 1, open: make(chan struct{})}
		res, err := importer.CustomersWith(context.Background(), s, held, importer.Options{})
		if err != nil || res.Created != n {
			t.Fatalf("import: %d created, %d rejected, %v", res.Created, len(res.Rejected), err)
		}
		if held.timedOut {
			t.Fatal("the writing pass waited for the checking pass to read the whole file")
		}
	})
}

// heldFile is a file whose bytes from offset from are read only once a
// second reader has started at its beginning (or, so that a failing test
// ends, after a few seconds).
type heldFile struct {
	r        *strings.Reader
	from     int64
	open     chan struct{}
	mu       sync.Mutex
	starts   int
	timedOut bool
}

func (f *heldFile) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		f.mu.Lock()
		if f.starts++; f.starts == 2 {
			close(f.open)
		}
		f.mu.Unlock()
	}
	if off+int64(len(p)) > f.from {
		select {
		case <-f.open:
		case <-time.After(5 * time.Second):
			f.mu.Lock()
			f.timedOut = true
			f.mu.Unlock()
		}
	}
	return f.r.ReadAt(p, off)
}

func (f *heldFile) Read(p []byte) (int, error) {
	off, _ := f.r.Seek(0, io.SeekCurrent)
	n, err := f.ReadAt(p, off)
	f.r.Seek(off+int64(n), io.SeekStart)
	return n, err
}

func (f *heldFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }
