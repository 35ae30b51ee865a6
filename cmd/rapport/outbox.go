package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// runOutbox is `rapport outbox requeue`: failed outbound messages (after
// a provider outage, say) go back in the queue and are sent by the
// running service. Dates are business days (the config's zone), -to
// inclusive; the filters must all match, and at least one is required.
func runOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("outbox requeue")
	cfgPath := configFlag(fs)
	channel := fs.String("channel", "", "only messages on this channel (telegram, wechat, webchat)")
	from := fs.String("from", "", "only messages created on or after this day (YYYY-MM-DD)")
	to := fs.String("to", "", "only messages created on or before this day (YYYY-MM-DD)")
	ids := fs.String("id", "", "only these message ids (comma-separated)")
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || rest[0] != "requeue":
		return usageError{"outbox requeue", "the outbox command is: rapport outbox requeue"}
	case len(rest) > 1:
		return usageError{"outbox requeue", fmt.Sprintf("unexpected argument %q", rest[1])}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	f := store.RequeueFilter{Channel: *channel}
	for _, d := range []struct {
		flag, v string
		at      *time.Time
		next    bool
	}{{"-from", *from, &f.From, false}, {"-to", *to, &f.To, true}} {
		if d.v == "" {
			continue
		}
		day, err := time.ParseInLocation(time.DateOnly, d.v, cfg.Location())
		if err != nil {
			return usageError{"outbox requeue", fmt.Sprintf("%s %q is not YYYY-MM-DD", d.flag, d.v)}
		}
		if d.next {
			day = day.AddDate(0, 0, 1)
		}
		*d.at = day
	}
	for _, v := range strings.Split(*ids, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usageError{"outbox requeue", fmt.Sprintf("-id %q is not a message id", v)}
		}
		f.IDs = append(f.IDs, id)
	}
	s, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.RequeueFailed(ctx, f)
	if err != nil {
		if store.ErrorCode(err) != store.EINVALID {
			return fmt.Errorf("outbox requeue: %w", err)
		}
		return usageError{"outbox requeue", store.ErrorMessage(err)}
	}
	fmt.Fprintf(stdout, "requeued %d failed messages\n", n)
	return nil
}
