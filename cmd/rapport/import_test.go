package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
)

func TestImportCommand(t *testing.T) {
	for _, d := range []string{store.SQLite, store.MySQL} {
		t.Run(d, func(t *testing.T) {
			cfg, _ := writeConfig(t, d, "")
			csv := filepath.Join(t.TempDir(), "c.csv")
			os.WriteFile(csv, []byte("\xef\xbb\xbfname,phone,birthday,email,tags,external_ref\nAda,13800000001,02-29,,vip;a,r1\nBad,,1990-13-01,,,r2\n"), 0o600)
			ctx := context.Background()
			var out bytes.Buffer
			err := run(ctx, []string{"import", "customers", "-config", cfg, csv}, &out, &out)
			if exitCode(err) != 1 || !strings.Contains(out.String(), "line 3: birthday") || !strings.Contains(out.String(), "0 written") {
				t.Fatalf("bad rows: exit %d, %v\n%s", exitCode(err), err, out.String())
			}
			out.Reset()
			err = run(ctx, []string{"import", "customers", "-config", cfg, "-skip-bad-rows", csv}, &out, &out)
			if err != nil || !strings.Contains(out.String(), "1 written (1 created, 0 updated), 0 unchanged, 1 rejected") {
				t.Fatalf("skip: %v\n%s", err, out.String())
			}
			orders := filepath.Join(t.TempDir(), "o.csv")
			os.WriteFile(orders, []byte("customer_external_ref,kind,amount,occurred_at\nr1,purchase,10,2026-01-02\n"), 0o600)
			out.Reset()
			if err := run(ctx, []string{"import", "orders", "-config", cfg, orders}, &out, &out); err != nil || !strings.Contains(out.String(), "1 written") {
				t.Fatalf("orders: %v\n%s", err, out.String())
			}
			// Again (a re-run export, a retry after a crash): nothing new.
			out.Reset()
			err = run(ctx, []string{"import", "orders", "-config", cfg, orders}, &out, &out)
			if got, want := out.String(), "orders: 1 rows, 0 written (0 created, 0 updated), 0 rejected, 1 duplicates skipped\n"; err != nil || got != want {
				t.Fatalf("orders again: %v\ngot  %q\nwant %q", err, got, want)
			}
		})
	}
}

func TestCareRunCommand(t *testing.T) {
	cfg, _ := writeConfig(t, store.SQLite, "")
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"care", "run", "birthday", "--date", "2026-02-06", "-config", cfg, "-dry-run"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var r struct {
		ID       int64  `json:"id"`
		Workflow string `json:"workflow"`
		Date     string `json:"date"`
		DryRun   bool   `json:"dry_run"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Workflow != "birthday" || r.Date != "2026-02-06" || !r.DryRun || r.Status != "done" {
		t.Fatalf("output %q: %+v %v", out.String(), r, err)
	}
	for _, bad := range [][]string{{"care", "run", "cake"}, {"care", "run", "birthday", "--date", "2026-02-30", "-config", cfg}, {"care"}} {
		if err := run(ctx, bad, &out, &errb); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
