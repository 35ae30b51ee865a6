package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite"
)

// Upgrading a database where two customers have one number written two
// ways: `rapport migrate` says they were not merged and where to decide.
func TestMigrateReportsSharedPhones(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "rapport.db")
	dump, err := os.ReadFile("../../store/testdata/release8.sqlite.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(string(dump), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}
	db.Close()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, "database:\n  driver: sqlite\n  dsn: %q\n", dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "-config", path}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 customer(s) share a number an older customer has on record; they were NOT merged",
		"phone-claims?status=pending", "customer 2: +8613800138000 is on record for customer 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("migrate printed:\n%s\nwant it to say %q", out.String(), want)
		}
	}
}
