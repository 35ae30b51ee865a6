package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/web"
)

// newCare builds the care service from the config (needs m.Store).
func (m *Main) newCare() (*care.Service, error) {
	return care.New(m.Config.Care, care.Options{
		Store:             m.Store,
		Templates:         m.Templates,
		Location:          m.Config.Location(),
		QuietHours:        care.QuietHours{Start: m.Config.QuietHours.Start, End: m.Config.QuietHours.End},
		HasWeChatTemplate: func(wf string) bool { return m.Config.WeChat.Template(wf) != "" },
		Business:          m.Config.BusinessName,
		StaffLocale:       m.Config.Followup.StaffLocale,
		Registry:          m.Registry,
		Logger:            m.Logger,
	})
}

// wireCare builds the care runner, starts its scheduler (which first
// catches up missed runs) and adds the survey-answer chat hook.
func (m *Main) wireCare(ctx context.Context, d *web.Deps) error {
	svc, err := m.newCare()
	if err != nil {
		return err
	}
	d.Care = svc
	m.Hooks = append(m.Hooks, svc)
	m.goLoop("care scheduler", ctx, svc.Schedule)
	return nil
}

// runCare is `rapport care run WORKFLOW --date YYYY-MM-DD [-dry-run]
// [-force]`: it runs one workflow for one date through the same function
// as the scheduler and the API, and prints the run as JSON. A date after
// today needs -dry-run or -force.
func runCare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		return fmt.Errorf("usage: rapport care run WORKFLOW --date YYYY-MM-DD [-dry-run] [-force] [-config FILE]")
	}
	fs := flag.NewFlagSet("care run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	date := fs.String("date", "", "business date YYYY-MM-DD (default today)")
	dry := fs.Bool("dry-run", false, "plan and render without queueing")
	force := fs.Bool("force", false, "run a date after today for real (its messages go out now)")
	// Flags may come before or after the workflow name.
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("care run: which workflow? (birthday, holiday, maintenance, survey, revisit, winback)")
	}
	workflow := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("care run: unexpected arguments %s", strings.Join(fs.Args(), " "))
	}
	if !care.IsWorkflow(workflow) {
		return fmt.Errorf("care run: %q is not a workflow (birthday, holiday, maintenance, survey, revisit, winback)", workflow)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: newLogger(stderr)}
	if m.Store, err = openStore(ctx, cfg); err != nil {
		return err
	}
	defer m.Store.Close()
	deps := web.Deps{Store: m.Store, Logger: m.Logger}
	if err := m.wireTemplates(&deps); err != nil {
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
