package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

// runStaff is `rapport staff create-admin`: the first admin, for a start
// without admin.bootstrap_token. It prints a one-time sign-in link (valid
// an hour) and, with -password-stdin, sets a password read from stdin.
func runStaff(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("staff create-admin")
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "the admin's name, as they type it to sign in (required)")
	pwStdin := fs.Bool("password-stdin", false, "read a password (10-128 characters) from the first line of standard input")
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || rest[0] != "create-admin":
		return usageError{"staff create-admin", "the staff command is: rapport staff create-admin -name NAME"}
	case len(rest) > 1:
		return usageError{"staff create-admin", "unexpected arguments " + strings.Join(rest[1:], " ")}
	case strings.TrimSpace(*name) == "":
		return usageError{"staff create-admin", "-name is required"}
	}
	var password string
	if *pwStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if n := len([]rune(password)); n < store.MinPasswordLen || n > store.MaxPasswordLen {
			return usageError{"staff create-admin", fmt.Sprintf("the password must be %d-%d characters", store.MinPasswordLen, store.MaxPasswordLen)}
		}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.CreateAdmin(ctx, *name)
	if err != nil {
		return err
	}
	if password != "" {
		if err := s.SetPassword(ctx, store.PasswordChange{StaffID: st.ID, Password: password, By: store.SystemActor()}); err != nil {
			return err
		}
	}
	code, err := s.IssueSignInLink(ctx, st.ID)
	if err != nil {
		return err
	}
	base := strings.TrimRight(cfg.HTTP.PublicURL, "/")
	if base == "" {
		base = "http://localhost" + portOf(cfg.HTTP.Addr)
	}
	fmt.Fprintf(stdout, "admin %q created (staff id %d).\n", st.Name, st.ID)
	fmt.Fprintf(stdout, "Sign in once with this link within %s (it works one time):\n  %s/console/#signin=%d.%s\n", store.SignInLinkTTL, base, st.ID, code)
	fmt.Fprintf(stdout, "or on the sign-in page: name %d, code %s\n", st.ID, code)
	if password != "" {
		fmt.Fprintln(stdout, "The password read from stdin is set as well.")
	}
	fmt.Fprintln(stdout, "Then bind your Telegram or WeChat account (the console shows how) to receive sign-in codes there.")
	return nil
}

// portOf is ":8080" for an address like ":8080" or "0.0.0.0:8080".
func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return ""
}

// warnNoAdmin says, at a start without admin.bootstrap_token and with
// nobody able to administer, how to make the first admin.
func (m *Main) warnNoAdmin(ctx context.Context) {
	if m.Config.Admin.BootstrapToken != "" {
		return
	}
	ok, err := m.Store.HasAdmin(ctx)
	if err != nil || ok {
		return
	}
	cfg := os.Getenv("RAPPORT_CONFIG")
	hint := "rapport staff create-admin -name NAME"
	if cfg != "" {
		hint += " -config " + cfg
	}
	m.Logger.Warn("no admin yet: create the first one with `"+hint+"` (it prints a one-time sign-in link for the console), "+
		"or set RAPPORT_ADMIN_TOKEN (admin.bootstrap_token) for an API token", "command", hint)
}
