package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Every command explains itself on -h: what it does, its flags with
// their defaults and an example, on stdout, with exit status 0. Before,
// -h printed the bare flag list on stderr and exited 2, and `rapport care
// -h` or `rapport import -h` printed one line and exited 1.
func TestHelpOfEveryCommand(t *testing.T) {
	tests := []struct {
		args []string
		want []string // in the help, besides "usage: " and "example:"
	}{
		{[]string{"serve", "-h"}, []string{"rapport [serve]", "-config", "admin.bootstrap_token"}},
		{[]string{"migrate", "-h"}, []string{"rapport migrate", "-config", "stopping every replica"}},
		{[]string{"migrate", "--help"}, []string{"rapport migrate"}},
		{[]string{"care", "-h"}, []string{"rapport care run WORKFLOW", "-date", "-dry-run", "-force", "winback"}},
		{[]string{"care", "run", "-h"}, []string{"rapport care run WORKFLOW", "-date", "-dry-run", "-force"}},
		{[]string{"care", "run", "birthday", "-h"}, []string{"rapport care run WORKFLOW"}},
		{[]string{"import", "-h"}, []string{"customers|orders", "-skip-bad-rows", `separated by ";"`, "order_ref"}},
		{[]string{"import", "customers", "-h"}, []string{"customers|orders"}},
		{[]string{"outbox", "-h"}, []string{"rapport outbox requeue", "-channel", "-from", "-to", "-id"}},
		{[]string{"outbox", "requeue", "-h"}, []string{"rapport outbox requeue", "-channel"}},
		{[]string{"version", "-h"}, []string{"rapport version"}},
		{[]string{"help", "import"}, []string{"customers|orders", "-skip-bad-rows"}},
		{[]string{"help", "care", "run"}, []string{"rapport care run WORKFLOW", "-force"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errb)
			if err != nil {
				t.Fatalf("err = %v (exit %d), want exit 0", err, exitCode(err))
			}
			if errb.Len() > 0 {
				t.Errorf("stderr: %q", errb.String())
			}
			for _, w := range append([]string{"usage: ", "example:\n  "}, tt.want...) {
				if !strings.Contains(out.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestHelpListsTheCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, c := range []string{"serve", "migrate", "care run", "import", "outbox requeue", "version", "help"} {
			if !strings.Contains(out.String(), "\n  "+c+" ") {
				t.Errorf("%v does not list %q:\n%s", args, c, out.String())
			}
		}
	}
}

// A command line that is not right says what is wrong and where the help
// is, and exits 2 (the convention for usage errors); nothing runs.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "-bogus"}, "serve: flag provided but not defined: -bogus"},
		{[]string{"serve", "extra"}, `serve: unexpected argument "extra"`},
		{[]string{"migrate", "extra"}, `migrate: unexpected argument "extra"`},
		{[]string{"care"}, "the care command is: rapport care run WORKFLOW"},
		{[]string{"care", "run"}, "which workflow?"},
		{[]string{"care", "run", "birthdays"}, `"birthdays" is not a workflow`},
		{[]string{"import"}, "customers, orders or points"},
		{[]string{"import", "customers"}, "give exactly one CSV file"},
		{[]string{"import", "orders", "a.csv", "b.csv"}, "give exactly one CSV file"},
		{[]string{"outbox"}, "rapport outbox requeue"},
		{[]string{"outbox", "requeue", "-from", "yesterday"}, `-from "yesterday" is not YYYY-MM-DD`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if exitCode(err) != 2 {
				t.Errorf("exit %d, want 2", exitCode(err))
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	// A test binary records no VCS revision: the plain fallback.
	if got := out.String(); got != "rapport dev (built without version)\n" {
		t.Errorf("version = %q", got)
	}
	defer func(v string) { version = v }(version)
	version = "v1.4.0-3-g1a2b3c4"
	out.Reset()
	run(context.Background(), []string{"version"}, &out, &out)
	if got := out.String(); got != "rapport v1.4.0-3-g1a2b3c4\n" {
		t.Errorf("version set at build time = %q", got)
	}
}
