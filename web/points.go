package web

import (
	"net/http"
	"strconv"

	"github.com/rapport-crm/rapport/store"
)

// pointsRoutes mounts the loyalty endpoints: a customer's ledger and
// adjustments, the reward catalogue, redemptions and vouchers.
func (s *Server) pointsRoutes() {
	s.api("GET /customers/{id}/points", s.customerPoints).doc(op{
		Summary: "A customer's points: balance, what expires when, the newest ledger entries",
		Description: "`balance` is the sum of the ledger. `expiring`: what is left of the credits by expiry date " +
			"(debits spend what expires soonest first). `items`: newest first, up to `limit` (default 50, at most 200).",
		Query: []param{query("limit", "", schema{"type": "integer", "minimum": 1, "maximum": 200})},
		Out:   store.PointsView{},
	})
	s.api("POST /customers/{id}/points/adjustments", s.adjustPoints, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Adjust a customer's points by hand, with a reason",
		Description: "`points` ±N (not 0), `reason` required. A credit expires as earned points do; a debit that would take " +
			"the balance below zero is 409.",
		In:     store.PointsAdjustment{},
		Out:    store.PointsEntry{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusConflict},
	})
	s.api("GET /rewards", s.listRewards).doc(op{
		Summary:     "The reward catalogue, by points",
		Description: "`active=true`: only those that can be redeemed now (active, in stock).",
		Query:       []param{query("active", "", schema{"type": "boolean"})},
		Out:         list[*store.Reward]{},
	})
	s.api("POST /rewards", s.createReward, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Add a reward",
		Description: "`name` and `points` required; `kind` is a free label (`repair` 维修券, `accessory` 精品券; default `voucher`), " +
			"`valid_days` (default 90) how long its vouchers are valid, `stock` how many there are (absent: unlimited).",
		In:     store.RewardInput{},
		Out:    store.Reward{},
		Status: http.StatusCreated,
	})
	s.api("PATCH /rewards/{id}", s.patchReward, store.RoleAdmin, store.RoleManager).doc(op{
		Summary:     "Change a reward",
		Description: "Changes only the fields given; `stock: -1` makes it unlimited. Vouchers issued keep what they were issued with.",
		In:          store.RewardInput{},
		Out:         store.Reward{},
	})
	s.api("POST /customers/{id}/redemptions", s.redeem).doc(op{
		Summary: "Redeem a reward for a customer: deducts its points and issues a voucher",
		Description: "`key`, optional, makes it idempotent: the same key answers the voucher it issued. " +
			"409 when the balance is short, the reward is inactive or out of stock; nothing changes then.",
		In:     store.Redemption{},
		Out:    store.Voucher{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusConflict},
	})
	s.api("GET /customers/{id}/vouchers", s.customerVouchers).doc(op{
		Summary:     "A customer's vouchers, newest first",
		Description: "`status` is `unused`, `used` or `expired`. `unused=true`: only those usable now.",
		Query:       []param{query("unused", "", schema{"type": "boolean"})},
		Out:         list[*store.Voucher]{},
	})
	s.api("POST /vouchers/{code}/use", s.useVoucher).doc(op{
		Summary:     "Mark a voucher used, optionally on an order of its customer",
		Description: "The code as printed; case and spaces do not matter. 409 when it is used or expired.",
		In:          voucherUse{},
		Out:         store.Voucher{},
		Errors:      []int{http.StatusConflict},
	})
}

// voucherUse is the body of POST /vouchers/{code}/use.
type voucherUse struct {
	OrderID *int64 `json:"order_id"`
}

func (s *Server) customerPoints(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 200 {
			return store.Invalid("limit", "must be 1-200")
		}
	}
	v, err := s.Store.CustomerPoints(r.Context(), store.ActorOf(p), id, limit)
	return respond(w, http.StatusOK, v, err)
}

func (s *Server) adjustPoints(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.PointsAdjustment
	if err := decode(w, r, &in); err != nil {
		return err
	}
	e, err := s.Store.AdjustPoints(r.Context(), store.ActorOf(p), id, in)
	if err == nil {
		s.audit(r, p, "points.adjust", "customer", id, map[string]any{"points": in.Points, "reason": e.Reason})
	}
	return respond(w, http.StatusCreated, e, err)
}

func (s *Server) listRewards(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	active := false
	if v := r.URL.Query().Get("active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return store.Invalid("active", "must be true or false")
		}
		active = b
	}
	rs, err := s.Store.Rewards(r.Context(), active, 0)
	return respondList(w, rs, "", err)
}

func (s *Server) createReward(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in store.RewardInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	rw, err := s.Store.CreateReward(r.Context(), in)
	if err == nil {
		s.audit(r, p, "reward.create", "reward", rw.ID, map[string]any{"name": rw.Name, "points": rw.Points})
	}
	return respond(w, http.StatusCreated, rw, err)
}

func (s *Server) patchReward(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.RewardInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	rw, err := s.Store.UpdateReward(r.Context(), id, in)
	if err == nil {
		s.audit(r, p, "reward.update", "reward", id, map[string]any{"name": rw.Name, "points": rw.Points, "active": rw.Active})
	}
	return respond(w, http.StatusOK, rw, err)
}

func (s *Server) redeem(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.Redemption
	if err := decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.Store.Redeem(r.Context(), store.ActorOf(p), id, in)
	if err == nil {
		s.audit(r, p, "points.redeem", "customer", id, map[string]any{"reward_id": in.RewardID, "voucher_id": v.ID})
	}
	return respond(w, http.StatusCreated, v, err)
}

func (s *Server) customerVouchers(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	unused := false
	if v := r.URL.Query().Get("unused"); v != "" {
		if unused, err = strconv.ParseBool(v); err != nil {
			return store.Invalid("unused", "must be true or false")
		}
	}
	vs, err := s.Store.CustomerVouchers(r.Context(), store.ActorOf(p), id, unused)
	return respondList(w, vs, "", err)
}

func (s *Server) useVoucher(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in voucherUse
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			return err
		}
	}
	v, err := s.Store.UseVoucher(r.Context(), store.ActorOf(p), r.PathValue("code"), in.OrderID)
	if err == nil {
		s.audit(r, p, "voucher.use", "voucher", v.ID, map[string]any{"code": v.Code, "order_id": v.OrderID})
	}
	return respond(w, http.StatusOK, v, err)
}
