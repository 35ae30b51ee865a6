package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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
	d.Schedule = careSchedule{svc}
	m.Hooks = append(m.Hooks, svc)
	m.goLoop("care scheduler", ctx, svc.Schedule)
	return nil
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
		return usageError{"care run", "which workflow? (birthday, holiday, maintenance, survey, revisit, winback)"}
	case len(rest) > 2:
		return usageError{"care run", "unexpected arguments " + strings.Join(rest[2:], " ")}
	}
	workflow := rest[1]
	if !care.IsWorkflow(workflow) {
		return usageError{"care run", fmt.Sprintf("%q is not a workflow (birthday, holiday, maintenance, survey, revisit, winback)", workflow)}
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
