package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rapport-crm/rapport/store"
)

// click waits for an element and clicks it.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel))
}

// setValue sets a control's value as a person would, firing input and
// change (a select, a date, a textarea).
func (b *browser) setValue(sel, value string) {
	b.t.Helper()
	b.do("set "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(el => { el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); })(document.querySelector(%q))`,
		value, sel)))
}

// TestConsoleWorkAndManage is a manager's (here the admin's) day in a real
// browser on MariaDB: work the queue (done and snooze by keyboard), see
// who chat does not reach and issue a binding code, edit a template with
// its live preview for a customer found by name and compare versions,
// import 50,000 orders and watch the job to the end across a reload, then
// a file with bad rows and download them, make and revoke a token, and
// find all of it in the audit log; the new screens at 390 px.
func TestConsoleWorkAndManage(t *testing.T) {
	start := time.Now()
	b := newBrowser(t)
	e := startE2E(t, store.MySQL)
	adminID := int64(e.bindStaff(manager, "王店长", "admin", 1))
	e.bindStaff(agent, "小李", "agent", 1)
	unbound := e.api("POST", "/staff", map[string]any{"name": "小张", "role": "agent"}, 201)["id"].(float64)

	li := e.api("POST", "/customers", map[string]any{"name": "李雷", "phone": "13800138000", "tags": []string{"VIP"}, "external_ref": "crm-0"}, 201)["id"].(float64)
	han := e.api("POST", "/customers", map[string]any{"name": "韩梅梅", "external_ref": "crm-1"}, 201)["id"].(float64)
	for i := 2; i < 20; i++ {
		e.api("POST", "/customers", map[string]any{"name": fmt.Sprintf("客户%02d", i), "external_ref": fmt.Sprintf("crm-%d", i)}, 201)
	}
	hour := func(h int) string { return time.Now().Add(time.Duration(h) * time.Hour).UTC().Format(time.RFC3339) }
	task := func(customer float64, kind, title, due string, assignee float64) float64 {
		body := map[string]any{"customer_id": customer, "kind": kind, "title": title, "assignee_id": assignee}
		if due != "" {
			body["due_at"] = due
		}
		return e.api("POST", "/tasks", body, 201)["id"].(float64)
	}
	later := task(li, "manual", "确认下次保养时间", hour(30), float64(adminID))
	overdue := task(li, "revisit", "回访上周洗车的客户", hour(-3), float64(adminID))
	complaint := task(han, "complaint", "客户投诉：车内没有吸尘", hour(2), float64(adminID))
	task(han, "manual", "给小张的任务", hour(5), unbound)

	b.signInByCode(e, e.base, "王店长", manager, 2, "")

	// The work queue: the complaint first, then the overdue task; done and
	// snooze by keyboard.
	b.do("work queue", chromedp.Navigate(e.base+"/console/#/tasks"), chromedp.WaitVisible(chromedp.CSS(".queue-item")),
		chromedp.WaitVisible(chromedp.CSS("#task-customer")))
	order := eval[[]string](b, `[...document.querySelectorAll('.queue-item')].map(a => a.dataset.task)`)
	if want := []string{fmt.Sprint(complaint), fmt.Sprint(overdue), fmt.Sprint(later)}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("queue order %v, want %v", order, want)
	}
	b.waitText("韩梅梅")
	b.shot("desktop-11-work-queue")
	b.do("j, then d", chromedp.KeyEvent("j"), waitJS(fmt.Sprintf(`document.querySelector('.task-card').dataset.task === '%d'`, int(overdue))),
		chromedp.KeyEvent("d"), chromedp.WaitVisible(chromedp.CSS("#task-outcome")),
		chromedp.SendKeys(chromedp.CSS("#task-outcome"), "已电话回访，客户满意"), click("#task-done-save"),
		waitJS(fmt.Sprintf(`!document.querySelector('.queue-item[data-task="%d"]')`, int(overdue))))
	got := e.api("GET", fmt.Sprintf("/tasks/%d", int(overdue)), nil, 200)
	if got["status"] != "done" || got["outcome"] != "已电话回访，客户满意" {
		t.Errorf("task after done: %v", got)
	}
	b.do("snooze the next one", waitJS(`document.querySelector('.task-card') !== null`), chromedp.KeyEvent("s"),
		chromedp.WaitVisible(chromedp.CSS(`[data-snooze="1"]`)), click(`[data-snooze="1"]`), chromedp.WaitNotPresent(chromedp.CSS("dialog[open]")))
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Now().In(shanghai)
	tomorrow9 := time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 0, 0, shanghai)
	telegramWait(t, "due tomorrow 09:00 after the snooze", func() bool {
		due, _ := time.Parse(time.RFC3339, fmt.Sprint(e.api("GET", fmt.Sprintf("/tasks/%d", int(later)), nil, 200)["due_at"]))
		return due.Equal(tomorrow9)
	})

	// Staff: 小张 has a task but no chat account; a binding code fixes it.
	b.do("staff", chromedp.Navigate(e.base+"/console/#/staff"), chromedp.WaitVisible(chromedp.CSS("#staff-warnings .warn-box")))
	b.waitText("小张 有 1 个待办任务")
	b.do("binding code", click(fmt.Sprintf(`[data-bind-for="%d"]`, int(unbound))), waitJS(`/^\/bind [A-Z0-9]{8}$/.test((document.querySelector('#binding-code') || {}).innerText || '')`))
	b.shot("desktop-12-staff")
	b.do("close", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog[open]")))

	// Templates: the preview follows the text as it is typed, for a
	// customer found by name; saving makes v2; the diff shows the line.
	b.do("templates", chromedp.Navigate(e.base+"/console/#/templates"), chromedp.WaitVisible(chromedp.CSS("#template-body")))
	b.setValue("#template-key", "birthday|zh-CN")
	b.waitText("生日快乐")
	b.do("find 李雷", chromedp.SendKeys(chromedp.CSS("#template-customer"), "李"), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-customer="%d"]`, int(li)))),
		click(fmt.Sprintf(`[data-customer="%d"]`, int(li))), chromedp.WaitVisible(chromedp.CSS("#template-customer-clear")))
	b.do("type", chromedp.Evaluate[chromedp.Void](`(el => { el.focus(); el.setSelectionRange(el.value.length, el.value.length); })(document.querySelector('#template-body'))`),
		chromedp.SendKeys(chromedp.CSS("#template-body"), "\n专属于{{.Customer.Name}}的洗车券已发放。"),
		waitJS(`document.querySelector('#template-preview').innerText.includes('专属于李雷的洗车券已发放。')`))
	b.do("save", click("#template-save"), waitJS(`document.querySelector('[data-version="2"]') !== null`))
	b.do("compare", click(`[data-compare="2"]`), waitJS(`[...document.querySelectorAll('#template-diff .diff-line.add')].some(l => l.innerText.includes('专属于{{.Customer.Name}}'))`))
	b.shot("desktop-13-templates")
	for _, c := range []struct{ a, b, want string }{
		{"a\nb\nc", "a\nx\nc", " a|-b|+x| c"},
		{"a\nb", "a\nb", " a| b"},
		{"", "x", "-|+x"},
		{"x\ny\nz", "y\nz\nx", "-x| y| z|+x"},
	} {
		got := eval[string](b, fmt.Sprintf(`import('/console/js/diff.js').then(d => d.lineDiff(%q, %q).map(l => l.op + l.text).join('|'))`, c.a, c.b))
		if got != c.want {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}

	// Care: the next runs from the schedule, a dry run by hand, a run's outcome.
	b.do("care", chromedp.Navigate(e.base+"/console/#/care"), chromedp.WaitVisible(chromedp.CSS(`#care-schedule li[data-workflow="birthday"]`)),
		click("#care-run"), waitJS(`document.querySelector('.slot .ok') !== null`),
		click("tr[data-run]"), chromedp.WaitVisible(chromedp.CSS("dialog .kv")))
	b.shot("desktop-20-care")
	b.do("close", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog[open]")))

	// Import: 50,000 orders, watched to the end across a reload.
	dir := t.TempDir()
	var big strings.Builder
	big.WriteString("customer_external_ref,kind,amount,occurred_at,order_ref\n")
	for i := 0; i < 50000; i++ {
		fmt.Fprintf(&big, "crm-%d,purchase,%d.%02d,2026-%02d-%02d 10:30,ORD-%06d\n", i%20, 50+i%500, i%100, 1+i%11, 1+i%28, i)
	}
	orders := filepath.Join(dir, "orders-2026.csv")
	if err := os.WriteFile(orders, []byte(big.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("imports", chromedp.Navigate(e.base+"/console/#/imports"), chromedp.WaitVisible(chromedp.CSS("#import-file")))
	b.setValue("#import-kind", "orders")
	b.do("upload 50,000 orders", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{orders}), click("#import-start"),
		waitJS(`document.querySelector('.import-job') !== null`))
	b.do("progress shows", waitJS(`!!document.querySelector('.import-job .import-progress, .import-job .import-result')`))
	b.shot("desktop-14-import-progress")
	b.do("reload mid-import", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".import-job")))
	b.do("the job ends", chromedp.Poll[chromedp.Void](`document.querySelector('.import-job').dataset.status === 'done'`,
		chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(200*time.Millisecond)))
	b.waitText("共 50,000 行，写入 50,000")

	// A file with a few bad lines, bad rows skipped, and the bad rows as a file.
	bad := filepath.Join(dir, "customers.csv")
	os.WriteFile(bad, []byte("name,phone,birthday\n王五,13900000001,1990-05-17\n赵六,13900000002,1990-02-30\n,,\n孙七,13900000003,\n周八,13900000004,17-17\n"), 0o600)
	b.setValue("#import-kind", "customers")
	b.do("upload with bad rows", chromedp.Click(chromedp.CSS("#import-skip")), chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{bad}),
		click("#import-start"), waitJS(`document.querySelectorAll('.import-job').length === 2 && document.querySelector('.import-job').dataset.status === 'done'`))
	b.waitText("3 行有误")
	b.shot("desktop-15-imports")
	csv := eval[string](b, `fetch(document.querySelector('.import-job a[download]').href).then(r => r.text())`)
	for _, want := range []string{"line,reason", "3,", "1990-02-30", "4,", "6,"} {
		if !strings.Contains(csv, want) {
			t.Errorf("bad rows file lacks %q:\n%s", want, csv)
		}
	}

	// Tokens: made with an expiry, its secret shown once, revoked.
	b.do("tokens", chromedp.Navigate(e.base+"/console/#/tokens"), chromedp.WaitVisible(chromedp.CSS("#token-new")),
		click("#token-new"), chromedp.WaitVisible(chromedp.CSS("#token-name")), chromedp.SendKeys(chromedp.CSS("#token-name"), "ERP 同步"))
	b.setValue("#token-expiry", "90")
	b.do("create", click("#token-create"), chromedp.WaitVisible(chromedp.CSS("#token-secret")))
	secret := eval[string](b, `document.querySelector('#token-secret').value`)
	if !strings.HasPrefix(secret, "rpt_") {
		t.Fatalf("token shown = %q", secret)
	}
	b.shot("desktop-16-token-shown")
	if code := bearerStatus(t, e.base, secret); code != 200 {
		t.Errorf("the new token: %d", code)
	}
	b.do("close", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog[open]")), waitJS(`document.querySelector('[data-revoke]') !== null`))
	b.do("revoke", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		click(`[data-revoke]:not([data-revoke="1"])`), waitJS(`document.body.innerText.includes('已撤销')`))
	if code := bearerStatus(t, e.base, secret); code != 401 {
		t.Errorf("the revoked token: %d", code)
	}
	b.shot("desktop-17-tokens")

	// The audit log has all of it.
	b.do("audit", chromedp.Navigate(e.base+"/console/#/audit"), chromedp.WaitVisible(chromedp.CSS(".audit-item")))
	for _, want := range []string{"撤销了令牌", "创建了令牌", "开始了导入", "保存了模板", "生成了绑定码"} {
		b.waitText(want)
	}
	b.setValue("#audit-action", "token")
	b.do("filtered", waitJS(`document.querySelectorAll('.audit-item').length === 2`))
	b.shot("desktop-18-audit")

	// English, on the work queue.
	b.do("English queue", chromedp.Navigate(e.base+"/console/#/tasks"), chromedp.WaitVisible(chromedp.CSS(".queue-item")),
		chromedp.KeyEvent("l"), waitJS(`document.body.innerText.includes('My queue')`))
	b.shot("desktop-19-work-queue-en")
	b.do("back to Chinese", chromedp.KeyEvent("l"), waitJS(`document.body.innerText.includes('我的队列')`))

	// A phone: the new screens fit 390 px.
	p := b.tab()
	p.do("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(e.base+"/console/#/inbox"), chromedp.WaitVisible(chromedp.CSS(".inbox")))
	for _, s := range []struct{ route, ready, name string }{
		{"tasks", ".queue-item", "phone-06-work-queue"},
		{fmt.Sprintf("tasks/%d", int(complaint)), "#task-customer", "phone-07-task-card"},
		{"manage", ".hub-item", "phone-08-manage"},
		{"templates", "#template-preview", "phone-09-templates"},
		{"imports", ".import-job", "phone-10-imports"},
		{"staff", "tr[data-staff]", "phone-11-staff"},
		{"audit", ".audit-item", "phone-12-audit"},
	} {
		p.do("phone "+s.route, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/%s"`, s.route)), chromedp.WaitVisible(chromedp.CSS(s.ready)))
		p.shot(s.name)
		if w := eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("#/%s is %d px wide at a 390 px phone width", s.route, w)
		}
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// bearerStatus is the status of GET /api/v1/customers with a token.
func bearerStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
