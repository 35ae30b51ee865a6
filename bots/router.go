package bots

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/width"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// RouterOptions configure a Router. Zero values are sensible defaults.
type RouterOptions struct {
	// Hooks see every stored message no built-in command handled, in order.
	Hooks []Hook
	// Renderer renders the replies (required): the templates service.
	Renderer render.Renderer
	// Workers run built-ins and hooks (default 4); Queue bounds the
	// messages waiting for a worker (default 1024).
	Workers int
	Queue   int
	Logger  *slog.Logger
	Metrics *Metrics
	// Notify is called after replies are enqueued, so a dispatcher in the
	// same process can deliver them without waiting for its next poll.
	Notify func()
	// Recovery: messages stored but never processed (the process died
	// first) are processed by any replica once they are RecoverAfter old
	// (default 1 min), looking back RecoverWindow (24 h), every
	// RecoverEvery (1 min).
	RecoverAfter  time.Duration
	RecoverWindow time.Duration
	RecoverEvery  time.Duration
	// Location is the business time zone: dates in chat answers.
	Location *time.Location
	// Gather is how long a worker that takes a message waits for more
	// to process as one batch, whose chat facts it reads together (see
	// FactReader): up to Gather more latency to replies, for fewer
	// statements per message under load. Zero takes only what is queued
	// already.
	Gather time.Duration
}

// FactReader is a Hook that reads store.ChatEvent.Facts when they are set
// (and looks them up itself when not). With one among its hooks, the
// router reads the facts for each batch of messages at once.
type FactReader interface {
	ReadsChatFacts()
}

// maxBatch bounds the messages a worker takes at once.
const maxBatch = 64

// Router turns inbound chat into stored messages, answers the built-in
// commands of the contract and hands everything else to the hooks. It
// implements Receiver for every adapter.
type Router struct {
	store *store.Store
	opts  RouterOptions
	log   *slog.Logger
	// jobs has one queue per worker; a sender's messages always go to the
	// same one, so they are processed in the order they arrived.
	jobs []chan job

	// processed collects ids of processed messages for MarkProcessed, a
	// batch's at once: one hand-off to markLoop per batch, not per message.
	processed chan []int64

	// facts: a hook reads store.ChatEvent.Facts.
	facts bool

	mu      sync.Mutex
	stopped bool
}

type job struct {
	ev *store.ChatEvent
	in Inbound
}

var _ Receiver = (*Router)(nil)

// NewRouter builds a router. Call Run to start its workers. It panics
// without a Renderer: every reply is a template.
func NewRouter(s *store.Store, o RouterOptions) *Router {
	if o.Renderer == nil {
		panic("bots: RouterOptions.Renderer is required")
	}
	o.Workers = cmp.Or(o.Workers, 4)
	o.Queue = cmp.Or(o.Queue, 1024)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.RecoverAfter = cmp.Or(o.RecoverAfter, time.Minute)
	o.RecoverWindow = cmp.Or(o.RecoverWindow, 24*time.Hour)
	o.RecoverEvery = cmp.Or(o.RecoverEvery, time.Minute)
	jobs := make([]chan job, o.Workers)
	for i := range jobs {
		jobs[i] = make(chan job, max(1, o.Queue/o.Workers))
	}
	r := &Router{store: s, opts: o, log: o.Logger, jobs: jobs, processed: make(chan []int64, 256)}
	for _, h := range o.Hooks {
		if _, ok := h.(FactReader); ok {
			r.facts = true
		}
	}
	return r
}

