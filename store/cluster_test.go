package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// On a Galera cluster row locks hold on one node only: what keeps replicas
// on different nodes from stepping on each other is that conflicting
// transactions write a common row, fail certification (1213) and are
// retried. These tests run the races across three nodes when
// $RAPPORT_TEST_GALERA_DSNS names them (`make test-galera` does); three
// DSNs of one server work too.

// clusterStores opens one store per node on one fresh database, migrating
// all at once.
func clusterStores(t *testing.T) []*store.Store {
	t.Helper()
	v := os.Getenv("RAPPORT_TEST_GALERA_DSNS")
	if v == "" {
		t.Skip("set RAPPORT_TEST_GALERA_DSNS to three node DSNs (make test-galera)")
	}
	dsns := strings.Split(v, ",")
	ctx := context.Background()
	root, err := sql.Open("mysql", dsns[0])
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "rapport_cluster_" + hex.EncodeToString(b[:])
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		root, err := sql.Open("mysql", dsns[0])
		if err == nil {
			root.Exec("DROP DATABASE IF EXISTS " + name)
			root.Close()
		}
	})
	stores := make([]*store.Store, len(dsns))
	for i, dsn := range dsns {
		// The other nodes apply the CREATE DATABASE a moment later.
		deadline := time.Now().Add(10 * time.Second)
		for {
			stores[i], err = store.Open(ctx, store.Config{Driver: store.MySQL, DSN: dsn + name})
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: migrating at once with the others: %v", i+1, err)
		}
	}
	return stores
}

// Deactivating a staff member on one node while tasks are assigned to them
// on the others leaves no open task with them.
func TestClusterDeactivationRacesAssignment(t *testing.T) {
	nodes := clusterStores(t)
	ctx := context.Background()
	mgr := store.Actor{Role: store.RoleManager, Via: store.ViaAPI}
	const rounds, each = 8, 4
	for r := range rounds {
		ann := mustStaff(t, nodes[0], fmt.Sprint("Ann", r), store.RoleAgent)
		bob := mustStaff(t, nodes[0], fmt.Sprint("Bob", r), store.RoleAgent)
		c := mustCustomer(t, nodes[0], fmt.Sprint("Zhao", r))
		var tasks []*store.Task
		for i := range each {
			tk, _, err := nodes[0].CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: fmt.Sprint("t", i), AssigneeID: &bob.ID})
			if err != nil {
				t.Fatal(err)
			}
			tasks = append(tasks, tk)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2*each+1)
		for i := range each {
			wg.Add(2)
			go func() {
				defer wg.Done()
				// A rule's choice: falls back to Bob once Ann is inactive.
				_, _, err := nodes[1].CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: fmt.Sprint("n", i), AssigneeID: &ann.ID})
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, err := nodes[2%len(nodes)].UpdateTask(ctx, tasks[i].ID, store.TaskUpdate{AssigneeID: &ann.ID}, mgr)
				if store.IsCode(err, store.EINVALID) { // Ann is inactive by then
					err = nil
				}
				errs <- err
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := nodes[0].UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, store.Actor{Role: store.RoleManager, Via: store.ViaAPI})
			errs <- err
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
		for i, s := range nodes {
			if got := openTasksOf(t, s, ann.ID); got != 0 {
				t.Errorf("round %d, node %d: deactivated staff has %d open tasks", r, i+1, got)
			}
		}
	}
}

// Dispatchers on every node claim the same outbox: each row is claimed
// once.
func TestClusterOutboxClaims(t *testing.T) {
	nodes := clusterStores(t)
	ctx := context.Background()
	const n = 300
	enqueueN(t, nodes[0], n, "cluster")
	var mu sync.Mutex
	claims := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(nodes))
	for _, s := range nodes {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for empty := 0; empty < 3; {
					ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 7, time.Minute)
					if err != nil {
						errs <- err
						return
					}
					if len(ms) == 0 {
						empty++
						time.Sleep(20 * time.Millisecond)
						continue
					}
					empty = 0
					ds := make([]store.Delivery, len(ms))
					mu.Lock()
					for i, m := range ms {
						claims[m.ID]++
						ds[i] = store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, ProviderMsgID: fmt.Sprint(m.ID)}
					}
					mu.Unlock()
					if err := s.CompleteOutbox(ctx, ds); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	twice := 0
	for _, k := range claims {
		if k > 1 {
			twice++
		}
	}
	if len(claims) != n || twice > 0 {
		t.Errorf("%d of %d rows claimed, %d of them more than once", len(claims), n, twice)
	}
}

// Replicas on every node start the same care run and take the same lease
// at once: one of them gets each.
func TestClusterClaims(t *testing.T) {
	nodes := clusterStores(t)
	ctx := context.Background()
	for d := range 6 {
		date := fmt.Sprintf("2027-02-%02d", d+1)
		var wg sync.WaitGroup
		var mu sync.Mutex
		runs, leases := 0, 0
		errs := make(chan error, 6*len(nodes))
		for i, s := range nodes {
			for k := range 3 {
				holder := fmt.Sprintf("node%d-%d", i+1, k)
				wg.Add(2)
				go func() {
					defer wg.Done()
					_, claimed, err := s.ClaimCareRun(ctx, "holiday", date, false, false, holder, time.Minute)
					mu.Lock()
					if claimed {
						runs++
					}
					mu.Unlock()
					errs <- err
				}()
				go func() {
					defer wg.Done()
					ok, err := s.AcquireLease(ctx, "cluster:"+date, holder, time.Minute)
					mu.Lock()
					if ok {
						leases++
					}
					mu.Unlock()
					errs <- err
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if runs != 1 || leases != 1 {
			t.Errorf("%s: care run claimed %d times, lease taken %d times; want once each", date, runs, leases)
		}
	}
}
