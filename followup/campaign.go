package followup

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Campaigns is what managers reach in chat with /campaign; cmd wires the
// campaign service (followup does not import it). nil: /campaign answers
// that campaigns are not available.
type Campaigns interface {
	Get(ctx context.Context, id int64) (*store.Campaign, error)
	Count(ctx context.Context, id int64) (*store.Campaign, int64, error)
	Send(ctx context.Context, id int64) (*store.Campaign, error)
}

// campaignCommand answers /campaign list | show ID | send ID [confirm]
// (活动) from a manager or admin. A send asks for confirmation with the
// count first; on Telegram the confirmation is also a button.
func (s *Service) campaignCommand(ctx context.Context, ev *store.ChatEvent, args string) error {
	if ev.Staff.Role != store.RoleAdmin && ev.Staff.Role != store.RoleManager {
		return s.replyError(ctx, ev, store.Errorf(store.EFORBIDDEN, "%s", s.staffText("只有经理和管理员可以管理活动", "only managers and admins run campaigns")))
	}
	if s.o.Campaigns == nil {
		return s.replyError(ctx, ev, store.Errorf(store.EUNAVAILABLE, "%s", s.staffText("活动服务不可用", "campaigns are not available")))
	}
	verb, rest := store.CutWord(args)
	idText, more := store.CutWord(rest)
	id, idErr := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
	usage := store.Errorf(store.EINVALID, "%s", s.staffText("用法：/campaign list | show 活动号 | send 活动号", "usage: /campaign list | show ID | send ID"))
	switch strings.ToLower(verb) {
	case "list", "列表", "":
		cs, _, err := s.store.ListCampaigns(ctx, "", store.Page{Limit: 10})
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "#%d %s [%s]\n", c.ID, store.Clip(c.Name, 40), c.Status)
		}
		if b.Len() == 0 {
			b.WriteString(s.staffText("还没有活动", "no campaigns yet"))
		}
		return s.replyText(ctx, ev, strings.TrimSpace(b.String()), nil)
	case "show", "查看":
		if idErr != nil {
			return s.replyError(ctx, ev, usage)
		}
		c, err := s.o.Campaigns.Get(ctx, id)
		if err != nil {
			return s.replyError(ctx, ev, err)
		}
		r := c.Results
		text := fmt.Sprintf(s.staffText("#%d %s [%s]\n已排队 %d，已发送 %d，失败 %d\n回复 %d，订单 %d，收入 %s，退订 %d",
			"#%d %s [%s]\nqueued %d, sent %d, failed %d\nreplies %d, orders %d, revenue %s, opt-outs %d"),
			c.ID, c.Name, c.Status, r.Queued, r.Sent, r.Failed, r.Replies, r.Orders, r.Revenue, r.OptOuts)
		return s.replyText(ctx, ev, text, nil)
	case "send", "发送":
		if idErr != nil {
			return s.replyError(ctx, ev, usage)
		}
		if strings.EqualFold(strings.TrimSpace(more), "confirm") || strings.TrimSpace(more) == "确认" {
			return s.campaignSend(ctx, ev, id)
		}
		c, n, err := s.o.Campaigns.Count(ctx, id)
		if err != nil {
			return s.replyError(ctx, ev, err)
		}
		text := s.staffText(fmt.Sprintf("将向 %d 位客户发送活动 #%d「%s」。确认请发送：/campaign send %d confirm", n, c.ID, c.Name, c.ID),
			fmt.Sprintf("Campaign #%d %q goes to %d customers. To confirm send: /campaign send %d confirm", c.ID, c.Name, n, c.ID))
		x := &store.Extras{Keyboard: [][]store.Button{{{Text: s.staffText("确认发送", "Send now"), Data: fmt.Sprintf("campaign:%d:send", c.ID)}}}}
		return s.replyText(ctx, ev, text, x)
	}
	return s.replyError(ctx, ev, usage)
}

// campaignSend sends a campaign a manager confirmed, audited as theirs.
func (s *Service) campaignSend(ctx context.Context, ev *store.ChatEvent, id int64) error {
	c, err := s.o.Campaigns.Send(ctx, id)
	if err != nil {
		return s.replyError(ctx, ev, err)
	}
	sid := ev.Staff.ID
	if err := s.store.RecordAudit(ctx, store.AuditEvent{StaffID: &sid, Via: store.AuditViaChat, Action: "campaign.send",
		SubjectType: "campaign", SubjectID: strconv.FormatInt(id, 10), Summary: map[string]any{"name": c.Name, "channel": ev.Message.Channel}}); err != nil {
		return err
	}
	return s.replyText(ctx, ev, fmt.Sprintf(s.staffText("活动 #%d 开始发送", "campaign #%d is sending"), id), nil)
}

// replyText answers a staff member with a text of its own (not a
// template), once per message.
func (s *Service) replyText(ctx context.Context, ev *store.ChatEvent, text string, x *store.Extras) error {
	o := render.Rendered{Text: text}.ReplyTo(ev, fmt.Sprintf("staff_reply:%d", ev.Message.ID))
	if ev.Message.Channel == store.ChannelTelegram {
		o.Extras = x
	}
	_, err := s.store.Enqueue(ctx, []store.Outbound{o})
	return err
}