// Receive stores one inbound message or event (once, however often it is
// delivered) and queues it for the workers. It returns when the message is
// durable; a duplicate delivery returns nil and does nothing more.
func (r *Router) Receive(ctx context.Context, in Inbound) error {
	if in.Channel == "" || in.SenderID == "" || in.DedupKey == "" {
		return store.Errorf(store.EINVALID, "inbound without channel, sender or dedup key")
	}
	in.ChatID = cmp.Or(in.ChatID, in.SenderID)
	in.Kind = cmp.Or(in.Kind, "text")
	r.opts.Metrics.inbound(in.Channel)
	text := in.Text
	switch {
	case in.Kind == KindEvent && text == "":
		text = in.Event
	case in.Kind == KindCallback && text == "":
		text = in.Callback
	}
	rt, _ := json.Marshal(route{Sender: in.SenderID, Callback: in.Callback, ReplyTo: in.ReplyTo, Event: in.Event, EventKey: in.EventKey, Contact: in.Contact})
	sin := store.Inbound{Channel: in.Channel, DedupKey: in.DedupKey, ChatID: in.ChatID, Kind: in.Kind, Text: text, Raw: in.Raw, Media: in.Media, Route: string(rt)}
	ev := newEvent(in)

	st, err := r.store.StaffByIdentity(ctx, in.Channel, in.SenderID)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	// Only Telegram and WeChat accounts bind to staff: a /bind from web
	// chat is a customer's message like any other.
	binding := ev.Command == "bind" && store.StaffChannel(in.Channel)
	if st == nil && !binding {
		// A deactivated staff member's account is not a customer: keep
		// what they wrote, act on nothing (a new /bind still works).
		id, former, err := r.store.FormerStaff(ctx, in.Channel, in.SenderID)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if former {
			msg, dup, err := r.store.RecordStaffInbound(ctx, &id, sin)
			if err != nil || dup {
				return err
			}
			r.log.Info("message from a deactivated staff account kept, not acted on", "staff_id", id, "channel", in.Channel)
			return r.store.MarkProcessed(ctx, []int64{msg.ID})
		}
	}
	if st != nil || binding {
		// Staff chat, or an unbound account binding itself: stored outside
		// every conversation, and no customer is created for it.
		var staffID *int64
		if st != nil {
			staffID = &st.ID
		}
		msg, dup, err := r.store.RecordStaffInbound(ctx, staffID, sin)
		if err != nil || dup {
			return err
		}
		ev.Message, ev.Staff = msg, st
		r.queue(ctx, job{ev: ev, in: in})
		return nil
	}

	leaving := in.Kind == KindEvent && (in.Event == EventBlocked || in.Event == EventUnsubscribe)
	msg, ident, dup, err := r.store.RecordArrival(ctx, store.Arrival{
		Contact: store.Contact{Channel: in.Channel, ExternalID: in.SenderID, DisplayName: in.Name, Source: in.Source, Locale: in.Locale},
		// Leaving is no reason to create a customer.
		KnownOnly: leaving,
		In:        sin,
	})
	if leaving && store.IsCode(err, store.ENOTFOUND) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if dup {
		return nil
	}
	switch {
	case leaving:
		err = r.store.SetIdentityReachable(ctx, ident.ID, false, in.Event)
		ident.Unreachable = true
	case ident.Unreachable:
		// Any sign of life (a message, unblocking, subscribing again) means
		// the platform delivers to this account again.
		err = r.store.SetIdentityReachable(ctx, ident.ID, true, "")
		ident.Unreachable = false
	}
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	ev.Message, ev.Identity = msg, ident
	r.queue(ctx, job{ev: ev, in: in})
	return nil
}

// route is what processing needs beyond the stored message, kept in its
// Payload so it can be processed again after a crash.
type route struct {
	Sender   string         `json:"s"`
	Callback string         `json:"cb,omitempty"`
	ReplyTo  string         `json:"rt,omitempty"`
	Event    string         `json:"ev,omitempty"`
	EventKey string         `json:"ek,omitempty"`
	Contact  *SharedContact `json:"ct,omitempty"`
}

func newEvent(in Inbound) *store.ChatEvent {
	ev := &store.ChatEvent{SenderID: in.SenderID, CallbackData: in.Callback, ReplyToProviderMsgID: in.ReplyTo}
	if in.Kind == KindText {
		ev.Command, ev.Args = ParseCommand(in.Channel, in.Text)
	}
	return ev
}

