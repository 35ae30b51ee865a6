// Package campaign sends a message to a segment once — now, at a time, or
// on each trigger — through the care engine's delivery (wired in cmd), and
// reports what it did.
package campaign

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Config is the `campaigns:` block of config.yaml.
type Config struct {
	// Poll is how often the loop looks for due campaigns and runs to do.
	Poll time.Duration `yaml:"poll"`
	// AttributionDays: a reply, order or opt-out within this many days
	// after a message counts for its campaign.
	AttributionDays int `yaml:"attribution_days"`
}

// DefaultConfig is the block with nothing set.
func DefaultConfig() Config { return Config{Poll: 15 * time.Second, AttributionDays: 7} }

// Validate checks the block; errors name the key.
func (c Config) Validate() error {
	if c.Poll < time.Second {
		return fmt.Errorf("campaigns.poll: at least 1s")
	}
	if c.AttributionDays < 1 || c.AttributionDays > 365 {
		return fmt.Errorf("campaigns.attribution_days: must be 1-365")
	}
	return nil
}

// Delivery is one run of a message to an audience, as the deliverer
// (care's execution, wired in cmd) takes it; see care.Delivery.
type Delivery struct {
	Key, Occurrence, Label string
	Audience               func(ctx context.Context, after, below int64, limit int, d store.Detail) ([]*store.Customer, error)
	After                  int64
	Template               string
	Renderer               render.Renderer
	Vars                   map[string]string
	CapExempt, DryRun      bool
	Progress               func(ctx context.Context, counts *store.CareRun, after int64) error
}

// Deliverer runs a delivery: opt-out, reachability, cap, quiet hours,
// WeChat window, rendering and the outbox.
type Deliverer interface {
	Deliver(ctx context.Context, d Delivery) (*store.CareRun, error)
}

// Options are what cmd wires in.
type Options struct {
	Store   *store.Store
	Deliver Deliverer
	// Inline validates inline bodies by locale and renders them;
	// CheckTemplate tells whether a saved template can carry a campaign.
	Inline        func(bodies map[string]string) (render.Renderer, error)
	CheckTemplate func(key string) error
	Location      *time.Location
	Logger        *slog.Logger
	Holder        string
	Lease         time.Duration
}

// Service manages campaigns.
type Service struct {
	cfg  Config
	o    Options
	st   *store.Store
	kick chan struct{}
}

