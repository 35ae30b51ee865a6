package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Campaigns is the campaign service as the API uses it; cmd wires a
// *campaign.Service. nil answers 503 on the campaign endpoints.
type Campaigns interface {
	Create(ctx context.Context, in store.CampaignInput, p *store.Principal) (*store.Campaign, error)
	Get(ctx context.Context, id int64) (*store.Campaign, error)
	Schedule(ctx context.Context, id int64, at time.Time) (*store.Campaign, error)
	Send(ctx context.Context, id int64) (*store.Campaign, error)
	Cancel(ctx context.Context, id int64) (*store.Campaign, int, error)
	Trigger(ctx context.Context, id int64, key string, vars map[string]string) (*store.CampaignRun, bool, error)
	DryRun(ctx context.Context, id int64, vars map[string]string) (*store.CampaignDryRun, error)
	SetCapExempt(ctx context.Context, id int64, exempt bool, p *store.Principal) error
}

type segmentRequest struct {
	Name   string          `json:"name"`
	Filter json.RawMessage `json:"filter"`
}

type segmentPreview struct {
	Count  int64                 `json:"count"`
	Sample []store.SegmentMember `json:"sample"`
}

type campaignSchedule struct {
	SendAt time.Time `json:"send_at"`
}

type campaignTrigger struct {
	Vars map[string]string `json:"vars"`
	Key  string            `json:"key"`
}

type campaignTriggered struct {
	Run     *store.CampaignRun `json:"run"`
	Created bool               `json:"created"`
}

type campaignCancelled struct {
	*store.Campaign
	Withdrawn int `json:"withdrawn"`
}

type campaignCapExempt struct {
	Exempt bool `json:"exempt"`
}

type campaignDryRunRequest struct {
	Vars map[string]string `json:"vars"`
}

// sampleSize is how many members a preview shows.
const sampleSize = 10

