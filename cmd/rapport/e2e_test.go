package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store/storetest"
)

// These tests drive the whole binary the way its users do: customers and
// staff talk to a Telegram bot (the Bot API faked at the wire, our side on
// the real client library), managers use the admin API.

const (
	e2eToken  = "serve-test-token-0123456789"
	e2eSecret = "hook-secret-1_0123456789abcdefghijklmnop"
	customer  = "1001" // Telegram user ids
	agent     = "2002"
	manager   = "3003"
)

// e2e is one running `rapport serve` and its fake Telegram.
type e2e struct {
	t      *testing.T
	base   string
	tg     *telegramtest.Server
	update atomic.Int64
	msgID  atomic.Int64
}

func startE2E(t *testing.T, dialect string) *e2e {
	t.Helper()
	tg := telegramtest.New(t)
	extra := fmt.Sprintf(`business_name: "青柠洗车"
timezone: Asia/Shanghai
telegram:
  enabled: true
  token: %q
  mode: webhook
  webhook_secret: %q
  api_url: %q
followup:
  console_url: "https://crm.example.com/console/"
  digest_time: ""   # a digest after 18:00 would come between a manager's expected messages
# The scenarios count messages and tasks exactly; a first order makes a
# lone buyer tier A, whose VIP greeting would interleave (care tests cover it).
# The scenarios run care for fixed dates near today's: a start-up catch-up
# of those dates would race them.
care:
  catch_up_days: 0
  lifecycle: { enabled: false }
`, telegramtest.Token, e2eSecret, tg.URL())
	path, base := writeConfig(t, dialect, extra)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var stderr bytes.Buffer
	go func() { errc <- run(ctx, []string{"serve", "-config", path}, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", stderr.String())
		}
	})
	waitReady(t, base, errc)
	e := &e2e{t: t, base: base, tg: tg}
	e.update.Store(100)
	e.msgID.Store(500)
	return e
}

// api calls the admin API with the bootstrap token and decodes the answer.
func (e *e2e) api(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+"/api/v1"+path, r)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return out
}

// webhook posts one Telegram update the way Telegram does.
func (e *e2e) webhook(update string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+"/webhooks/telegram", strings.NewReader(update))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", e2eSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("webhook = %d", resp.StatusCode)
	}
}

func user(id string) string {
	return fmt.Sprintf(`{"id":%s,"is_bot":false,"first_name":"U%s","language_code":"zh-hans"}`, id, id)
}

