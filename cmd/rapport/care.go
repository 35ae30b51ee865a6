package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/store"
)

// runCare is `rapport care run WORKFLOW --date YYYY-MM-DD [-dry-run]
// [-force]`: it runs one workflow for one date through the same function
// as the scheduler and the API, and prints the run as JSON. A date after
// today needs -dry-run or -force.
func runCare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("care run")
	cfgPath := configFlag(fs)
	date := fs.String("date", "", "business date YYYY-MM-DD (default today, in the config's timezone)")
	dry := fs.Bool("dry-run", false, "plan and render without queueing anything")
	force := fs.Bool("force", false, "run a date after today for real (its messages go out now)")
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || rest[0] != "run":
		return usageError{"care run", "the care command is: rapport care run WORKFLOW"}
	case len(rest) == 1:
		return usageError{"care run", "which workflow? (" + care.WorkflowList() + ")"}
	case len(rest) > 2:
		return usageError{"care run", "unexpected arguments " + strings.Join(rest[2:], " ")}
	}
	workflow := rest[1]
	if !care.IsWorkflow(workflow) {
		return usageError{"care run", fmt.Sprintf("%q is not a workflow (%s)", workflow, care.WorkflowList())}
	}
	cfg, s, err := openConfigured(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer s.Close()
	m := &Main{Config: cfg, Store: s, Logger: newLogger(stderr)}
	if err := m.newTemplates(); err != nil {
		return err
	}
	svc, err := m.newCare()
	if err != nil {
		return err
	}
	day := svc.Today()
	if *date != "" {
		if day, err = svc.ParseDate(*date); err != nil {
			return fmt.Errorf("care run: --date: %w", err)
		}
	}
	run, err := svc.Run(ctx, workflow, day, *dry, *force)
	if run != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(run)
	}
	if store.IsCode(err, store.EINVALID) {
		// The refusal is for a person at a terminal: its message alone.
		return errors.New("care run: " + store.ErrorMessage(err))
	}
	return err
}
