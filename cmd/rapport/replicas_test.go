package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store/storetest"
)

// ReplicaDSNsEnv names the servers TestReplicas runs one `rapport serve`
// on each: comma-separated MySQL DSNs without a database, e.g. the three
// Galera nodes, or one server repeated. `make test-galera` and
// `make test-tidb` set it.
const ReplicaDSNsEnv = "RAPPORT_TEST_REPLICA_DSNS"

// replica is one `rapport serve` process.
type replica struct {
	base   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
	killed bool // by the test, on purpose
}

// TestReplicas runs several `rapport serve` processes (the real binary) on
// one database, each on its own server of $RAPPORT_TEST_REPLICA_DSNS, all
// started at once, and drives them over HTTP the way a load balancer
// without sticky sessions would: every Telegram update and web chat post
// goes to one replica and, redelivered, to another; admin API sends and a
// care run are spread and repeated across them. Nothing may be lost,
// nothing doubled, and the channel rate holds globally.
//
// It needs a cluster, so it runs only when the variable is set (not in
// `make test`).
func TestReplicas(t *testing.T) {
	raw := os.Getenv(ReplicaDSNsEnv)
	if raw == "" {
		t.Skip(ReplicaDSNsEnv + " is not set; `make test-galera` or `make test-tidb` sets it")
	}
	var servers []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			servers = append(servers, s)
		}
	}
	if len(servers) < 2 {
		t.Fatalf("%s: want at least two DSNs, got %q", ReplicaDSNsEnv, raw)
	}
	name := replicaDatabase(t, servers)

	bin := filepath.Join(t.TempDir(), "rapport")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	tg := telegramtest.New(t)
	// Telegram's flood control at the configured global rate (25/s, a
	// second's burst): a 429 means the replicas together sent faster.
	tg.SetLimiter(rate.NewLimiter(25, 25))

	reps := make([]*replica, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		reps[i] = startReplica(t, bin, srv+name, tg.URL())
	}
	for i, r := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.waitReady(t, i)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	api := func(i int, method, path string, body any, want int) map[string]any {
		t.Helper()
		return reps[i%len(reps)].api(t, method, path, body, want)
	}

	// Telegram: users write to the bot; each update reaches one replica and
	// is redelivered to the next (Telegram retries when an answer is slow).
	const users, perUser = 24, 5
	var updates []string
	for u := range users {
		from := fmt.Sprint(7000 + u)
		for k := range perUser + 1 {
			text := "/start"
			if k > 0 {
				text = fmt.Sprintf("replica test %d-%d", u, k)
			}
			id := 1000 + u*(perUser+1) + k
			quoted, _ := json.Marshal(text)
			updates = append(updates, fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%s,"type":"private"},"from":%s,"text":%s}}`,
				id, id, time.Now().Unix(), from, user(from), quoted))
		}
	}
	// One goroutine per user keeps each user's messages in order, as
	// Telegram does; users run concurrently.
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perUser + 1 {
				n := u*(perUser+1) + k
				for _, r := range []*replica{reps[n%len(reps)], reps[(n+1)%len(reps)]} {
					if code := r.webhook(updates[n]); code != 200 {
						t.Errorf("update %d to %s = %d", n, r.base, code)
					}
				}
			}
		}()
	}
	wg.Wait()

	// Web chat: one visitor's posts land on every replica (the cookie is
	// signed with a secret they share); each post is retried on another.
	const visitors, perVisitor = 6, 4
	visitorIDs := make([]string, visitors)
	for v := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			ip := fmt.Sprintf("198.51.100.%d", v+1) // own address: own rate budget
			for k := range perVisitor {
				body := fmt.Sprintf(`{"id":"m%d","text":"web %d-%d"}`, k, v, k)
				for _, r := range []*replica{reps[k%len(reps)], reps[(k+1)%len(reps)]} {
					post := func() (*http.Response, []byte, error) {
						req, _ := http.NewRequest("POST", r.base+"/chat/messages", strings.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-Forwarded-For", ip)
						resp, err := c.Do(req)
						if err != nil {
							return nil, nil, err
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						return resp, raw, nil
					}
					resp, raw, err := post()
					if err == nil && resp.StatusCode == 403 && strings.Contains(string(raw), "visitor_required") {
						// The first post starts the chat (its answer sets the
						// cookie); the page sends the message again.
						resp, raw, err = post()
					}
					if err != nil {
						t.Errorf("web chat post: %v", err)
						return
					}
					if resp.StatusCode != 202 {
						t.Errorf("web chat post %d of visitor %d to %s = %d: %s", k, v, r.base, resp.StatusCode, raw)
					}
				}
			}
			for _, ck := range jar.Cookies(mustURL(reps[0].base + "/chat")) {
				if ck.Name == "rapport_chat" {
					visitorIDs[v], _, _ = strings.Cut(ck.Value, ".")
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every user is one customer holding each message once, whichever
	// replica answers.
	cids := make([]int, users)
	for u := range users {
		from := fmt.Sprint(7000 + u)
		var found []any
		telegramtest.WaitFor(t, "customer "+from, 30*time.Second, func() bool {
			found, _ = api(u, "GET", "/customers?channel=telegram&external_id="+from, nil, 200)["items"].([]any)
			return len(found) > 0
		})
		if len(found) != 1 {
			t.Fatalf("user %s is %d customers: %v", from, len(found), found)
		}
		cids[u] = int(found[0].(map[string]any)["id"].(float64))
		var want []string
		for k := 1; k <= perUser; k++ {
			want = append(want, fmt.Sprintf("replica test %d-%d", u, k))
		}
		waitInbound(t, reps[(u+1)%len(reps)], cids[u], "replica test ", want)
	}
	for v, id := range visitorIDs {
		if id == "" {
			t.Fatalf("visitor %d got no cookie", v)
		}
		found, _ := api(v, "GET", "/customers?channel=webchat&external_id="+id, nil, 200)["items"].([]any)
		if len(found) != 1 {
			t.Fatalf("visitor %d is %d customers: %v", v, len(found), found)
		}
		var want []string
		for k := range perVisitor {
			want = append(want, fmt.Sprintf("web %d-%d", v, k))
		}
		waitInbound(t, reps[v%len(reps)], int(found[0].(map[string]any)["id"].(float64)), "web ", want)
	}

	// Outbound: each API send is posted once, on one replica; every
	// replica dispatches; each must arrive once.
	for u, cid := range cids {
		for k := range 2 {
			api(u+k, "POST", fmt.Sprintf("/customers/%d/messages", cid), map[string]any{"text": fmt.Sprintf("agent note %d-%d", u, k)}, 201)
		}
	}
	// Care: the same birthday run is asked of every replica at once.
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(shanghai).Format("2006-01-02")
	for u, cid := range cids {
		api(u, "PATCH", fmt.Sprintf("/customers/%d", cid), map[string]any{"birthday": "1992-" + today[5:]}, 200) // a leap year: Feb 29 too
	}
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, raw, err := reps[i].call("POST", "/care/runs", map[string]any{"workflow": "birthday", "date": today})
			if err != nil || code != 200 {
				t.Errorf("birthday run on replica %d = %d %v: %s", i, code, err, raw)
			}
		}()
	}
	wg.Wait()

	// Each chat: one welcome, two agent notes, one greeting, nothing twice.
	for u := range users {
		chat := fmt.Sprint(7000 + u)
		telegramtest.WaitFor(t, "4 messages to "+chat, 60*time.Second, func() bool { return len(tg.SentTo(chat)) >= 4 })
	}
	time.Sleep(2 * time.Second) // a doubled send would show up by now
	for u := range users {
		chat := fmt.Sprint(7000 + u)
		got := tg.SentTo(chat)
		seen := map[string]int{}
		for _, s := range got {
			seen[s]++
		}
		for s, n := range seen {
			if n > 1 {
				t.Errorf("chat %s got %q %d times", chat, s, n)
			}
		}
		for k := range 2 {
			if want := fmt.Sprintf("agent note %d-%d", u, k); seen[want] != 1 {
				t.Errorf("chat %s got %q %d times; all: %q", chat, want, seen[want], got)
			}
		}
		if len(got) != 4 {
			t.Errorf("chat %s got %d messages, want 4 (welcome, 2 notes, greeting): %q", chat, len(got), got)
		}
	}
	if n := tg.TooMany(); n > 0 {
		t.Errorf("the replicas together exceeded the 25/s Telegram rate: %d sends answered 429", n)
	}
	runs, _ := api(0, "GET", "/care/runs?limit=500", nil, 200)["items"].([]any)
	greeted := 0.0
	for _, it := range runs {
		if r := it.(map[string]any); r["workflow"] == "birthday" && r["date"] == today {
			greeted += r["queued"].(float64)
		}
	}
	if greeted != users {
		t.Errorf("birthday runs for %s queued %v greetings, want %d: %v", today, greeted, users, runs)
	}
	t.Logf("%d replicas: %d updates and %d web chat posts, each delivered twice; %d Telegram sends, %d care runs",
		len(reps), len(updates), visitors*perVisitor, tg.Count(), len(runs))
	if t.Failed() {
		for i, r := range reps {
			t.Logf("replica %d (%s) log:\n%s", i, r.base, r.stderr.String())
		}
	}
}

// replicaDatabase creates a fresh utf8mb4 database on the first server and
// waits until every server sees it (replication); dropped at cleanup.
func replicaDatabase(t testing.TB, servers []string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "rapport_replicas_" + hex.EncodeToString(b[:])
	dbs := make([]*sql.DB, len(servers))
	for i, s := range servers {
		db, err := sql.Open("mysql", s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := dbs[0].ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create database on %s: %v", servers[0], err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		dbs[0].ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	})
	for i, db := range dbs {
		telegramtest.WaitFor(t, "database on "+servers[i], 20*time.Second, func() bool {
			var got string
			return db.QueryRowContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&got) == nil
		})
	}
	return name
}

// startReplica starts the binary with its own config on a free port;
// telegramExtra adds settings to its telegram block ("  key: value\n").
func startReplica(t testing.TB, bin, dsn, telegramURL string, telegramExtra ...string) *replica {
	t.Helper()
	addr := replicaAddr(t)
	y := fmt.Sprintf(`http:
  addr: %q
  public_url: https://crm.example.com
