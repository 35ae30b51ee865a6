package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-telegram/bot/models"
)

// doer is an HTTP client as the library sees it.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// batchGuard keeps one odd update from stalling polling. The library
// decodes a whole getUpdates batch into its own models; one update with a
// field of a type the models do not expect (Telegram changing a field
// Rapport never reads) fails the whole batch, and the library asks for
// the same offset again, forever, holding back every later message.
//
// So getUpdates answers are screened here, before the library sees them.
// An update the models refuse is stored through Rapport's own tolerant
// parser (Parse, then the Receiver, as the webhook does) and replaced in
// the batch by {"update_id": N}, which the library accepts and Rapport
// ignores; the library then moves the offset past it. Order is kept: an
// odd update is stored only once the library has handled every update
// handed to it before, and a batch with an odd update after a good one is
// cut there, so that the odd one leads the next poll.
type batchGuard struct {
	next doer
	a    *Adapter
}

func (g batchGuard) Do(req *http.Request) (*http.Response, error) {
	resp, err := g.next.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(req.URL.Path, "/getUpdates") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if body, err = g.a.screen(req.Context(), body); err != nil {
		return nil, err // the offset stays: Telegram sends the batch again
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// screen returns a getUpdates answer the library can decode, having
// stored the updates it could not (see batchGuard). An answer that is
// not a list of updates at all is left for the library to report. The
// error is ctx's, when the service stops before an odd update is stored.
func (a *Adapter) screen(ctx context.Context, body []byte) ([]byte, error) {
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return body, nil
	}
	var whole []models.Update
	if json.Unmarshal(env["result"], &whole) == nil {
		a.polled.handOver(lastID(whole))
		return body, nil // the usual case: nothing odd
	}
	var raws []json.RawMessage
	if json.Unmarshal(env["result"], &raws) != nil {
		return body, nil
	}
	out := make([]json.RawMessage, 0, len(raws))
	var last int64
	good := false // a well-formed update is in out
	for _, raw := range raws {
		var u models.Update
		if json.Unmarshal(raw, &u) == nil {
			out, last, good = append(out, raw), u.ID, true
			continue
		}
		if good {
			break // after the library has handled the good ones
		}
		var head struct {
			ID int64 `json:"update_id"`
		}
		if json.Unmarshal(raw, &head) != nil || head.ID <= 0 {
			// No offset to move past: only Telegram can fix this.
			a.log.Error("telegram: getUpdates returned an update without a numeric update_id; polling cannot move past it")
			return body, nil
		}
		// Everything before it first: the library hands updates to
		// handlePolled one at a time, in order.
		if err := a.polled.wait(ctx); err != nil {
			return nil, err
		}
		if err := a.keepOdd(ctx, raw, head.ID); err != nil {
			return nil, err
		}
		out, last = append(out, json.RawMessage(`{"update_id":`+strconv.FormatInt(head.ID, 10)+`}`)), head.ID
	}
	result, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	env["result"] = result
	if body, err = json.Marshal(env); err != nil {
		return nil, err
	}
	a.polled.handOver(last)
	return body, nil
}

// keepOdd stores an update the library's models refuse, through the path
// webhook updates take. One Parse refuses too (a field Rapport reads has
// the wrong type) is dropped and logged, as the webhook answers it 400.
func (a *Adapter) keepOdd(ctx context.Context, raw []byte, id int64) error {
	in, ok, err := Parse(raw)
	switch {
	case err != nil:
		a.log.Error("telegram: polled update does not parse; dropped", "update_id", id, "err", err)
		return nil
	case !ok:
		a.log.Debug("telegram: update of a kind Rapport does not keep", "update_id", id)
		return nil
	}
	if err := a.keep(ctx, in, id); err != nil {
		a.log.Warn("telegram: polled update not stored before shutdown; Telegram sends it again at the next start", "update_id", id)
		return err
	}
	a.log.Info("telegram: stored an update the Bot API library could not decode", "update_id", id)
	return nil
}

func lastID(us []models.Update) int64 {
	if len(us) == 0 {
		return 0
	}
	return us[len(us)-1].ID
}

// progress follows the updates between the library and handlePolled: the
// last update id handed to the library, and the last one handled.
type progress struct {
	mu      sync.Mutex
	given   int64
	handled int64
	changed chan struct{} // closed and replaced when handled moves
}

func (p *progress) handOver(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.given = max(p.given, id)
}

func (p *progress) done(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id > p.handled {
		p.handled = id
		if p.changed != nil {
			close(p.changed)
			p.changed = nil
		}
	}
}

// wait returns once every update handed over has been handled, or with
// ctx's error.
func (p *progress) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		if p.handled >= p.given {
			p.mu.Unlock()
			return nil
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