// campaignRoutes mounts segments and campaigns: managers and admins
// define and send, agents read.
func (s *Server) campaignRoutes() {
	managers := []store.Role{store.RoleAdmin, store.RoleManager}
	filterDoc := "Keys: " + strings.Join(store.SegmentFilterKeys, ", ") + ". Lists match any value, keys combine with AND; " +
		"dates are YYYY-MM-DD (business zone) or \"Nd\" (N days ago). An unknown key or a bad value is 422 naming it (`filter.KEY`). " +
		"Opted-out customers are never members."
	s.api("POST /segments", s.handleSegmentCreate, managers...).doc(op{
		Summary: "Save a segment", Description: filterDoc + " A name in use is 409.",
		In: segmentRequest{}, Out: store.SegmentDef{}, Status: http.StatusCreated, Errors: []int{http.StatusConflict},
	})
	s.api("GET /segments", s.handleSegments).doc(op{Summary: "Segments, newest first", Paged: true, Out: list[*store.SegmentDef]{}})
	s.api("GET /segments/{id}", s.handleSegmentGet).doc(op{Summary: "One segment with its member count", Out: store.SegmentDef{}})
	s.api("GET /segments/{id}/members", s.handleSegmentMembers).doc(op{
		Summary:     "A segment's members, by id",
		Description: "`?format=csv` exports all of them as CSV (id, name, phone, tier, stage, city, region, district, channels).",
		Query:       []param{query("format", "csv for a CSV export of every member.", enum("json", "csv"))},
		Paged:       true, Out: list[store.SegmentMember]{}, CSV: true,
	})
	s.api("POST /segments/preview", s.handleSegmentPreview).doc(op{
		Summary: "Count and sample a filter without saving it", Description: filterDoc,
		In: segmentRequest{}, Out: segmentPreview{},
	})
	unavailable := []int{http.StatusServiceUnavailable}
	s.api("POST /campaigns", s.handleCampaignCreate, managers...).doc(op{
		Summary: "Create a campaign (a draft, or scheduled with send_at)",
		Description: "`segment_id`, and `template_key` (a saved template: `campaign`, `birthday`, `revisit`, `winback`...) or an inline " +
			"`body` (every locale) / `bodies` (`{\"zh-CN\": ..., \"en\": ...}`), validated as a template save is. `send_at` schedules it; " +
			"`end_at` ends triggers and unsent runs. `cap_exempt` (admins only) skips the per-customer cap.",
		In: store.CampaignInput{}, Out: store.Campaign{}, Status: http.StatusCreated, Errors: append([]int{http.StatusForbidden}, unavailable...),
	})
	s.api("GET /campaigns", s.handleCampaigns).doc(op{
		Summary: "Campaigns, newest first", Query: []param{query("status", "", enum(store.CampaignDraft, store.CampaignScheduled,
			store.CampaignSending, store.CampaignDone, store.CampaignCancelled))},
		Paged: true, Out: list[*store.Campaign]{},
	})
	s.api("GET /campaigns/{id}", s.handleCampaignGet).doc(op{
		Summary: "A campaign with its results",
		Description: "`results`: `queued`, `sent`, `failed`, `pending`, `skipped` by reason, and within the attribution window " +
			"(`campaigns.attribution_days`) after each sent message: `replies`, `orders`, `revenue`, `converted`, `conversion`, `opt_outs`; " +
			"`by_channel` and `by_day`.",
		Out: store.Campaign{}, Errors: unavailable,
	})
	s.api("GET /campaigns/{id}/runs", s.handleCampaignRuns).doc(op{
		Summary:     "A campaign's runs, newest first",
		Description: "Its own send (`key` \"\") and each trigger's run, with `status`, `planned`, `queued`, `skipped` and `skip_reasons`.",
		Paged:       true, Out: list[*store.CampaignRun]{},
	})
	s.api("POST /campaigns/{id}/dry-run", s.handleCampaignDryRun, managers...).doc(op{
		Summary:     "What the campaign would do now, sending nothing",
		Description: "Counts by outcome and rendered samples; `vars` as a trigger's narrow and fill it.",
		In:          campaignDryRunRequest{}, Out: store.CampaignDryRun{}, Errors: unavailable,
	})
	s.api("POST /campaigns/{id}/schedule", s.handleCampaignSchedule, managers...).doc(op{
		Summary: "Schedule a draft to send at `send_at`", In: campaignSchedule{}, Out: store.Campaign{},
		Errors: append([]int{http.StatusConflict}, unavailable...),
	})
	s.api("POST /campaigns/{id}/send", s.handleCampaignSend, managers...).doc(op{
		Summary:     "Send a draft or scheduled campaign now",
		Description: "It becomes `sending`; one process claims it and sends at the channels' rate; `done` when all is queued.",
		Out:         store.Campaign{}, Errors: append([]int{http.StatusConflict}, unavailable...),
	})
	s.api("POST /campaigns/{id}/cancel", s.handleCampaignCancel, managers...).doc(op{
		Summary:     "Cancel a campaign",
		Description: "Stops its runs and withdraws the messages not yet sent (`withdrawn`).",
		Out:         campaignCancelled{}, Errors: append([]int{http.StatusConflict}, unavailable...),
	})
	s.api("POST /campaigns/{id}/trigger", s.handleCampaignTrigger, managers...).doc(op{
		Summary: "Send the campaign on a trigger",
		Description: "Any number of times in any state but cancelled. `vars` whose names are filter keys narrow the segment " +
			"(e.g. `city`); all of them fill the template (`.Extra`). The same `key` never sends twice (`created: false`).",
		In: campaignTrigger{}, Out: campaignTriggered{}, Status: http.StatusAccepted,
		Errors: append([]int{http.StatusConflict}, unavailable...),
	})
	s.api("POST /campaigns/{id}/cap-exempt", s.handleCampaignCapExempt, store.RoleAdmin).doc(op{
		Summary: "Exempt a campaign from the per-customer cap (admins)", In: campaignCapExempt{}, Out: store.Campaign{}, Errors: unavailable,
	})
}

