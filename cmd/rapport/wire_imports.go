package main

import (
	"context"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/web"
)

// wireImports runs the console's CSV imports in the background. Their
// spool files go to $TMPDIR/rapport-imports.
func (m *Main) wireImports(ctx context.Context, d *web.Deps) {
	jobs := importer.NewJobs(m.Store, importer.JobOptions{Location: m.Config.Location(), Logger: m.Logger})
	d.Imports = jobs
	m.goLoop("import jobs", ctx, jobs.Run)
}
