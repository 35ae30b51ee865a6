package telegram

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// maxUpdate bounds a webhook body.
const maxUpdate = 1 << 20

// ServeHTTP is the webhook endpoint (POST /webhooks/telegram). It answers
// 200 only once the update is stored, because Telegram redelivers after any
// other answer: 403 for a bad secret, 413 over 1 MiB, 400 for a body that is
// not an update; unknown update types get 200 and are ignored. It is
// mounted on web.Server, which answers a panic with 500.
func (a *Adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	// New refuses webhook mode without a secret; an adapter without one
	// (polling mode) accepts nothing here.
	got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if a.cfg.WebhookSecret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.WebhookSecret)) != 1 {
		http.Error(w, "bad secret token", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpdate))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "update larger than 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	in, ok, err := Parse(body)
	if err != nil {
		http.Error(w, "body is not a Telegram update: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusOK) // acknowledged, ignored
		return
	}
	// Storing must not be cut short if Telegram hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 20*time.Second)
	defer cancel()
	if err := a.opts.Receiver.Receive(ctx, in); err != nil {
		if store.IsCode(err, store.EINVALID) {
			http.Error(w, store.ErrorMessage(err), http.StatusBadRequest)
			return
		}
		a.log.Error("telegram webhook: store update", "err", err)
		http.Error(w, "cannot store update", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.answerCallback(in)
}