// say sends a text message from a user; replyTo, if set, is the message it
// answers (Telegram's reply-to).
func (e *e2e) say(from, text string, replyTo int) {
	e.t.Helper()
	rt := ""
	if replyTo > 0 {
		rt = fmt.Sprintf(`,"reply_to_message":{"message_id":%d,"date":0,"chat":{"id":%s,"type":"private"},"text":"x"}`, replyTo, from)
	}
	quoted, _ := json.Marshal(text)
	e.webhook(fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%s,"type":"private"},"from":%s,"text":%s%s}}`,
		e.update.Add(1), e.msgID.Add(1), time.Now().Unix(), from, user(from), quoted, rt))
}

// press presses an inline button.
func (e *e2e) press(from, data string) {
	e.t.Helper()
	e.webhook(fmt.Sprintf(`{"update_id":%d,"callback_query":{"id":"cb%d","from":%s,"chat_instance":"ci","data":%q,"message":{"message_id":1,"date":0,"chat":{"id":%s,"type":"private"}}}}`,
		e.update.Add(1), e.update.Load(), user(from), data, from))
}

// await waits for the n-th message to chat (1-based) and returns it.
func (e *e2e) await(chat string, n int, what string) telegramtest.Sent {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var texts []string
		for _, s := range e.tg.Sends() {
			if s.ChatID == chat {
				if texts = append(texts, s.Text); len(texts) == n {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s (message %d to %s); it got %q", what, n, chat, texts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// button finds the callback data of the inline button whose label contains label.
func button(t *testing.T, s telegramtest.Sent, label string) string {
	t.Helper()
	var kb struct {
		InlineKeyboard [][]struct {
			Text         string `json:"text"`
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	json.Unmarshal([]byte(s.ReplyMarkup), &kb)
	for _, row := range kb.InlineKeyboard {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return b.CallbackData
			}
		}
	}
	t.Fatalf("no button %q in %q (markup %s)", label, s.Text, s.ReplyMarkup)
	return ""
}

// bindStaff creates a staff member and binds their Telegram account.
func (e *e2e) bindStaff(tgID, name, role string, nth int) float64 {
	e.t.Helper()
	st := e.api("POST", "/staff", map[string]any{"name": name, "role": role}, 201)
	id := st["id"].(float64)
	code := e.api("POST", fmt.Sprintf("/staff/%d/binding-codes", int(id)), nil, 201)["code"].(string)
	e.say(tgID, "/bind "+code, 0)
	e.await(tgID, nth, name+"'s bind confirmation")
	return id
}

// TestUnhappyCustomerGetsHumanFollowUp is the follow-up issue's full path:
// a low survey score opens a complaint task, the assignee is told in chat,
// the customer's next words are relayed, the assignee's reply reaches the
// customer on their own channel, and /done closes the task with its outcome.
func TestUnhappyCustomerGetsHumanFollowUp(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := startE2E(t, d)
			agentID := e.bindStaff(agent, "小李", "agent", 1)

			e.say(customer, "/start", 0)
			e.await(customer, 1, "welcome")
			found := e.api("GET", "/customers?channel=telegram&external_id="+customer, nil, 200)["items"].([]any)
			if len(found) != 1 {
				t.Fatalf("customer by identity: %v", found)
			}
			cid := found[0].(map[string]any)["id"].(float64)
			e.api("POST", "/orders", map[string]any{"customer_id": cid, "kind": "service", "amount": 128, "occurred_at": "2026-11-30T10:00:00+08:00"}, 201)

			run := e.api("POST", "/care/runs", map[string]any{"workflow": "survey", "date": "2026-12-01"}, 200)
			if run["queued"].(float64) != 1 {
				t.Fatalf("survey run: %v", run)
			}
			survey := e.await(customer, 2, "survey")
			e.press(customer, button(t, survey, "2"))
			thanks := e.await(customer, 3, "survey thank-you")

			notice := e.await(agent, 2, "task notification")
			if !strings.Contains(notice.Text, "U1001") {
				t.Errorf("notification lacks the customer's card: %q", notice.Text)
			}
			button(t, notice, "完成")
			tasks := e.api("GET", fmt.Sprintf("/tasks?customer_id=%d&status=open", int(cid)), nil, 200)["items"].([]any)
			if len(tasks) != 1 {
				t.Fatalf("open tasks = %v", tasks)
			}
			task := tasks[0].(map[string]any)
			if task["kind"] != "survey_recovery" && task["kind"] != "complaint" || task["assignee_id"].(float64) != agentID {
				t.Errorf("task = %v", task)
			}
			tid := int(task["id"].(float64))

			e.say(customer, "洗完车还是有水印，太失望了", 0)
			relay := e.await(agent, 3, "relayed customer message")
			if !strings.Contains(relay.Text, "水印") {
				t.Errorf("relay = %q", relay.Text)
			}
			e.say(agent, "非常抱歉！明天上午免费为您重洗一次，可以吗？", relay.MessageID)
			got := e.await(customer, 4, "the agent's reply (agent saw "+strings.Join(e.tg.SentTo(agent), " | ")+")")
			if got.Text != "非常抱歉！明天上午免费为您重洗一次，可以吗？" {
				t.Errorf("customer received %q", got.Text)
			}
			_ = thanks

			e.say(agent, fmt.Sprintf("/done %d 已重洗，客户满意", tid), 0)
			telegramtest.WaitFor(t, "task done", 20*time.Second, func() bool {
				return e.api("GET", fmt.Sprintf("/tasks/%d", tid), nil, 200)["status"] == "done"
			})
			closed := e.api("GET", fmt.Sprintf("/tasks/%d", tid), nil, 200)
			if !strings.Contains(fmt.Sprint(closed), "已重洗，客户满意") {
				t.Errorf("outcome not stored: %v", closed)
			}

			// The conversation holds both sides, the agent's reply included.
			msgs := e.api("GET", fmt.Sprintf("/customers/%d/messages", int(cid)), nil, 200)["items"].([]any)
			var texts []string
			for _, m := range msgs {
				texts = append(texts, m.(map[string]any)["text"].(string))
			}
			if all := strings.Join(texts, "|"); !strings.Contains(all, "水印") || !strings.Contains(all, "免费为您重洗") {
				t.Errorf("conversation = %q", texts)
			}
		})
	}
}

// TestManagerEditsGreetingInChat is the templates issue's promise: a
// manager changes the birthday greeting in Telegram, previews it, confirms,
// and the next run sends the new text; a broken edit and an agent's edit
// change nothing.
func TestManagerEditsGreetingInChat(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := startE2E(t, d)
			e.bindStaff(manager, "王经理", "manager", 1)
			e.bindStaff(agent, "小李", "agent", 1)

			e.say(agent, "/template set birthday\n随便改改", 0)
			if got := e.await(agent, 2, "refusal").Text; strings.Contains(got, "预览") || strings.Contains(got, "Preview") {
				t.Errorf("agent got a preview: %q", got)
			}

			e.say(manager, "/template set birthday\n{{.Customer.Nmae}}生日快乐", 0)
			if got := e.await(manager, 2, "error for a broken body").Text; !strings.Contains(got, "Nmae") {
				t.Errorf("broken body answer = %q, want it to name the field", got)
			}

			e.say(manager, "/template set birthday\n{{default \"亲爱的顾客\" .Customer.Salutation}}，生日快乐！{{.Business}}送您一次免费精洗 🎁", 0)
			if got := e.await(manager, 3, "preview").Text; !strings.Contains(got, "送您一次免费精洗") {
				t.Errorf("preview = %q", got)
			}
			e.say(manager, "/template confirm", 0)
			e.await(manager, 4, "confirmation")
			tpl := e.api("GET", "/templates/birthday", nil, 200)
			if tpl["version"].(float64) != 2 || !strings.Contains(fmt.Sprint(tpl["updated_by"]), "王经理") {
				t.Errorf("active template = %v", tpl)
			}

			c := e.api("POST", "/customers", map[string]any{"name": "陈静", "birthday": "12-01"}, 201)
			e.say(customer, "/start", 0)
			e.await(customer, 1, "welcome")
			// Give the chat identity the birthday by putting it on that customer.
			found := e.api("GET", "/customers?channel=telegram&external_id="+customer, nil, 200)["items"].([]any)
			cid := found[0].(map[string]any)["id"].(float64)
			e.api("PATCH", fmt.Sprintf("/customers/%d", int(cid)), map[string]any{"name": "陈静", "birthday": "1990-12-01", "gender": "female"}, 200)
			_ = c

			run := e.api("POST", "/care/runs", map[string]any{"workflow": "birthday", "date": "2026-12-01"}, 200)
			if run["queued"].(float64) < 1 {
				t.Fatalf("birthday run: %v", run)
			}
			greeting := e.await(customer, 2, "birthday greeting").Text
			if want := "陈女士，生日快乐！青柠洗车送您一次免费精洗 🎁"; greeting != want {
				t.Errorf("greeting = %q, want %q", greeting, want)
			}
		})
	}
}
