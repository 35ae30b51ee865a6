package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
)

func TestOutboxRequeueCommand(t *testing.T) {
	for _, d := range []string{store.SQLite, store.MySQL} {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			path, _ := writeConfig(t, d, "")
			cfg, err := LoadConfig(path, true)
			if err != nil {
				t.Fatal(err)
			}
			s, err := openStore(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fail := func(channel, text string) int64 {
				t.Helper()
				if _, err := s.Enqueue(ctx, []store.Outbound{{Channel: channel, ChatID: "c1", Text: text, IdempotencyKey: text}}); err != nil {
					t.Fatal(err)
				}
				ms, err := s.ClaimOutbox(ctx, channel, 1, time.Minute)
				if err != nil || len(ms) != 1 {
					t.Fatalf("claim: %v %v", ms, err)
				}
				err = s.CompleteOutbox(ctx, []store.Delivery{{ID: ms[0].ID, ClaimedBy: ms[0].ClaimedBy, Status: store.StatusFailed, Reason: "502"}})
				if err != nil {
					t.Fatal(err)
				}
				return ms[0].ID
			}
			tg1, tg2, wx := fail(store.ChannelTelegram, "a"), fail(store.ChannelTelegram, "b"), fail(store.ChannelWeChat, "c")
			today := time.Now().In(cfg.Location()).Format(time.DateOnly)

			for _, bad := range []struct {
				args []string
				want string
			}{
				{[]string{"outbox"}, "usage: rapport outbox requeue"},
				{[]string{"outbox", "requeue", "-config", path}, "filter"},
				{[]string{"outbox", "requeue", "-config", path, "-channel", "sms"}, "channel"},
				{[]string{"outbox", "requeue", "-config", path, "-from", "2026-13-01"}, "-from"},
				{[]string{"outbox", "requeue", "-config", path, "-id", "1,x"}, "-id"},
				{[]string{"outbox", "requeue", "-config", path, "extra"}, "unexpected"},
			} {
				var out bytes.Buffer
				err := run(ctx, bad.args, &out, &out)
				if err == nil || !strings.Contains(err.Error(), bad.want) {
					t.Errorf("%v: %v; want an error about %s", bad.args, err, bad.want)
				}
			}

			steps := []struct {
				args   []string
				want   string
				queued []int64
			}{
				{[]string{"-channel", "telegram", "-from", today, "-to", today}, "requeued 2 failed messages\n", []int64{tg1, tg2}},
				{[]string{"-id", fmt.Sprintf("%d,%d", tg1, wx)}, "requeued 1 failed messages\n", []int64{tg1, tg2, wx}},
				{[]string{"-to", "2000-01-01"}, "requeued 0 failed messages\n", []int64{tg1, tg2, wx}},
			}
			for _, st := range steps {
				var out, errb bytes.Buffer
				args := append([]string{"outbox", "requeue", "-config", path}, st.args...)
				if err := run(ctx, args, &out, &errb); err != nil || out.String() != st.want {
					t.Fatalf("%v: %v %q %s; want %q", st.args, err, out.String(), errb.String(), st.want)
				}
				for _, id := range st.queued {
					if m, err := s.MessageByID(ctx, id); err != nil || m.Status != store.StatusQueued {
						t.Errorf("after %v: message %d is %s %v", st.args, id, m.Status, err)
					}
				}
			}
		})
	}
}
