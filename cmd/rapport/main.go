// Command rapport is the whole Rapport service in one binary:
//
//	rapport [serve]            HTTP API, chat adapters, care scheduler, outbox
//	rapport migrate            bring the schema up to date and exit
//	rapport care run W --date  run one care workflow for one date
//	rapport import customers|orders FILE.csv
//	rapport outbox requeue     send failed messages again (by channel, days, ids)
//	rapport version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the business zone must load on machines without zoneinfo
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rapport:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitErr carries a specific exit status (import with rejected rows).
type exitErr struct {
	code int
	err  error
}

func (e exitErr) Error() string { return e.err.Error() }

func exitCode(err error) int {
	var e exitErr
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "care":
		return runCare(ctx, args, stdout, stderr)
	case "import":
		return runImport(ctx, args, stdout, stderr)
	case "outbox":
		return runOutbox(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rapport", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage:
  rapport [serve] [-config config.yaml]
  rapport migrate [-config config.yaml]
  rapport care run WORKFLOW --date YYYY-MM-DD [-dry-run]
  rapport import customers|orders [-skip-bad-rows] FILE.csv
  rapport outbox requeue [-channel C] [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-id N,...]
  rapport version`

// configFlag registers -config on fs; RAPPORT_CONFIG is the default.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("RAPPORT_CONFIG")
	return fs.String("config", def, "config file (default config.yaml; env RAPPORT_CONFIG)")
}

// loadConfig loads the named file, or config.yaml if present.
func loadConfig(path string) (*Config, error) {
	if path == "" {
		return LoadConfig("config.yaml", false)
	}
	return LoadConfig(path, true)
}

func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("RAPPORT_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