database:
  driver: mysql
  dsn: %q
admin:
  bootstrap_token: %q
business_name: "青柠洗车"
timezone: Asia/Shanghai
quiet_hours: {}
telegram:
  enabled: true
  token: %q
  mode: webhook
  webhook_secret: %q
  api_url: %q
`, addr, dsn, e2eToken, telegramtest.Token, e2eSecret, telegramURL) + strings.Join(telegramExtra, "")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &replica{base: "http://" + addr, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	r.cmd = exec.Command(bin, "serve", "-config", path)
	r.cmd.Stdout = io.Discard
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-r.done:
			if err != nil && !r.killed {
				t.Errorf("replica %s: %v\n%s", r.base, err, r.stderr.String())
			}
		case <-time.After(20 * time.Second):
			r.cmd.Process.Kill()
			t.Errorf("replica %s did not stop within 20 s", r.base)
		}
	})
	return r
}

// replicaPorts are the ports handed to replicas by this test process.
var replicaPorts = struct {
	sync.Mutex
	used map[string]bool
}{used: map[string]bool{}}

// replicaAddr picks a free local address for a replica to listen on. The
// port is free when picked but held by nobody until the replica binds it,
// so a replica started right after could be handed the same port by the
// kernel: each is handed out once per test process.
func replicaAddr(t testing.TB) string {
	replicaPorts.Lock()
	defer replicaPorts.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !replicaPorts.used[addr] {
			replicaPorts.used[addr] = true
			return addr
		}
	}
	t.Fatal("no unused local port in 100 tries")
	return ""
}

func (r *replica) waitReady(t testing.TB, i int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			r.done <- err
			t.Errorf("replica %d exited at start: %v\n%s", i, err, r.stderr.String())
			return
		default:
		}
		if resp, err := http.Get(r.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("replica %d: /readyz never answered 200\n%s", i, r.stderr.String())
}

func (r *replica) api(t *testing.T, method, path string, body any, want int) map[string]any {
	t.Helper()
	code, raw, err := r.call(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("%s %s%s = %d, want %d: %s\nreplica log:\n%s", method, r.base, path, code, want, raw, r.stderr.String())
	}
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return out
}

// call is one admin API request with the bootstrap token.
func (r *replica) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.base+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func (r *replica) webhook(update string) int {
	req, _ := http.NewRequest("POST", r.base+"/webhooks/telegram", strings.NewReader(update))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", e2eSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitInbound waits until the customer's inbound messages starting with
// prefix are exactly want, in order, each once.
func waitInbound(t *testing.T, r *replica, cid int, prefix string, want []string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = got[:0]
		items, _ := r.api(t, "GET", fmt.Sprintf("/customers/%d/messages?limit=500", cid), nil, 200)["items"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			if text, _ := m["text"].(string); m["direction"] == "in" && strings.HasPrefix(text, prefix) {
				got = append(got, text)
			}
		}
		if strings.Join(got, "|") == strings.Join(want, "|") {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			if len(got) == len(want) && sameSet(got, want) {
				t.Errorf("customer %d inbound out of order (each once): %q, want %q", cid, got, want)
				return
			}
			t.Fatalf("customer %d inbound = %q, want %q (lost or doubled)", cid, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedBuffer lets a process's stderr be read while it is written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func sameSet(a, b []string) bool {
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestReplicaKilled: two `rapport serve` on one database (the test MySQL
// server, or the first of $RAPPORT_TEST_REPLICA_DSNS), a backlog of API
// sends draining at 4/s, and the replica holding the Telegram dispatch
// lease killed (SIGKILL: no clean shutdown) mid-way. The other takes the
// lease over and finishes: every message arrives, none is lost. A message
// the dead replica had handed to Telegram but not yet marked sent may be
// sent again (at-least-once at a crash); at most the sends in flight.
func TestReplicaKilled(t *testing.T) {
	server := storetest.MySQLServerDSN()
	if raw := os.Getenv(ReplicaDSNsEnv); raw != "" {
		server = strings.TrimSpace(strings.Split(raw, ",")[0])
	}
	name := replicaDatabase(t, []string{server})
	bin, err := benchBinary()
	if err != nil {
		t.Fatal(err)
	}
	tg := telegramtest.New(t)
	reps := []*replica{
		startReplica(t, bin, server+name, tg.URL(), "  rate_per_second: 4\n"),
		startReplica(t, bin, server+name, tg.URL(), "  rate_per_second: 4\n"),
	}
	for i, r := range reps {
		r.waitReady(t, i)
	}
	if t.Failed() {
		t.FailNow()
	}
	const users, perUser = 10, 4
	cids := make([]int, users)
	for u := range users {
		from := fmt.Sprint(8000 + u)
		update := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%s,"type":"private"},"from":%s,"text":"hello"}}`,
			9000+u, 9000+u, time.Now().Unix(), from, user(from))
		if code := reps[u%2].webhook(update); code != 200 {
			t.Fatalf("update from %s = %d", from, code)
		}
		var found []any
		telegramtest.WaitFor(t, "customer "+from, 30*time.Second, func() bool {
			found, _ = reps[u%2].api(t, "GET", "/customers?channel=telegram&external_id="+from, nil, 200)["items"].([]any)
			return len(found) == 1
		})
		cids[u] = int(found[0].(map[string]any)["id"].(float64))
	}
	base := tg.Count()
	for k := range perUser {
		for u, cid := range cids {
			reps[(u+k)%2].api(t, "POST", fmt.Sprintf("/customers/%d/messages", cid), map[string]any{"text": fmt.Sprintf("note %d-%d", u, k)}, 201)
		}
	}
	// Let the holder send some, then kill it.
	telegramtest.WaitFor(t, "the first sends", 30*time.Second, func() bool { return tg.Count()-base >= 3 })
	db, err := sql.Open("mysql", server+name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var holder string
	if err := db.QueryRow("SELECT holder FROM leases WHERE name = 'dispatch:telegram'").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	var victim *replica
	for _, r := range reps {
		if strings.Contains(holder, fmt.Sprintf("-%d-", r.cmd.Process.Pid)) {
			victim = r
		}
	}
	if victim == nil {
		t.Fatalf("lease holder %q is neither replica", holder)
	}
	victim.killed = true
	victim.cmd.Process.Kill()
	sentAtKill := tg.Count() - base
	// The survivor takes the lease once it lapses and sends the rest.
	for u := range users {
		chat := fmt.Sprint(8000 + u)
		telegramtest.WaitFor(t, fmt.Sprintf("%d notes to %s", perUser, chat), 90*time.Second, func() bool {
			seen := map[string]bool{}
			for _, s := range tg.SentTo(chat) {
				seen[s] = true
			}
			return len(seen) >= perUser
		})
	}
	doubled := 0
	for u := range users {
		seen := map[string]int{}
		for _, s := range tg.SentTo(fmt.Sprint(8000 + u)) {
			seen[s]++
		}
		for k := range perUser {
			want := fmt.Sprintf("note %d-%d", u, k)
			if seen[want] < 1 {
				t.Errorf("%q never arrived", want)
			}
			doubled += seen[want] - 1
		}
	}
	if doubled > 4 {
		t.Errorf("%d notes arrived twice; only the sends in flight at the kill may", doubled)
	}
	t.Logf("%d of %d notes sent before the kill, the rest by the survivor; %d sent again", sentAtKill, users*perUser, doubled)
}
