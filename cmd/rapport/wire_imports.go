package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/web"
)

// wireImports runs the console's CSV imports in the background. Their
// spool files go to $TMPDIR/rapport-imports-HASH, one directory per
// database: processes of one database share it (a job's file is theirs to
// clean up after a crash), those of another never touch it.
func (m *Main) wireImports(ctx context.Context, d *web.Deps) {
	db := sha256.Sum256([]byte(m.Config.Database.Driver + "\x00" + m.Config.Database.DSN))
	dir := filepath.Join(os.TempDir(), "rapport-imports-"+hex.EncodeToString(db[:6]))
	jobs := importer.NewJobs(m.Store, importer.JobOptions{Dir: dir, Location: m.Config.Location(), Logger: m.Logger})
	d.Imports = jobs
	m.goLoop("import jobs", ctx, jobs.Run)
}
