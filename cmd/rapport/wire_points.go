package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/points"
)

// newPoints builds the points service (needs m.Store).
func (m *Main) newPoints() (*points.Service, error) {
	return points.New(m.Config.Points, points.Options{Store: m.Store, Location: m.Config.Location(), Logger: m.Logger})
}

// pointsNotice is when care's points_expiry workflow reminds: the
// points config decides, care asks.
func (m *Main) pointsNotice() func(time.Time) (time.Time, bool) {
	ps, err := points.New(m.Config.Points, points.Options{Location: m.Config.Location()})
	if err != nil {
		return nil // the config was validated at load
	}
	return ps.NoticeFor
}

// runPoints is `rapport points expire [-date D]`: the daily points job for
// one business date, through the function the server's job calls.
func runPoints(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("points expire")
	cfgPath := configFlag(fs)
	date := fs.String("date", "", "business date YYYY-MM-DD (default today, in the config's timezone)")
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || rest[0] != "expire":
		return usageError{"points expire", "the points command is: rapport points expire [-date YYYY-MM-DD]"}
	case len(rest) > 1:
		return usageError{"points expire", "unexpected arguments " + strings.Join(rest[1:], " ")}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	day := time.Now().In(cfg.Location())
	if *date != "" {
		if day, err = time.ParseInLocation(time.DateOnly, *date, cfg.Location()); err != nil {
			return usageError{"points expire", fmt.Sprintf("-date: %q is not YYYY-MM-DD", *date)}
		}
	}
	m := &Main{Config: cfg, Logger: newLogger(stderr)}
	if m.Store, err = openStore(ctx, cfg); err != nil {
		return err
	}
	defer m.Store.Close()
	ps, err := m.newPoints()
	if err != nil {
		return err
	}
	res, err := ps.Daily(ctx, day)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}
