package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store/storetest"
)

// TestCareRunFutureDate: `rapport care run` for a date after today (in the
// business zone) refuses without -force and says why; -dry-run previews it
// and -force runs it.
func TestCareRunFutureDate(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			path, _ := writeConfig(t, d, "timezone: Asia/Shanghai\n")
			shanghai, _ := time.LoadLocation("Asia/Shanghai")
			// Two days ahead stays in the future even if the day turns
			// during the test.
			future := time.Now().In(shanghai).AddDate(0, 0, 2).Format("2006-01-02")
			care := func(flags ...string) (map[string]any, error) {
				var out, errb bytes.Buffer
				args := append([]string{"care", "run", "birthday", "-config", path, "--date", future}, flags...)
				err := run(context.Background(), args, &out, &errb)
				var r map[string]any
				if out.Len() > 0 {
					if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
						t.Fatalf("%v: output %q: %v", flags, out.String(), jerr)
					}
				}
				return r, err
			}

			r, err := care()
			want := "care run: date " + future + " is in the future: this would send real messages now; use -dry-run to preview or -force to send anyway"
			if err == nil || err.Error() != want || r != nil {
				t.Fatalf("without -force: %v %v\nwant the error %q and no run", r, err, want)
			}
			if exitCode(err) == 0 {
				t.Error("exit code 0 for a refused run")
			}
			if r, err := care("-dry-run"); err != nil || r["dry_run"] != true {
				t.Errorf("-dry-run: %v %v", r, err)
			}
			// The refusal claimed nothing: the forced run is the first real one.
			if r, err := care("-force"); err != nil || r["status"] != "done" || r["dry_run"] != false || r["attempts"] != 1.0 {
				t.Errorf("-force: %v %v", r, err)
			}
			if _, err := care("-force", "extra"); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
				t.Errorf("extra argument: %v", err)
			}
		})
	}
}