func (s *Server) segmentQuery(raw []byte) (store.SegmentQuery, error) {
	f, err := store.ParseSegmentFilter(raw)
	return store.SegmentQuery{Filter: f, Now: s.Store.Now(), Loc: s.Location}, err
}

func (s *Server) handleSegmentCreate(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in segmentRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	q, err := s.segmentQuery(in.Filter)
	if err != nil {
		return err
	}
	d, err := s.Store.CreateSegment(r.Context(), in.Name, q.Filter, p.StaffID)
	if err != nil {
		return err
	}
	n, err := s.Store.CountSegment(r.Context(), q)
	d.Count = &n
	s.audit(r, p, "segment.create", "segment", d.ID, map[string]any{"name": d.Name, "count": n})
	return respond(w, http.StatusCreated, d, err)
}

func (s *Server) handleSegments(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ds, next, err := s.Store.ListSegments(r.Context(), pg)
	return respondList(w, ds, next, err)
}

// segment loads the path's segment and its query.
func (s *Server) segment(r *http.Request) (*store.SegmentDef, store.SegmentQuery, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, store.SegmentQuery{}, err
	}
	d, err := s.Store.SegmentByID(r.Context(), id)
	if err != nil {
		return nil, store.SegmentQuery{}, err
	}
	q, err := s.segmentQuery([]byte(d.FilterJSON))
	return d, q, err
}

func (s *Server) handleSegmentGet(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	d, q, err := s.segment(r)
	if err != nil {
		return err
	}
	n, err := s.Store.CountSegment(r.Context(), q)
	d.Count = &n
	return respond(w, http.StatusOK, d, err)
}

