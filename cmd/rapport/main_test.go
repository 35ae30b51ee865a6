package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// writeConfig writes a config for a fresh database of the dialect on a free
// port and returns its path and the HTTP base URL.
func writeConfig(t *testing.T, dialect, extra string) (path, base string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	db := storetest.Config(t, dialect)
	y := fmt.Sprintf("http:\n  addr: %q\n  public_url: https://crm.example.com\ndatabase:\n  driver: %s\n  dsn: %q\nadmin:\n  bootstrap_token: %q\n%s",
		addr, db.Driver, db.DSN, "serve-test-token-0123456789", extra)
	path = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, "http://" + addr
}

func waitReady(t *testing.T, base string, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("/readyz never answered 200")
}

func TestServeStartsAndShutsDownCleanly(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			path, base := writeConfig(t, d, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stderr bytes.Buffer
			errc := make(chan error, 1)
			go func() { errc <- run(ctx, []string{"serve", "-config", path}, &bytes.Buffer{}, &stderr) }()
			waitReady(t, base, errc)

			req, _ := http.NewRequest("POST", base+"/api/v1/customers", strings.NewReader(`{"name":"张伟"}`))
			req.Header.Set("Authorization", "Bearer serve-test-token-0123456789")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Errorf("create with the bootstrap token = %d", resp.StatusCode)
			}

			// A visitor's open event stream must not hold shutdown.
			stream, err := http.Get(base + "/chat/events")
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Body.Close()

			start := time.Now()
			cancel() // SIGINT/SIGTERM cancel this context in main
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("serve returned %v (exit status 1)\n%s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop within 10 s")
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("shutdown took %v", time.Since(start))
			}
			if _, err := http.Get(base + "/healthz"); err == nil {
				t.Error("still serving after shutdown")
			}
		})
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("care:\n  birthday:\n    schedule: 'every day'\n"), 0o600)
	err := run(context.Background(), []string{"serve", "-config", path}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "care.birthday.schedule") {
		t.Errorf("err = %v, want it to name care.birthday.schedule", err)
	}
}

func TestMigrateAndVersionCommands(t *testing.T) {
	path, _ := writeConfig(t, store.SQLite, "")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "-config", path}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"migrate", "-config", path}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, &out, &bytes.Buffer{}); err != nil || !strings.HasPrefix(out.String(), "rapport ") {
		t.Errorf("version: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &bytes.Buffer{}); err == nil {
		t.Error("unknown command accepted")
	}
}
