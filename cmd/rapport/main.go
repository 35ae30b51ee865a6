// Command rapport is the whole Rapport service in one binary:
//
//	rapport [serve]            HTTP API, chat adapters, care scheduler, outbox
//	rapport migrate            bring the schema up to date and exit
//	rapport care run W --date  run one care workflow for one date
//	rapport import customers|orders FILE.csv
//	rapport outbox requeue     send failed messages again (by channel, days, ids)
//	rapport analytics recompute  every customer's figures, tier, stage now
//	rapport staff create-admin the first admin, with a one-time console sign-in link
//	rapport version
//	rapport help [COMMAND]     what each command does; also COMMAND -h
//
// The commands and their help texts are in help.go.
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
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // the business zone must load on machines without zoneinfo

	"github.com/rapport-crm/rapport/store"
)

// version is set at build time: make build passes
// -ldflags "-X main.version=$(git describe --tags --always --dirty)".
var version string

// versionString is the version set at build time, else what Go recorded
// in the binary (the module version of a `go install ...@v1.2.3`, or the
// VCS revision of a `go build` in a checkout), else a plain "dev".
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev (built without version)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev (built without version)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	if at != "" {
		return "dev " + rev + " (" + at + ")"
	}
	return "dev " + rev
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rapport:", err)
		os.Exit(exitCode(err))
	}
}

// exitErr carries a specific exit status (import with rejected rows).
type exitErr struct {
	code int
	err  error
}

func (e exitErr) Error() string { return e.err.Error() }

// exitCode is 2 for a command line that is not right, the error's own
// status (exitErr) or 1.
func exitCode(err error) int {
	var e exitErr
	if errors.As(err, &e) {
		return e.code
	}
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// run is the whole command line: args without the program name. A help
// that was asked for and printed is success (nil).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, errHelped) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help" || a == "--h":
			cmd, args = "help", nil
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "care":
		return runCare(ctx, args, stdout, stderr)
	case "import":
		return runImport(ctx, args, stdout, stderr)
	case "outbox":
		return runOutbox(ctx, args, stdout, stderr)
	case "analytics":
		return runAnalytics(ctx, args, stdout, stderr)
	case "points":
		return runPoints(ctx, args, stdout, stderr)
	case "staff":
		return runStaff(ctx, args, os.Stdin, stdout, stderr)
	case "version":
		if _, err := parseFlags(newFlags("version"), args, stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rapport", versionString())
		return nil
	case "help":
		if len(args) == 0 {
			printOverview(stdout)
			return nil
		}
		// rapport help care run = rapport care run -h
		return dispatch(ctx, append(args, "-h"), stdout, stderr)
	}
	return usageError{msg: fmt.Sprintf("unknown command %q; 'rapport help' lists the commands", cmd)}
}

// configFlag registers -config on fs; RAPPORT_CONFIG is the default.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("RAPPORT_CONFIG")
	return fs.String("config", def, "config file (default config.yaml; env RAPPORT_CONFIG)")
}

// openConfigured loads the config (loadConfig) and opens its database,
// migrated: what every command but serve starts with.
func openConfigured(ctx context.Context, path string) (*Config, *store.Store, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := openStore(ctx, cfg)
	return cfg, s, err
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