// queue hands a stored message to the workers. When the queue is full it
// waits (back-pressure on the webhook) until the caller gives up.
func (r *Router) queue(ctx context.Context, j job) {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		return
	}
	h := fnv.New32a()
	h.Write([]byte(j.in.Channel + "\x00" + j.in.SenderID))
	select {
	case r.jobs[h.Sum32()%uint32(len(r.jobs))] <- j:
	case <-ctx.Done():
		r.log.Warn("router queue full; message stored but not processed", "message_id", j.ev.Message.ID)
	}
}

// Run processes queued messages on a bounded pool of workers until ctx is
// cancelled, then finishes what is queued and returns. Hooks get a context
// derived from ctx's values but not its cancellation while draining. It
// also processes messages an earlier process stored but never processed.
func (r *Router) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	work := context.WithoutCancel(ctx)
	marked := make(chan struct{})
	go func() { defer close(marked); r.markLoop(work) }()
	for _, jobs := range r.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case j := <-jobs:
					batch := r.gather(ctx, jobs, j)
					r.prefetch(work, batch)
					done := make([]int64, 0, len(batch))
					for _, j := range batch {
						if r.process(work, j) {
							done = append(done, j.ev.Message.ID)
						}
					}
					if len(done) > 0 {
						r.processed <- done
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); r.resumeLoop(ctx) }()
	<-ctx.Done()
	wg.Wait()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	// Drain what was accepted before the stop.
	for _, jobs := range r.jobs {
		var done []int64
		for len(jobs) > 0 {
			if j := <-jobs; r.process(work, j) {
				done = append(done, j.ev.Message.ID)
			}
		}
		if len(done) > 0 {
			r.processed <- done
		}
	}
	close(r.processed)
	<-marked
	return nil
}

