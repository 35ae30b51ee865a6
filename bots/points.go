package bots

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// redeemPrefix starts the data of a /redeem button: "rd:REWARD:NONCE",
// NONCE the id of the /redeem message the list answered. Pressing the
// same button twice (a double tap) redeems once: the key is the button's.
const redeemPrefix = "rd:"

// maxRedeemButtons bounds the list (and the keyboard) /redeem shows.
const maxRedeemButtons = 8

// pointsData is what the points templates show of the customer: the
// balance, the next expiry and the newest few entries.
func (r *Router) pointsData(ctx context.Context, c *store.Customer) (*render.Points, error) {
	v, err := r.store.CustomerPoints(ctx, store.SystemActor(), c.ID, 3)
	if err != nil {
		return nil, err
	}
	p := &render.Points{Balance: v.Balance}
	if len(v.Expiring) > 0 {
		// The last day they can be used: the day before the instant.
		p.Expiring, p.ExpiringOn = v.Expiring[0].Points, v.Expiring[0].On.Add(-time.Second)
	}
	lines := make([]string, 0, len(v.Items))
	for _, e := range v.Items {
		lines = append(lines, fmt.Sprintf("%+d %s", e.Points, entryText(c.Locale, e)))
	}
	p.Recent = strings.Join(lines, "\n")
	return p, nil
}

// entryText names a ledger entry for the customer.
func entryText(locale string, e *store.PointsEntry) string {
	switch e.Kind {
	case store.PointsEarn:
		if e.OrderID != nil && !strings.Contains(e.Reason, "bonus") {
			return render.Pick(locale, "消费", "purchase")
		}
		return render.Pick(locale, "奖励", "bonus")
	case store.PointsRedeem:
		return render.Pick(locale, "兑换 ", "redeemed ") + e.Reason
	case store.PointsExpire:
		return render.Pick(locale, "过期", "expired")
	case store.PointsReverse:
		return render.Pick(locale, "退款", "refund")
	}
	return render.Pick(locale, "调整", "adjusted")
}

// replyPoints renders key with the customer's points (and v, when
// issued) and enqueues it as the answer to ev.
func (r *Router) replyPoints(ctx context.Context, ev *store.ChatEvent, key string, vars map[string]string, v *store.Voucher, x *store.Extras) error {
	c, err := r.store.CustomerByID(ctx, ev.Identity.CustomerID)
	if err != nil {
		return err
	}
	p, err := r.pointsData(ctx, c)
	if err != nil {
		return err
	}
	d := render.Data{Customer: render.CustomerOf(c), Extra: vars, Points: p}
	if v != nil {
		d.Voucher = &render.Voucher{Code: v.Code, Name: v.Name, Kind: v.Kind, Value: v.Value.String(), ExpiresAt: v.ExpiresAt}
	}
	out, err := r.opts.Renderer.Render(ctx, key, c.Locale, d)
	if err != nil {
		return err
	}
	o := out.ReplyTo(ev, "reply:"+strconv.FormatInt(ev.Message.ID, 10)+":"+key)
	o.Extras = x
	_, err = r.store.Enqueue(ctx, []store.Outbound{o})
	return err
}

