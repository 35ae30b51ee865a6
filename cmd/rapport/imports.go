package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/web"
)

// newImports runs the console's CSV imports in the background. Their
// spool files go to $TMPDIR/rapport-imports-HASH, one directory per
// database: processes of one database share it (a job's file is theirs to
// clean up after a crash), those of another never touch it.
func (m *Main) newImports() *importer.Jobs {
	db := sha256.Sum256([]byte(m.Config.Database.Driver + "\x00" + m.Config.Database.DSN))
	dir := filepath.Join(os.TempDir(), "rapport-imports-"+hex.EncodeToString(db[:6]))
	jobs := importer.NewJobs(m.Store, importer.JobOptions{Dir: dir, Location: m.Config.Location(), Logger: m.Logger})
	m.goLoop("import jobs", jobs.Run)
	return jobs
}

// careSchedule gives web the care service's next runs.
type careSchedule struct{ svc *care.Service }

func (c careSchedule) NextRuns(after time.Time) []web.ScheduledRun {
	runs := c.svc.NextRuns(after)
	out := make([]web.ScheduledRun, len(runs))
	for i, r := range runs {
		out[i] = web.ScheduledRun{Workflow: r.Workflow, Schedule: r.Schedule, At: r.At, Date: r.At.Format(time.DateOnly)}
	}
	return out
}
