package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestCreateAdmin: with no admin token and no admin, serve says how to
// make one; staff create-admin makes one and prints a one-time link whose
// code signs them in (once).
func TestCreateAdmin(t *testing.T) {
	ctx := context.Background()
	db := storetest.Config(t, store.SQLite)
	path := filepath.Join(t.TempDir(), "config.yaml")
	y := fmt.Sprintf("http:\n  addr: \"127.0.0.1:0\"\n  public_url: https://crm.example.com\ndatabase:\n  driver: %s\n  dsn: %q\n", db.Driver, db.DSN)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var log bytes.Buffer
	m := &Main{Config: cfg, Logger: newLogger(&log), Store: s}
	m.warnNoAdmin(ctx)
	if !strings.Contains(log.String(), "rapport staff create-admin -name NAME") {
		t.Errorf("no hint at a start without admins: %q", log.String())
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"staff", "create-admin", "-config", path}, &out, &out); err == nil || exitCode(err) != 2 {
		t.Errorf("without -name: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"staff", "create-admin", "-name", "王芳", "-config", path}, &out, &out); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`https://crm\.example\.com/console/#signin=(\d+)\.([A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	if link == nil {
		t.Fatalf("no sign-in link in %q", out.String())
	}
	if _, _, err := s.SignIn(ctx, store.SignInInput{Staff: link[1], Code: link[2]}); err != nil {
		t.Errorf("the link's code: %v", err)
	}
	if _, _, err := s.SignIn(ctx, store.SignInInput{Staff: link[1], Code: link[2]}); err == nil {
		t.Error("the link worked twice")
	}
	log.Reset()
	m.warnNoAdmin(ctx)
	if log.Len() != 0 {
		t.Errorf("hint with an admin: %q", log.String())
	}
	out.Reset()
	if err := run(ctx, []string{"staff", "create-admin", "-h"}, &out, &out); err != nil || !strings.Contains(out.String(), "-password-stdin") {
		t.Errorf("help: %v %q", err, out.String())
	}
}