// redeemCommand answers /redeem (兑换): without a number, the rewards the
// customer can afford, numbered by reward id, with a button each on
// Telegram; with a number ("兑换 3"), redeems reward 3. Anything else
// after the word is conversation.
func (r *Router) redeemCommand(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	if ev.Args != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(ev.Args), "#"), 10, 64)
		if err != nil || id <= 0 {
			return false, nil
		}
		// The message is stored once however often it is delivered: its
		// id keys the redemption.
		return true, r.redeem(ctx, ev, id, "msg:"+strconv.FormatInt(ev.Message.ID, 10))
	}
	c, err := r.store.CustomerByID(ctx, ev.Identity.CustomerID)
	if err != nil {
		return true, err
	}
	rs, err := r.store.Rewards(ctx, true, max(c.Points, 0))
	if err != nil {
		return true, err
	}
	if c.Points <= 0 || len(rs) == 0 {
		return true, r.replyPoints(ctx, ev, "redeem_none", nil, nil, nil)
	}
	rs = rs[:min(len(rs), maxRedeemButtons)]
	lines := make([]string, len(rs))
	var kb [][]store.Button
	for i, rw := range rs {
		lines[i] = fmt.Sprintf("%d. %s · %d%s · ¥%s", rw.ID, rw.Name, rw.Points, render.Pick(c.Locale, " 积分", " points"), rw.Value)
		kb = append(kb, []store.Button{{Text: fmt.Sprintf("%s (%d)", rw.Name, rw.Points),
			Data: fmt.Sprintf("%s%d:%d", redeemPrefix, rw.ID, ev.Message.ID)}})
	}
	var x *store.Extras
	if ev.Message.Channel == store.ChannelTelegram {
		x = &store.Extras{Keyboard: kb}
	}
	return true, r.replyPoints(ctx, ev, "redeem_list", map[string]string{"list": strings.Join(lines, "\n")}, nil, x)
}

// redeemButton takes a press of a /redeem button.
func (r *Router) redeemButton(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	rest, ok := strings.CutPrefix(ev.CallbackData, redeemPrefix)
	if !ok {
		return false, nil
	}
	idText, nonce, _ := strings.Cut(rest, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 || len(nonce) > 20 {
		return true, nil // not ours to read; nothing to answer
	}
	return true, r.redeem(ctx, ev, id, "btn:"+nonce+":"+idText)
}

// redeem redeems reward id under key and answers with the voucher, or why
// not.
func (r *Router) redeem(ctx context.Context, ev *store.ChatEvent, id int64, key string) error {
	v, err := r.store.Redeem(ctx, store.SystemActor(), ev.Identity.CustomerID, store.Redemption{RewardID: id, Key: key})
	switch {
	case err == nil:
		return r.replyPoints(ctx, ev, "redeem_done", nil, v, nil)
	case store.IsCode(err, store.ECONFLICT), store.IsCode(err, store.ENOTFOUND), store.IsCode(err, store.EINVALID):
		c, cerr := r.store.CustomerByID(ctx, ev.Identity.CustomerID)
		if cerr != nil {
			return cerr
		}
		why := render.Pick(c.Locale, "没有这个礼品，或已下架、已兑完", "no such reward, or it is no longer available")
		if strings.Contains(store.ErrorMessage(err), "not enough points") {
			why = render.Pick(c.Locale, "积分不足", "not enough points")
		}
		return r.replyPoints(ctx, ev, "redeem_refused", map[string]string{"error": why}, nil, nil)
	}
	return err
}

// vouchersCommand answers /vouchers (券): the unused vouchers with codes.
func (r *Router) vouchersCommand(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	if ev.Args != "" {
		return false, nil // "券怎么用" is a question for staff
	}
	c, err := r.store.CustomerByID(ctx, ev.Identity.CustomerID)
	if err != nil {
		return true, err
	}
	vs, err := r.store.CustomerVouchers(ctx, store.SystemActor(), c.ID, true)
	if err != nil {
		return true, err
	}
	if len(vs) == 0 {
		return true, r.reply(ctx, ev, "vouchers_none", nil)
	}
	loc := r.opts.Location
	if loc == nil {
		loc = time.UTC
	}
	lines := make([]string, 0, len(vs))
	for _, v := range vs[:min(len(vs), 20)] {
		lines = append(lines, fmt.Sprintf("%s ¥%s · %s %s · %s %s", v.Name, v.Value, render.Pick(c.Locale, "券码", "code"), v.Code,
			render.Pick(c.Locale, "有效期至", "valid until"), v.ExpiresAt.In(loc).Format(time.DateOnly)))
	}
	return true, r.reply(ctx, ev, "vouchers_list", map[string]string{"list": strings.Join(lines, "\n")})
}
