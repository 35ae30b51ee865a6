package wechat

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// maxBody bounds a callback body.
const maxBody = 1 << 20

// ServeHTTP is the callback endpoint (GET and POST /webhooks/wechat).
//
// GET is URL verification: a valid signature gets echostr back. POST
// carries a message or event, plaintext or in safe mode (encrypt_type=aes);
// with wechat.encoding_aes_key set, only safe mode. A bad signature, a
// timestamp more than 5 minutes off the store's clock, a nonce already
// used in that window or a plaintext body in safe mode get 401, a body
// that does not parse 400, all before anything is stored; over 1 MiB gets
// 413; unhandled types get "success". A template message delivery report
// (TEMPLATESENDJOBFINISH) updates the message it names and always gets
// "success"; it is not chat, so it is not stored as a message and never
// creates a customer.
//
// WeChat retries a callback not answered within 5 s, and the customer then
// sees an error, so the answer never waits on the store for more than
// ReceiveTimeout (3.5 s). Trade-off: when the store is that slow the
// answer is "success" and the store carries on in the background for up to
// StoreTimeout; the message is lost only if that also fails or the process
// dies meanwhile (WeChat will not resend it). A store that fails fast gets
// 500, so WeChat redelivers (the redelivery dedups); so does a panic, which
// web.Server, where the callback is mounted, answers with 500.
func (a *Adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST only", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	// Checked here, constant-time, before the library (which compares with
	// == and logs failures).
	want := util.Signature(a.cfg.Token, q.Get("timestamp"), q.Get("nonce"))
	if subtle.ConstantTimeCompare([]byte(q.Get("signature")), []byte(want)) != 1 {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	// The signature proves WeChat sent these parameters once; a fresh
	// timestamp and a nonce used once keep a captured request from being
	// played again.
	if msg := a.checkTimestamp(q.Get("timestamp")); msg != "" {
		http.Error(w, msg, http.StatusUnauthorized)
		return
	}
	nonce := q.Get("nonce")
	if !validNonce(nonce) {
		http.Error(w, "bad nonce", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPost && a.cfg.EncodingAESKey != "" &&
		(q.Get("encrypt_type") != "aes" || q.Get("msg_signature") == "") {
		// In safe mode the body's proof is msg_signature over the
		// ciphertext; a plaintext body has none.
		http.Error(w, "wechat.encoding_aes_key is set: only encrypt_type=aes with a msg_signature is accepted", http.StatusUnauthorized)
		return
	}
	// The answer must come within WeChat's 5 s whatever the database
	// does: a nonce check that takes too long is skipped (the message is
	// still stored once, by its MsgId), rather than failing the customer.
	cctx, cancel := context.WithTimeout(r.Context(), nonceWait)
	fresh, err := a.nonces.claim(cctx, nonce)
	slow := cctx.Err() != nil
	cancel()
	switch {
	case err != nil && slow:
		a.log.Warn("wechat callback: nonce check timed out, accepting without it", "wait", nonceWait)
		fresh = true
	case err != nil:
		a.log.Error("wechat callback: record nonce", "err", err)
		http.Error(w, "cannot check the nonce", http.StatusInternalServerError)
		return
	}
	if !fresh {
		http.Error(w, "nonce already used", http.StatusUnauthorized)
		return
	}
	if status := a.serveFresh(w, r, q); status >= 500 {
		// WeChat is asked to redeliver, maybe with the same nonce: this
		// attempt must not have used it up.
		a.nonces.release(r.Context(), nonce)
	}
}

// serveFresh answers an authenticated callback and returns the status it
// wrote.
func (a *Adapter) serveFresh(w http.ResponseWriter, r *http.Request, q url.Values) int {
	fail := func(msg string, status int) int {
		http.Error(w, msg, status)
		return status
	}
	if r.Method == http.MethodGet {
		echo := q.Get("echostr")
		if echo == "" {
			return fail("echostr missing", http.StatusBadRequest)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, echo)
		return http.StatusOK
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail("body larger than 1 MiB", http.StatusRequestEntityTooLarge)
		}
		return fail("cannot read body", http.StatusBadRequest)
	}
	safe := q.Get("encrypt_type") == "aes"
	if safe && a.cfg.EncodingAESKey == "" {
		return fail("safe mode message but wechat.encoding_aes_key is not set", http.StatusBadRequest)
	}
	in, ok, report, status, err := a.decode(r, body)
	if err != nil {
		return fail("not a WeChat message: "+err.Error(), status)
	}
	if report != nil {
		a.applyTemplateReport(r.Context(), *report)
	} else if ok {
		if err := a.receive(r.Context(), in); err != nil {
			if store.IsCode(err, store.EINVALID) {
				return fail(store.ErrorMessage(err), http.StatusBadRequest)
			}
			a.log.Error("wechat callback: store message", "err", err)
			return fail("cannot store message", http.StatusInternalServerError)
		}
	}
	// Replies go out through the outbox as customer-service messages, so
	// the passive answer is always "success" (also in safe mode, where the
	// library would otherwise write an encrypted empty reply).
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
	return http.StatusOK
}

// decode runs the library's server over the buffered body (it verifies
// msg_signature and decrypts in safe mode) and maps the message, or
// returns the template delivery report it carries. The library writes to a
// throwaway writer: the answer is ours to give.
func (a *Adapter) decode(r *http.Request, body []byte) (in bots.Inbound, ok bool, report *templateReport, status int, err error) {
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	srv := a.oa.GetServer(req, discard{})
	srv.SkipValidate(true) // checked in ServeHTTP
	var got *message.MixMessage
	srv.SetMessageHandler(func(m *message.MixMessage) *message.Reply {
		got = m
		return nil
	})
	if err := srv.Serve(); err != nil {
		if strings.Contains(err.Error(), "验证签名失败") {
			return in, false, nil, http.StatusUnauthorized, errors.New("bad msg_signature")
		}
		return in, false, nil, http.StatusBadRequest, err
	}
	if got == nil {
		return in, false, nil, http.StatusBadRequest, errors.New("empty message")
	}
	if rep, isReport := templateReportOf(got); isReport {
		return in, false, &rep, 0, nil
	}
	in, ok, err = fromMessage(got, srv.RequestRawXMLMsg)
	if err != nil {
		return in, false, nil, http.StatusBadRequest, err
	}
	return in, ok, nil, 0, nil
}

// applyTemplateReport records a template message's delivery report. A
// failure marks the message failed, and a block also the customer's
// identity unreachable, as a send refused with 43004 does. Success changes
// nothing: the row is sent already. WeChat gets "success" whatever happens
// here; problems are logged.
func (a *Adapter) applyTemplateReport(ctx context.Context, rep templateReport) {
	failed, blocked := rep.failed()
	switch {
	case strings.EqualFold(rep.status, templateDelivered):
		a.metrics.templateReport("success")
		return
	case !failed:
		a.log.Warn("wechat: template report with unknown status", "msgid", rep.msgID, "status", store.CutRunes(rep.status, 64))
		a.metrics.templateReport("unknown_status")
		return
	case rep.msgID <= 0 || rep.openID == "" || len(rep.openID) > maxOpenID:
		a.log.Warn("wechat: template report without msgid or openid", "msgid", rep.msgID)
		a.metrics.templateReport("invalid")
		return
	}
	u := store.Undelivered{
		Channel: store.ChannelWeChat, ChatID: rep.openID, ProviderMsgID: templateProviderID(rep.msgID),
		Reason: "wechat: " + store.CutRunes(rep.status, 128), Unreachable: blocked,
	}
	// Metrics and logs are taken inside: the work may outlive the callback.
	err := a.bounded(ctx, "template report", u.ProviderMsgID, func(ctx context.Context) error {
		changed, err := a.opts.Store.MarkUndelivered(ctx, u)
		switch {
		case store.IsCode(err, store.ENOTFOUND):
			// Not ours (sent by another tool on the account), or reported
			// before the dispatcher recorded the msgid.
			a.log.Info("wechat: template report for an unknown message", "msgid", rep.msgID)
			a.metrics.templateReport("unknown_message")
			return nil
		case err != nil:
			a.metrics.templateReport("error")
			return err
		case !changed:
			a.metrics.templateReport("repeated")
		case blocked:
			a.metrics.templateReport("blocked")
		default:
			a.metrics.templateReport("failed")
		}
		return nil
	})
	if err != nil {
		a.log.Error("wechat: template report", "msgid", rep.msgID, "err", err)
	}
}

// receive stores in, waiting at most ReceiveTimeout; a store still running
// then finishes in the background (see ServeHTTP).
func (a *Adapter) receive(ctx context.Context, in bots.Inbound) error {
	return a.bounded(ctx, "message", in.DedupKey, func(ctx context.Context) error {
		return a.opts.Receiver.Receive(ctx, in)
	})
}

// bounded runs store work for a callback within StoreTimeout, waiting for
// it at most ReceiveTimeout; work still running then finishes in the
// background and the error is nil. what and key name the work in logs.
func (a *Adapter) bounded(ctx context.Context, what, key string, fn func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.StoreTimeout)
	done := make(chan error, 1)
	a.late.Add(1)
	go func() {
		defer a.late.Done()
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("wechat receive panic", "panic", p, "stack", string(debug.Stack()))
				done <- errors.New("panic while storing")
			}
		}()
		err := fn(sctx)
		done <- err
		if err != nil && sctx.Err() != nil {
			a.log.Error("wechat: "+what+" lost: store timed out", "key", key, "err", err)
		}
	}()
	t := time.NewTimer(a.opts.ReceiveTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		a.log.Warn("wechat: store slower than the callback allows; answering success, still storing", "what", what, "key", key)
		return nil
	}
}

// discard is a ResponseWriter for the library's server, whose own answer
// is not used.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