// New builds the service.
func New(cfg Config, o Options) (*Service, error) {
	if o.Store == nil || o.Deliver == nil || o.Inline == nil || o.CheckTemplate == nil {
		return nil, fmt.Errorf("campaign: store, deliverer, inline and template check are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o.Location = cmp.Or(o.Location, time.UTC)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.Holder = cmp.Or(o.Holder, store.HolderName())
	o.Lease = cmp.Or(o.Lease, 2*time.Minute)
	return &Service{cfg: cfg, o: o, st: o.Store, kick: make(chan struct{}, 1)}, nil
}

// Create saves a draft after checking it; CapExempt only for admins.
func (s *Service) Create(ctx context.Context, in store.CampaignInput, p *store.Principal) (*store.Campaign, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return nil, store.Invalid("name", "must be 1-128 characters")
	}
	if in.SegmentID <= 0 {
		return nil, store.Invalid("segment_id", "required")
	}
	if _, err := s.st.SegmentByID(ctx, in.SegmentID); err != nil {
		if store.IsCode(err, store.ENOTFOUND) {
			return nil, store.Invalid("segment_id", "segment %d not found", in.SegmentID)
		}
		return nil, err
	}
	bodies := map[string]string{}
	for l, b := range in.Bodies {
		bodies[l] = b
	}
	if in.Body != "" {
		bodies["*"] = in.Body
	}
	switch {
	case in.TemplateKey != "" && len(bodies) > 0:
		return nil, store.Invalid("template_key", "give template_key or body, not both")
	case in.TemplateKey != "":
		if err := s.o.CheckTemplate(in.TemplateKey); err != nil {
			return nil, err
		}
	case len(bodies) > 0:
		if _, err := s.o.Inline(bodies); err != nil {
			return nil, err
		}
	default:
		return nil, store.Invalid("template_key", "give template_key or body")
	}
	if in.SendAt != nil && in.SendAt.Before(s.st.Now().Add(-time.Minute)) {
		return nil, store.Invalid("send_at", "is in the past; leave it out and send the draft now")
	}
	if in.EndAt != nil && in.SendAt != nil && !in.EndAt.After(*in.SendAt) {
		return nil, store.Invalid("end_at", "must be after send_at")
	}
	c := &store.Campaign{Name: name, SegmentID: in.SegmentID, TemplateKey: in.TemplateKey, Bodies: bodies, SendAt: utc(in.SendAt), EndAt: utc(in.EndAt)}
	if len(bodies) == 0 {
		c.Bodies = nil
	}
	if p != nil {
		c.CreatedBy = p.StaffID
	}
	if in.CapExempt {
		if p == nil || p.Role != store.RoleAdmin {
			return nil, &store.Error{Code: store.EFORBIDDEN, Field: "cap_exempt", Message: "only an admin may exempt a campaign from the cap"}
		}
		c.CapExempt, c.CapExemptBy = true, p.StaffID
	}
	if err := s.st.CreateCampaign(ctx, c); err != nil {
		return nil, err
	}
	if in.SendAt != nil {
		return s.st.ScheduleCampaign(ctx, c.ID, *in.SendAt)
	}
	return c, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}

// Get answers a campaign with its results.
func (s *Service) Get(ctx context.Context, id int64) (*store.Campaign, error) {
	c, err := s.st.CampaignByID(ctx, id)
	if err != nil {
		return nil, err
	}
	runs, err := s.st.CampaignRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	skipped := map[string]int{}
	for _, r := range runs {
		for k, v := range r.SkipReasons {
			skipped[k] += v
		}
	}
	if c.Results, err = s.st.CampaignResultsOf(ctx, id, s.cfg.AttributionDays, s.o.Location, skipped); err != nil {
		return nil, err
	}
	return c, nil
}

// Schedule sets a draft to go at at (in the future).
func (s *Service) Schedule(ctx context.Context, id int64, at time.Time) (*store.Campaign, error) {
	if at.IsZero() {
		return nil, store.Invalid("send_at", "required")
	}
	if at.Before(s.st.Now().Add(-time.Minute)) {
		return nil, store.Invalid("send_at", "is in the past; use send to send now")
	}
	c, err := s.st.ScheduleCampaign(ctx, id, at)
	s.wake()
	return c, err
}

// Send starts a draft or scheduled campaign now; the loop (of whichever
// replica claims it) sends it.
func (s *Service) Send(ctx context.Context, id int64) (*store.Campaign, error) {
	c, err := s.st.SendCampaign(ctx, id)
	if err == nil {
		s.wake()
	}
	return c, err
}

// Cancel cancels a campaign and withdraws its unsent messages.
func (s *Service) Cancel(ctx context.Context, id int64) (*store.Campaign, int, error) {
	return s.st.CancelCampaign(ctx, id)
}

// Trigger sends the campaign to its segment narrowed by vars whose names
// are filter keys; all vars fill the template. The same key answers the
// first trigger's run and sends nothing more (created=false).
func (s *Service) Trigger(ctx context.Context, id int64, key string, vars map[string]string) (*store.CampaignRun, bool, error) {
	key = strings.TrimSpace(key)
	if key == "" || len(key) > 128 {
		return nil, false, store.Invalid("key", "must be 1-128 bytes")
	}
	if len(vars) > 50 {
		return nil, false, store.Invalid("vars", "at most 50")
	}
	for k, v := range vars {
		if k == "" || len(k) > 64 || utf8.RuneCountInString(v) > 1000 {
			return nil, false, store.Invalid("vars", "names 1-64 bytes, values at most 1000 characters")
		}
	}
	c, err := s.st.CampaignByID(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if c.Status == store.CampaignCancelled {
		return nil, false, &store.Error{Code: store.ECONFLICT, Field: "status", Message: fmt.Sprintf("campaign %d is cancelled", id)}
	}
	if c.EndAt != nil && s.st.Now().After(*c.EndAt) {
		return nil, false, &store.Error{Code: store.ECONFLICT, Field: "end_at", Message: fmt.Sprintf("campaign %d ended at %s", id, c.EndAt.Format(time.RFC3339))}
	}
	seg, err := s.st.SegmentByID(ctx, c.SegmentID)
	if err != nil {
		return nil, false, err
	}
	f, err := seg.ParsedFilter()
	if err != nil {
		return nil, false, err
	}
	if _, err := f.Narrow(vars); err != nil {
		return nil, false, err
	}
	r, created, err := s.st.CreateCampaignRun(ctx, id, key, vars)
	if err == nil && created {
		s.wake()
	}
	return r, created, err
}

// DryRun plans the campaign now (its own send, or a trigger's vars)
// without writing anything: counts by outcome and rendered samples.
func (s *Service) DryRun(ctx context.Context, id int64, vars map[string]string) (*store.CampaignDryRun, error) {
	c, err := s.st.CampaignByID(ctx, id)
	if err != nil {
		return nil, err
	}
	q, err := s.query(ctx, c, vars)
	if err != nil {
		return nil, err
	}
	out := &store.CampaignDryRun{}
	if out.Members, err = s.st.CountSegment(ctx, q); err != nil {
		return nil, err
	}
	oq := q
	oq.OptedOut = true
	if out.OptedOut, err = s.st.CountSegment(ctx, oq); err != nil {
		return nil, err
	}
	d, err := s.delivery(c, q, 0, vars, "dry")
	if err != nil {
		return nil, err
	}
	d.DryRun = true
	run, err := s.o.Deliver.Deliver(ctx, d)
	if err != nil {
		return nil, err
	}
	out.WouldSend, out.Skipped, out.Sample = run.WouldQueue, run.SkipReasons, run.Sample
	if out.Sample == nil {
		out.Sample = []store.RunSample{}
	}
	return out, nil
}

// query is the campaign's segment narrowed by vars, at now.
func (s *Service) query(ctx context.Context, c *store.Campaign, vars map[string]string) (store.SegmentQuery, error) {
	seg, err := s.st.SegmentByID(ctx, c.SegmentID)
	if err != nil {
		return store.SegmentQuery{}, err
	}
	f, err := seg.ParsedFilter()
	if err != nil {
		return store.SegmentQuery{}, err
	}
	if f, err = f.Narrow(vars); err != nil {
		return store.SegmentQuery{}, err
	}
	return store.SegmentQuery{Filter: f, Now: s.st.Now(), Loc: s.o.Location}, nil
}

func (s *Service) delivery(c *store.Campaign, q store.SegmentQuery, after int64, vars map[string]string, occurrence string) (Delivery, error) {
	d := Delivery{
		Key: store.CampaignKey(c.ID), Occurrence: occurrence, Label: "campaign", After: after,
		Template: c.TemplateKey, Vars: vars, CapExempt: c.CapExempt,
		Audience: func(ctx context.Context, after, below int64, limit int, dt store.Detail) ([]*store.Customer, error) {
			return s.st.SegmentAudience(ctx, q, after, below, limit, dt)
		},
	}
	if c.TemplateKey == "" {
		r, err := s.o.Inline(c.Bodies)
		if err != nil {
			return d, err
		}
		d.Renderer = r
	}
	return d, nil
}

// wake makes the loop look now.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run looks for due campaigns and runs to do every Poll (and when woken)
// until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Error("campaigns", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Tick starts the scheduled campaigns whose time has come (by the store's
// clock) and does every run there is to do: the one code path of the loop
// and of tests.
func (s *Service) Tick(ctx context.Context) error {
	now := s.st.Now()
	if _, err := s.st.StartDueCampaigns(ctx, now); err != nil {
		return err
	}
	if n, err := s.st.WithdrawEndedCampaigns(ctx, now); err != nil {
		return err
	} else if n > 0 {
		s.o.Logger.Info("campaigns ended", "withdrawn", n)
	}
	for ctx.Err() == nil {
		r, err := s.st.ClaimCampaignRun(ctx, s.o.Holder, s.o.Lease)
		if err != nil || r == nil {
			return err
		}
		if err := s.execute(ctx, r); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// errCampaignEnded stops a run whose campaign's end_at has passed.
var errCampaignEnded = errors.New("campaign ended")

// execute does one claimed run, from its cursor on.
func (s *Service) execute(ctx context.Context, r *store.CampaignRun) error {
	// The end is recorded even when ctx ended (shutdown), within its own
	// deadline.
	fresh := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	}
	finish := func(status string, err error) error {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		fctx, cancel := fresh()
		defer cancel()
		ferr := s.st.FinishCampaignRun(fctx, r, status, msg)
		if errors.Is(ferr, store.ErrCampaignCancelled) {
			return nil
		}
		return ferr
	}
	c, err := s.st.CampaignByID(ctx, r.CampaignID)
	if err != nil {
		return finish(store.CampaignRunFailed, err)
	}
	if c.EndAt != nil && s.st.Now().After(*c.EndAt) {
		return finish(store.CampaignRunDone, fmt.Errorf("campaign ended before this run"))
	}
	q, err := s.query(ctx, c, r.Vars)
	if err != nil {
		return finish(store.CampaignRunFailed, err)
	}
	d, err := s.delivery(c, q, r.AfterID, r.Vars, "r"+strconv.FormatInt(r.ID, 10))
	if err != nil {
		return finish(store.CampaignRunFailed, err)
	}
	// Counts of earlier attempts stay; this attempt's add to them.
	base := *r
	base.SkipReasons = map[string]int{}
	for k, v := range r.SkipReasons {
		base.SkipReasons[k] = v
	}
	apply := func(n *store.CareRun, after int64) {
		r.Planned, r.Queued, r.Skipped = base.Planned+n.Planned, base.Queued+n.Queued, base.Skipped+n.Skipped
		r.Failed, r.Tasks, r.Duplicates = base.Failed+n.Failed, base.Tasks+n.Tasks, base.Duplicates+n.Duplicates
		r.SkipReasons = map[string]int{}
		for k, v := range base.SkipReasons {
			r.SkipReasons[k] = v
		}
		for k, v := range n.SkipReasons {
			r.SkipReasons[k] += v
		}
		r.AfterID = max(r.AfterID, after)
	}
	d.Progress = func(ctx context.Context, n *store.CareRun, after int64) error {
		apply(n, after)
		if err := s.st.ProgressCampaignRun(ctx, r, s.o.Lease); err != nil {
			return err
		}
		if c.EndAt != nil && s.st.Now().After(*c.EndAt) {
			return errCampaignEnded
		}
		return nil
	}
	n, err := s.o.Deliver.Deliver(ctx, d)
	switch {
	case errors.Is(err, store.ErrCampaignCancelled):
		// Cancelled mid-way: what this run queued after the cancel's
		// withdrawal is withdrawn too.
		fctx, cancel := fresh()
		defer cancel()
		_, werr := s.st.WithdrawCampaign(fctx, c.ID, store.ReasonCampaignCancelled)
		return werr
	case errors.Is(err, errCampaignEnded):
		// Its end came mid-way: what it queued and has not sent is
		// withdrawn, and the run is over.
		fctx, cancel := fresh()
		defer cancel()
		if _, werr := s.st.WithdrawCampaign(fctx, c.ID, store.ReasonCampaignEnded); werr != nil {
			return werr
		}
		return finish(store.CampaignRunDone, errCampaignEnded)
	case errors.Is(err, store.ErrRunClaimLost):
		return nil // another process resumed it
	case err != nil && ctx.Err() != nil:
		return ctx.Err() // shutdown: the lease lapses and a process resumes it
	case err != nil:
		return finish(store.CampaignRunFailed, err)
	}
	if n != nil {
		apply(n, r.AfterID)
	}
	s.o.Logger.Info("campaign run", "campaign", c.ID, "run", r.ID, "key", r.TriggerKey, "queued", r.Queued, "skipped", r.Skipped)
	return finish(store.CampaignRunDone, nil)
}

// Count answers how many customers the campaign's send would reach now
// (its segment's members): for chat confirmations.
func (s *Service) Count(ctx context.Context, id int64) (*store.Campaign, int64, error) {
	c, err := s.st.CampaignByID(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	q, err := s.query(ctx, c, nil)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.st.CountSegment(ctx, q)
	return c, n, err
}

// SetCapExempt records an admin's cap exemption.
func (s *Service) SetCapExempt(ctx context.Context, id int64, exempt bool, p *store.Principal) error {
	if p == nil || p.Role != store.RoleAdmin {
		return &store.Error{Code: store.EFORBIDDEN, Field: "cap_exempt", Message: "only an admin may exempt a campaign from the cap"}
	}
	return s.st.SetCampaignCapExempt(ctx, id, exempt, p.StaffID)
}
