package bots_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rapport-crm/rapport/bots"
)

// TestHealthLogsStateChanges: one log line per change of state, however
// often a failure is reported; the gauge follows the state.
func TestHealthLogsStateChanges(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	h := bots.NewHealth(reg, slog.New(slog.NewTextHandler(&logs, nil)))
	h.Start("telegram", bots.StateOK, "")
	h.Start("wechat", bots.StateDisabled, "not enabled")
	if logs.Len() != 0 {
		t.Fatalf("the initial states were logged: %s", logs.String())
	}
	for i := range 5 {
		h.Degraded("telegram", "setWebhook: connection refused "+strings.Repeat("!", i))
	}
	if got, _ := h.Get("telegram"); got.State != bots.StateDegraded || !strings.HasSuffix(got.Reason, "!!!!") {
		t.Fatalf("state %+v; want degraded with the latest reason", got)
	}
	if v, ok := up(t, reg, "telegram"); !ok || v != 0 {
		t.Errorf("rapport_channel_up{telegram} = %v while degraded", v)
	}
	h.OK("telegram")
	h.OK("telegram")
	if v, _ := up(t, reg, "telegram"); v != 1 {
		t.Errorf("rapport_channel_up{telegram} = %v when ok", v)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "channel degraded") || !strings.Contains(lines[1], "channel recovered") {
		t.Fatalf("log lines:\n%s\nwant one for degraded, one for recovered", logs.String())
	}
	want := map[string]string{"telegram": "ok", "wechat": "disabled"}
	if diff := cmp.Diff(want, h.ChannelStates()); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if _, ok := up(t, reg, "wechat"); ok {
		t.Error("rapport_channel_up has a series for a disabled channel")
	}

	var none *bots.Health // adapters run without one in tests
	none.OK("telegram")
	none.Degraded("telegram", "x")
	if len(none.ChannelStates()) != 0 {
		t.Error("a nil Health has states")
	}
}

// up is rapport_channel_up{channel}, and whether the series exists.
func up(t *testing.T, reg *prometheus.Registry, channel string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rapport_channel_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == channel {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestRetryDelay: exponential, capped, jittered within [d/2, d].
func TestRetryDelay(t *testing.T) {
	for attempt, full := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		for range 50 {
			d := bots.RetryDelay(attempt, time.Second, 10*time.Second)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: %v; want within [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	if d := bots.RetryDelay(1000, time.Second, time.Minute); d > time.Minute {
		t.Fatalf("attempt 1000: %v; want capped at 1m", d)
	}
}
