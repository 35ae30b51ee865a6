package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// The adapters map care, followup and router data onto the template data
// model and back.
func TestTemplateAdapters(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	svc := templates.New(s, templates.Config{BusinessName: "安心家电", Location: loc})
	ctx := context.Background()
	c := &store.Customer{ID: 1, Name: "张伟", Gender: "male", Locale: "zh-CN", Points: 88}

	var cr care.Renderer = careTemplates{svc, loc}
	r, err := cr.Render(ctx, "maintenance", "zh-CN", care.Data{Customer: c, Asset: &care.AssetData{Name: "热水器", DueDate: "2027-03-12"}})
	if err != nil || r.Version != 1 || !strings.Contains(r.Text, "张先生，您好！温馨提醒：您的热水器将于2027年3月12日") {
		t.Errorf("care: %+v %v", r, err)
	}

	var fr followup.Renderer = followupTemplates{svc}
	due := time.Date(2027, 3, 5, 8, 0, 0, 0, time.UTC)
	f, err := fr.Render(ctx, "task_overdue", "zh-CN", followup.Notice{Task: &store.Task{ID: 5, Title: "回电", DueAt: &due}, CustomerName: "张伟", Extra: map[string]string{}})
	if err != nil || !strings.Contains(f.Text, "任务 #5 已逾期（截止 3月5日 16:00）：回电") {
		t.Errorf("followup: %+v %v", f, err)
	}
	if _, err := fr.Render(ctx, "staff_help", "zh-CN", followup.Notice{}); err == nil {
		t.Errorf("followup: an unshipped key rendered")
	}

	var br bots.Renderer = chatTemplates{svc}
	b, err := br.RenderChat(ctx, "points_balance", c, map[string]string{"points": "88"})
	if err != nil || !strings.Contains(b.Text, "88 分") || b.Version != 1 {
		t.Errorf("chat: %+v %v", b, err)
	}
	if _, err := br.RenderChat(ctx, "nope", c, nil); err != bots.ErrNoTemplate {
		t.Errorf("chat unknown key: %v", err)
	}
}