func (s *Server) handleSegmentMembers(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	d, q, err := s.segment(r)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("format") {
	case "", "json":
	case "csv":
		return s.segmentCSV(w, r, d, q)
	default:
		return store.Invalid("format", "%q is not json or csv", r.URL.Query().Get("format"))
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	ms, next, err := s.Store.SegmentMembers(r.Context(), q, pg)
	return respondList(w, ms, next, err)
}

// segmentCSV streams every member, a page at a time.
func (s *Server) segmentCSV(w http.ResponseWriter, r *http.Request, d *store.SegmentDef, q store.SegmentQuery) error {
	ms, next, err := s.Store.SegmentMembers(r.Context(), q, store.Page{Limit: 500})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="segment-%d.csv"`, d.ID))
	io.WriteString(w, "\ufeff")
	out := csv.NewWriter(w)
	out.Write([]string{"id", "name", "phone", "tier", "stage", "city", "region", "district", "channels"})
	for {
		for _, m := range ms {
			out.Write([]string{strconv.FormatInt(m.ID, 10), csvSafe(m.Name), m.Phone, string(m.Tier), string(m.Stage),
				csvSafe(m.City), csvSafe(m.Region), csvSafe(m.District), strings.Join(m.Channels, ";")})
		}
		if out.Flush(); out.Error() != nil || next == "" {
			return nil
		}
		if ms, next, err = s.Store.SegmentMembers(r.Context(), q, store.Page{Limit: 500, Cursor: next}); err != nil {
			s.Logger.Error("segment export", "segment", d.ID, "err", err)
			return nil // the answer has begun: it ends short
		}
	}
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *Server) handleSegmentPreview(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	var in segmentRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	q, err := s.segmentQuery(in.Filter)
	if err != nil {
		return err
	}
	n, err := s.Store.CountSegment(r.Context(), q)
	if err != nil {
		return err
	}
	ms, _, err := s.Store.SegmentMembers(r.Context(), q, store.Page{Limit: sampleSize})
	return respond(w, http.StatusOK, segmentPreview{Count: n, Sample: ms}, err)
}

func (s *Server) campaigns() (Campaigns, error) {
	if s.Campaigns == nil {
		return nil, store.Errorf(store.EUNAVAILABLE, "campaign service unavailable")
	}
	return s.Campaigns, nil
}

// campaignOf is the campaign service and the {id} of a campaign route.
func (s *Server) campaignOf(r *http.Request) (Campaigns, int64, error) {
	cs, err := s.campaigns()
	if err != nil {
		return nil, 0, err
	}
	id, err := pathID(r, "id")
	return cs, id, err
}

func (s *Server) handleCampaignCreate(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	cs, err := s.campaigns()
	if err != nil {
		return err
	}
	var in store.CampaignInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := cs.Create(r.Context(), in, p)
	if err != nil {
		return err
	}
	s.audit(r, p, "campaign.create", "campaign", c.ID, map[string]any{"name": c.Name, "segment_id": c.SegmentID,
		"status": c.Status, "cap_exempt": c.CapExempt})
	return respond(w, http.StatusCreated, c, nil)
}

func (s *Server) handleCampaigns(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	cs, next, err := s.Store.ListCampaigns(r.Context(), r.URL.Query().Get("status"), pg)
	return respondList(w, cs, next, err)
}

func (s *Server) handleCampaignRuns(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	rs, next, err := s.Store.ListCampaignRuns(r.Context(), id, pg)
	return respondList(w, rs, next, err)
}

func (s *Server) handleCampaignGet(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	c, err := cs.Get(r.Context(), id)
	return respond(w, http.StatusOK, c, err)
}

func (s *Server) handleCampaignDryRun(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	var in campaignDryRunRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			return err
		}
	}
	d, err := cs.DryRun(r.Context(), id, in.Vars)
	return respond(w, http.StatusOK, d, err)
}

func (s *Server) handleCampaignSchedule(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	var in campaignSchedule
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := cs.Schedule(r.Context(), id, in.SendAt)
	if err != nil {
		return err
	}
	s.audit(r, p, "campaign.schedule", "campaign", id, map[string]any{"send_at": in.SendAt.UTC().Format(time.RFC3339)})
	return respond(w, http.StatusOK, c, nil)
}

func (s *Server) handleCampaignSend(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	c, err := cs.Send(r.Context(), id)
	if err != nil {
		return err
	}
	s.audit(r, p, "campaign.send", "campaign", id, map[string]any{"name": c.Name})
	return respond(w, http.StatusOK, c, nil)
}

func (s *Server) handleCampaignCancel(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	c, n, err := cs.Cancel(r.Context(), id)
	if err != nil {
		return err
	}
	s.audit(r, p, "campaign.cancel", "campaign", id, map[string]any{"withdrawn": n})
	return respond(w, http.StatusOK, campaignCancelled{c, n}, nil)
}

func (s *Server) handleCampaignTrigger(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	var in campaignTrigger
	if err := decode(w, r, &in); err != nil {
		return err
	}
	run, created, err := cs.Trigger(r.Context(), id, in.Key, in.Vars)
	if err != nil {
		return err
	}
	s.audit(r, p, "campaign.trigger", "campaign", id, map[string]any{"key": in.Key, "vars": len(in.Vars), "created": created})
	return respond(w, http.StatusAccepted, campaignTriggered{run, created}, nil)
}

func (s *Server) handleCampaignCapExempt(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	cs, id, err := s.campaignOf(r)
	if err != nil {
		return err
	}
	var in campaignCapExempt
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := cs.SetCapExempt(r.Context(), id, in.Exempt, p); err != nil {
		return err
	}
	s.audit(r, p, "campaign.cap_exempt", "campaign", id, map[string]any{"exempt": in.Exempt})
	c, err := s.Store.CampaignByID(r.Context(), id)
	return respond(w, http.StatusOK, c, err)
}
