package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// help is what `rapport CMD -h` prints about a sub-command, around the
// flags its FlagSet lists with their defaults.
type help struct {
	name     string // as typed: "care run"
	synopsis string // one line, for `rapport help`
	usage    string // the command line
	about    string // what it does
	example  string
}

// commands are the sub-commands, in the order `rapport help` lists them.
var commands = []help{
	{
		name:     "serve",
		synopsis: "run everything: HTTP API, webhooks, web chat, console, care scheduler, outbox (the default)",
		usage:    "rapport [serve] [-config FILE]",
		about: `Brings the database schema up to date, then serves the API under /api/v1, the
chat webhooks, the web chat (/chat), the console (/console/), /healthz,
/readyz and /metrics on http.addr, and runs the chat channels, the care
scheduler, the follow-up loop and the outbox dispatcher until SIGINT or
SIGTERM. Several processes may serve one MySQL database.

admin.bootstrap_token (16+ characters; the shipped config.yaml reads it from
$RAPPORT_ADMIN_TOKEN) is an admin API token. Without a config file it runs on
an embedded SQLite file, data/rapport.db, with every chat platform off and
no admin token.`,
		example: `RAPPORT_ADMIN_TOKEN=change-me-to-something-long rapport serve -config /etc/rapport/config.yaml`,
	},
	{
		name:     "migrate",
		synopsis: "bring the database schema up to date and exit",
		usage:    "rapport migrate [-config FILE]",
		about: `Applies the schema steps the database lacks, in order, and exits. Run it
with the new binary after stopping every replica, before starting them again
(serve migrates too, but a long step is better run on its own). Running it
again changes nothing. It prints what the conversion of stored phones to
one canonical form could not decide: customers sharing a number (left for
staff: GET /api/v1/phone-claims?status=pending) and numbers it could not read.`,
		example: `rapport migrate -config /etc/rapport/config.yaml`,
	},
	{
		name:     "care run",
		synopsis: "run one care workflow for one date now",
		usage:    "rapport care run WORKFLOW [-date YYYY-MM-DD] [-dry-run] [-force] [-config FILE]",
		about: `Runs a care workflow (birthday, holiday, maintenance, survey, revisit,
winback, lifecycle) for a business date, as the scheduler would, and prints the run as
JSON. Messages go to the outbox, which a running 'rapport serve' sends.
Running a workflow and date again sends nobody anything twice. -dry-run
plans and renders without queueing (the run's "sample" shows who would get
what). A date after today is refused for a real run unless -force, since its
messages would go out now. Flags may come before or after WORKFLOW.`,
		example: `rapport care run birthday -date 2027-03-01 -dry-run`,
	},
	{
		name:     "import",
		synopsis: "load customers, orders or opening points balances from a CSV file",
		usage:    "rapport import customers|orders|points [-skip-bad-rows] [-config FILE] FILE.csv",
		about: `Reads a UTF-8 CSV file (a BOM is fine) with a header row.
  customers: name,phone,birthday,email,tags,external_ref,city,region
             (tags separated by ";", e.g. vip;wholesale)
  orders:    customer_phone or customer_external_ref,kind,amount,occurred_at
             and optionally asset_id, order_ref, refund_of; amount is exact
             to the fen (at most two decimals), negative for a refund
             (refund_of: the order_ref it refunds, whose points it reverses)
  points:    customer_phone or customer_external_ref,points and optionally
             reason: opening balances, one per customer, never expiring
Prints a summary and every rejected row with its line number. A file with a
bad row writes nothing and exits 1, unless -skip-bad-rows: then the good
rows are written and the bad ones still reported. Importing a file again is
safe: customers are updated by external_ref or phone, orders already stored
are skipped, and so are customers whose opening balance is recorded. After orders, the figures, tiers and stages of their customers
are brought up to date (docs/analytics.md).`,
		example: `rapport import customers -skip-bad-rows customers.csv`,
	},
	{
		name:     "outbox requeue",
		synopsis: "send failed outbound messages again",
		usage:    "rapport outbox requeue [-channel C] [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-id N,...] [-config FILE]",
		about: `Puts failed outbound messages (after a provider outage, say) back in the
queue; a running 'rapport serve' sends them. Pick them by channel, by the
business days they were created (-to inclusive) and/or by id; all given
filters must match, and at least one is required. Prints how many were
requeued. The API does the same: POST /api/v1/outbox/requeue.`,
		example: `rapport outbox requeue -channel telegram -from 2026-11-20`,
	},
	{
		name:     "analytics recompute",
		synopsis: "recompute every customer's figures, tier, RFM, CLV, churn risk and stage now",
		usage:    "rapport analytics recompute [-config FILE]",
		about: `Recomputes every customer's figures from their orders (what the nightly run at
analytics.schedule does, and POST /api/v1/analytics/recompute): orders and
spend in the window and lifetime, ABC tier, RFM scores and segment, lifetime
value, churn risk and lifecycle stage, recording each stage and tier change in
the customer's history. Pinned tiers and stages stay. Prints {"customers": N}.
A recompute already running (the nightly one, another replica's) makes it
fail with a message; run it again when that ends. docs/analytics.md states the
models.`,
		example: `rapport analytics recompute -config /etc/rapport/config.yaml`,
	},
	{
		name:     "points expire",
		synopsis: "apply the points expiry (and the birthday bonus) for a date now",
		usage:    "rapport points expire [-date YYYY-MM-DD] [-config FILE]",
		about: `Does the points job the server runs a minute past midnight every day, for a
business date (default today): under points.expire end_of_next_year it
expires the points earned two years or more before the date's year (every
customer's credits expiring at or before the latest year start, less what
they spent), and credits points.birthday_bonus to those born that day. The
same function as the daily job; running it again, or on several replicas at
once, applies nothing twice. Prints {"expiry": {...}, "birthdays": N}.`,
		example: `rapport points expire -date 2027-01-01 -config /etc/rapport/config.yaml`,
	},
	{
		name:     "staff create-admin",
		synopsis: "create an admin and print a one-time console sign-in link",
		usage:    "rapport staff create-admin -name NAME [-password-stdin] [-config FILE]",
		about: `Creates an active admin staff member and prints a one-time link (valid one
hour) that signs them in to the console, /console/. This is how the first
admin gets in when admin.bootstrap_token ($RAPPORT_ADMIN_TOKEN) is not set;
serve logs this hint at start while nobody can administer. After signing
in, bind a Telegram or WeChat account to receive sign-in codes there, or
set a password on "Me". With -password-stdin the first line of standard
input becomes the admin's password (10-128 characters) too.`,
		example: `echo 'a long secret phrase' | rapport staff create-admin -name 王芳 -password-stdin`,
	},
	{
		name:     "version",
		synopsis: "print the version",
		usage:    "rapport version",
		about:    `Prints the version set at build time ('make build'), else the module version or VCS revision Go recorded, else "dev (built without version)".`,
		example:  `rapport version`,
	},
	{
		name:     "help",
		synopsis: "list the commands, or explain one: rapport help import",
		usage:    "rapport help [COMMAND]",
		about:    `Without a command, lists the commands; with one, does what 'rapport COMMAND -h' does.`,
		example:  `rapport help care run`,
	},
}