// gather returns first and the messages queued behind it, up to
// maxBatch, waiting up to Gather for more.
func (r *Router) gather(ctx context.Context, jobs chan job, first job) []job {
	batch := []job{first}
	deadline := time.Now().Add(r.opts.Gather)
	for len(batch) < maxBatch {
		select {
		case j := <-jobs:
			batch = append(batch, j)
			continue
		default:
		}
		left := time.Until(deadline)
		if left <= 0 {
			return batch
		}
		select {
		case j := <-jobs:
			batch = append(batch, j)
		case <-time.After(left):
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// prefetch reads the chat facts of a batch's customers in one go, when a
// hook reads them. A message gets facts only if nothing processed before
// it in the batch can have changed them since: every message before it is
// a customer's plain message (not a command, a button or a shared
// contact, which may merge customers or act on anyone's tasks; a plain
// message changes its own customer's facts only), and none is from the
// same customer. The others, and messages processed alone (recovery),
// are looked up by the hooks as they go.
func (r *Router) prefetch(ctx context.Context, batch []job) {
	if !r.facts {
		return
	}
	seen := map[int64]bool{}
	var evs []*store.ChatEvent
	var ids []int64
	for _, j := range batch {
		ev := j.ev
		if ev.Identity == nil || ev.Staff != nil || ev.Command != "" || ev.CallbackData != "" || j.in.Contact != nil {
			break
		}
		cid := ev.Identity.CustomerID
		if seen[cid] {
			continue
		}
		seen[cid] = true
		if j.in.Kind == KindEvent {
			continue // rare, and mostly answered before the hooks
		}
		evs = append(evs, ev)
		ids = append(ids, cid)
	}
	if len(ids) == 0 {
		return
	}
	facts, err := r.store.ChatFactsOf(ctx, ids)
	if err != nil {
		r.log.Warn("chat facts", "messages", len(ids), "err", err)
		return // the hooks look them up
	}
	for _, ev := range evs {
		ev.Facts = facts[ev.Identity.CustomerID]
	}
}

// markLoop records processed messages in batches (one UPDATE per batch
// rather than one per message) until r.processed is closed.
func (r *Router) markLoop(ctx context.Context) {
	var ids []int64
	flush := func() {
		if len(ids) == 0 {
			return
		}
		if err := r.store.MarkProcessed(ctx, ids); err != nil {
			// They stay "received" and are processed again later; the
			// hooks' idempotency keys keep that harmless.
			r.log.Warn("mark processed", "messages", len(ids), "err", err)
		}
		ids = ids[:0]
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case done, ok := <-r.processed:
			if !ok {
				flush()
				return
			}
			if ids = append(ids, done...); len(ids) >= 256 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// resumeLoop processes, now and every RecoverEvery, the messages stored
// but never processed because their process died in between. Each replica
// runs it; claims keep any message to one of them.
func (r *Router) resumeLoop(ctx context.Context) {
	r.resume(ctx)
	for Sleep(ctx, r.opts.RecoverEvery) {
		r.resume(ctx)
	}
}

// resume processes the unprocessed messages old enough to be orphans.
func (r *Router) resume(ctx context.Context) {
	channels := []string{store.ChannelTelegram, store.ChannelWeChat, store.ChannelWebChat}
	for ctx.Err() == nil {
		now := r.store.Now()
		ms, err := r.store.ClaimUnprocessed(ctx, channels, now.Add(-r.opts.RecoverWindow), now.Add(-r.opts.RecoverAfter), 100, 5*time.Minute)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("recover unprocessed messages", "err", err)
			}
			return
		}
		for _, m := range ms {
			r.replay(context.WithoutCancel(ctx), m)
		}
		if len(ms) < 100 {
			return
		}
	}
}

// replay processes a stored message again from its row and route.
func (r *Router) replay(ctx context.Context, m *store.Message) {
	var rt route
	if err := json.Unmarshal([]byte(m.Payload), &rt); err != nil || rt.Sender == "" {
		r.processed <- []int64{m.ID} // nothing to route it by
		return
	}
	in := Inbound{Channel: m.Channel, SenderID: rt.Sender, ChatID: m.ChatID, Kind: m.Kind, Text: m.Text,
		Event: rt.Event, EventKey: rt.EventKey, Callback: rt.Callback, ReplyTo: rt.ReplyTo, Contact: rt.Contact}
	ev := newEvent(in)
	ev.Message = m
	var err error
	if m.CustomerID == nil {
		ev.Staff, err = r.store.StaffByIdentity(ctx, m.Channel, rt.Sender)
		if err == nil && ev.Staff == nil && m.StaffID != nil {
			// A deactivated staff member's, taken before Receive marked
			// it processed: kept, not acted on, as Receive does.
			r.processed <- []int64{m.ID}
			return
		}
	} else {
		// The identity as it is now: a merge may have moved it.
		ev.Identity, err = r.store.IdentityByExternal(ctx, m.Channel, rt.Sender)
	}
	if err != nil {
		r.log.Warn("recover message", "message_id", m.ID, "err", err)
		return
	}
	r.log.Info("processing a message stored before a restart", "message_id", m.ID, "channel", m.Channel)
	if r.process(ctx, job{ev: ev, in: in}) {
		r.processed <- []int64{m.ID}
	}
}

// process handles one message and reports whether it is done (to be
// marked processed).
func (r *Router) process(ctx context.Context, j job) (done bool) {
	enqueued := r.store.Enqueued()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic processing chat message", "message_id", j.ev.Message.ID, "panic", p, "stack", string(debug.Stack()))
			// A message that crashes a hook must not be retried forever.
			done = true
		}
		// Only a message that queued a reply wakes the dispatcher: a
		// wake-up costs it a query.
		if r.opts.Notify != nil && r.store.Enqueued() != enqueued {
			r.opts.Notify()
		}
	}()
	return r.handle(ctx, j)
}

// handle runs the built-in commands, then the hooks, on one message. It
// reports false when one of them failed: the message stays unprocessed
// and is tried again later (every reply and task it makes carries an
// idempotency key, so what did succeed is not done twice).
func (r *Router) handle(ctx context.Context, j job) bool {
	if j.ev.Identity != nil {
		handled, err := r.builtin(ctx, j)
		if err != nil {
			r.log.Error("chat command failed", "command", j.ev.Command, "message_id", j.ev.Message.ID, "err", err)
			return false
		}
		if handled {
			return true
		}
	}
	for _, h := range r.opts.Hooks {
		handled, err := h.HandleChat(ctx, j.ev)
		if err != nil {
			r.log.Error("chat hook failed", "hook", fmt.Sprintf("%T", h), "message_id", j.ev.Message.ID, "err", err)
			return false
		}
		if handled {
			break
		}
	}
	return true
}

// builtin answers the customer commands of the contract and the
// subscribe / block events. It reports whether the message was consumed.
func (r *Router) builtin(ctx context.Context, j job) (bool, error) {
	ev, in := j.ev, j.in
	if in.Contact != nil && in.Channel == store.ChannelTelegram {
		return r.sharedContact(ctx, ev, in.Contact)
	}
	if in.Kind == KindEvent {
		switch in.Event {
		case EventSubscribe:
			return true, r.reply(ctx, ev, "welcome", nil)
		case EventBlocked, EventUnsubscribe, EventUnblocked:
			return true, nil
		}
		return false, nil
	}
	cid := ev.Identity.CustomerID
	switch ev.Command {
	case "start":
		return true, r.reply(ctx, ev, "welcome", nil)
	case "birthday":
		if ev.Args == "" {
			return true, r.reply(ctx, ev, "birthday_invalid", map[string]string{"input": ""})
		}
		arg := ev.Args
		c, err := r.store.UpdateCustomer(ctx, cid, store.CustomerInput{Birthday: &arg})
		if store.IsCode(err, store.EINVALID) {
			return true, r.reply(ctx, ev, "birthday_invalid", map[string]string{"input": arg})
		} else if err != nil {
			return true, err
		}
		return true, r.reply(ctx, ev, "birthday_saved", map[string]string{"birthday": c.Birthday.String()})
	case "phone":
		return true, r.claimPhone(ctx, ev)
	case "verify":
		if !strings.ContainsAny(width.Narrow.String(ev.Args), "0123456789") && !strings.HasPrefix(strings.TrimSpace(ev.Message.Text), "/") {
			return false, nil // "验证一下…" is conversation, not a code
		}
		return true, r.verifyPhone(ctx, ev)
	case "stop", "resume":
		out := ev.Command == "stop"
		if _, err := r.store.UpdateCustomer(ctx, cid, store.CustomerInput{OptOut: &out}); err != nil {
			return true, err
		}
		key := "opted_in"
		if out {
			key = "opted_out"
		}
		return true, r.reply(ctx, ev, key, nil)
	case "points":
		c, err := r.store.CustomerByID(ctx, cid)
		if err != nil {
			return true, err
		}
		return true, r.replyPoints(ctx, ev, "points_balance", map[string]string{"points": strconv.FormatInt(c.Points, 10)}, nil, nil)
	case "redeem":
		return r.redeemCommand(ctx, ev)
	case "vouchers":
		return r.vouchersCommand(ctx, ev)
	}
	if in.Kind == KindCallback {
		return r.redeemButton(ctx, ev)
	}
	return false, nil
}

// claimPhone answers /phone NUMBER. The number is only claimed (see
// store.ClaimPhone): the claimant gets the same answer whether or not the
// number is someone's, and on Telegram a button to prove it by sharing
// their contact.
func (r *Router) claimPhone(ctx context.Context, ev *store.ChatEvent) error {
	var button *store.Extras
	if ev.Message.Channel == store.ChannelTelegram {
		c, err := r.store.CustomerByID(ctx, ev.Identity.CustomerID)
		if err != nil {
			return err
		}
		label, err := r.render(ctx, "phone_share_button", c, nil)
		if err != nil {
			return err
		}
		button = &store.Extras{RequestContact: label.Text}
	}
	res, err := r.store.ClaimPhone(ctx, store.PhoneClaimInput{
		CustomerID: ev.Identity.CustomerID, IdentityID: ev.Identity.ID, Phone: ev.Args, MessageID: ev.Message.ID,
		CodeText: func(holder *store.Customer, vars map[string]string) (store.CodeNotice, error) {
			out, err := r.render(ctx, "phone_verify_code", holder, vars)
			return store.CodeNotice{Text: out.Text, TemplateKey: "phone_verify_code", TemplateVersion: out.Version}, err
		},
	})
	if store.IsCode(err, store.EINVALID) {
		return r.replyWith(ctx, ev, "phone_invalid", map[string]string{"input": ev.Args}, button)
	} else if err != nil {
		return err
	}
	switch res.Outcome {
	case store.ClaimOwn:
		return r.reply(ctx, ev, "phone_saved", map[string]string{"phone": res.Phone})
	case store.ClaimThrottled:
		r.log.Info("phone claim refused: too many claims", "customer_id", ev.Identity.CustomerID)
	}
	return r.replyWith(ctx, ev, "phone_claimed", map[string]string{"phone": store.MaskPhone(res.Phone)}, button)
}

// verifyPhone answers /verify CODE: the right code merges the claimant
// with the holder of the number.
func (r *Router) verifyPhone(ctx context.Context, ev *store.ChatEvent) error {
	c, err := r.store.VerifyPhoneCode(ctx, store.PhoneCode{CustomerID: ev.Identity.CustomerID, Code: ev.Args, MessageID: ev.Message.ID})
	if store.IsCode(err, store.EINVALID) {
		return r.reply(ctx, ev, "verify_invalid", nil)
	} else if err != nil {
		return err
	}
	ev.Identity.CustomerID = c.ID
	return r.reply(ctx, ev, "phone_verified", map[string]string{"phone": c.Phone})
}

// sharedContact handles a Telegram contact. The sender's own (user_id =
// sender; Telegram verified it) proves the number, whether or not it was
// claimed first; anyone else's proves nothing and is kept as a message.
func (r *Router) sharedContact(ctx context.Context, ev *store.ChatEvent, ct *SharedContact) (bool, error) {
	if ct.UserID == "" || ct.UserID != ev.SenderID {
		return false, nil
	}
	// Telegram gives the number in international form, often without +.
	phone := strings.TrimSpace(ct.Phone)
	if phone != "" && !strings.HasPrefix(phone, "+") {
		phone = "+" + phone
	}
	done := &store.Extras{RemoveKeyboard: true}
	c, err := r.store.ProvePhone(ctx, store.PhoneProof{CustomerID: ev.Identity.CustomerID, Phone: phone, Method: store.MergeTelegramContact})
	if store.IsCode(err, store.EINVALID) {
		return true, r.replyWith(ctx, ev, "phone_invalid", map[string]string{"input": ct.Phone}, done)
	} else if err != nil {
		return true, err
	}
	ev.Identity.CustomerID = c.ID
	return true, r.replyWith(ctx, ev, "phone_verified", map[string]string{"phone": c.Phone}, done)
}

// reply renders a template for the sender and writes it to the outbox,
// once per inbound message and template (a reprocessed message does not
// answer twice).
func (r *Router) reply(ctx context.Context, ev *store.ChatEvent, key string, vars map[string]string) error {
	return r.replyWith(ctx, ev, key, vars, nil)
}

// replyWith is reply with channel extras (a keyboard).
func (r *Router) replyWith(ctx context.Context, ev *store.ChatEvent, key string, vars map[string]string, x *store.Extras) error {
	c, err := r.store.CustomerByID(ctx, ev.Identity.CustomerID)
	if err != nil {
		return err
	}
	out, err := r.render(ctx, key, c, vars)
	if err != nil {
		return err
	}
	o := out.ReplyTo(ev, "reply:"+strconv.FormatInt(ev.Message.ID, 10)+":"+key)
	o.Extras = x
	_, err = r.store.Enqueue(ctx, []store.Outbound{o})
	return err
}

// render renders key for customer c in c's locale; vars are the
// command's values (birthday, phone, points, input, code).
func (r *Router) render(ctx context.Context, key string, c *store.Customer, vars map[string]string) (render.Rendered, error) {
	return r.opts.Renderer.Render(ctx, key, c.Locale, render.Data{Customer: render.CustomerOf(c), Extra: vars})
}