// helpOf is the help of a command by name ("care run" or "care").
func helpOf(name string) (help, bool) {
	for _, c := range commands {
		if c.name == name || strings.HasPrefix(c.name, name+" ") {
			return c, true
		}
	}
	return help{}, false
}

// printOverview is `rapport help`: every command, one line each.
func printOverview(w io.Writer) {
	fmt.Fprintln(w, "Rapport is a chat-driven customer-care CRM in one binary.")
	fmt.Fprintln(w, "\nusage: rapport COMMAND [flags] [arguments]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintln(w, "\n'rapport COMMAND -h' explains a command and its flags. Every command reads")
	fmt.Fprintln(w, "config.yaml in the working directory, or -config FILE, or $RAPPORT_CONFIG.")
	fmt.Fprintln(w, "Docs: docs/ in the source (configuration.md, api.md, chat.md, operations.md).")
}

// print writes the command's help with fs's flags and their defaults.
func (h help) print(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", h.usage, h.about)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
	fmt.Fprintf(w, "\nexample:\n  %s\n", h.example)
}

// errHelped ends a command whose help was asked for and printed: exit 0.
var errHelped = errors.New("help printed")

// usageError is a command line that is not right (exit 2). Its message
// says what is wrong and how to get help.
type usageError struct {
	cmd string
	msg string
}

func (e usageError) Error() string {
	if e.cmd == "" {
		return e.msg
	}
	return fmt.Sprintf("%s: %s\nusage: %s\nRun 'rapport %s -h' for help.", e.cmd, e.msg, usageLine(e.cmd), e.cmd)
}

func usageLine(cmd string) string {
	h, _ := helpOf(cmd)
	return h.usage
}

// newFlags is a FlagSet for the command that prints nothing by itself:
// parseFlags reports -h and errors.
func newFlags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, letting flags and positional arguments mix
// (rapport care run birthday -dry-run, rapport import customers -config x
// FILE), and returns the positional ones. -h (or -help) prints the
// command's help on stdout and returns errHelped.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var rest []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			h, _ := helpOf(fs.Name())
			h.print(stdout, fs)
			return nil, errHelped
		case err != nil:
			return nil, usageError{fs.Name(), err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}
