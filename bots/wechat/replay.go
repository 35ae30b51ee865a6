package wechat

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// replayWindow is how far a callback's timestamp may be from the store's
// clock; a nonce is remembered for as long as its timestamp is accepted.
const replayWindow = 300 * time.Second

// maxNonce bounds a nonce (WeChat's are about ten digits), and with it the
// kv key that remembers it.
const maxNonce = 64

// nonceWait bounds the nonce check, part of the 5 s WeChat waits for an
// answer (with ReceiveTimeout for the store).
const nonceWait = 500 * time.Millisecond

// purgeEvery is how often Run removes nonces that have expired.
const purgeEvery = 5 * time.Minute

// checkTimestamp returns why a callback's timestamp is refused, or "".
func (a *Adapter) checkTimestamp(raw string) string {
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return "bad timestamp"
	}
	off := a.opts.Store.Now().Sub(time.Unix(ts, 0))
	if off > replayWindow || off < -replayWindow {
		return "timestamp more than 300 s off"
	}
	return ""
}

// validNonce: 1 to 64 letters, digits, - or _.
func validNonce(n string) bool {
	if n == "" || len(n) > maxNonce {
		return false
	}
	for _, c := range []byte(n) {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// nonceBook remembers the nonces of accepted callbacks in the store's kv
// table, so every replica refuses a replay another one accepted.
type nonceBook struct {
	store *store.Store
	log   *slog.Logger
	// id marks this process's claims, so release never drops another's.
	id string
}

func newNonceBook(s *store.Store, log *slog.Logger) *nonceBook {
	return &nonceBook{store: s, log: log, id: store.HolderName()}
}

func nonceKey(nonce string) string { return "wechat:nonce:" + nonce }

// claim records nonce as used; false means it was used already. It is
// kept for twice the replay window: a callback whose timestamp passed
// checkTimestamp is refused by that check before its nonce is forgotten.
func (b *nonceBook) claim(ctx context.Context, nonce string) (bool, error) {
	return b.store.KVAdd(ctx, nonceKey(nonce), b.id, 2*replayWindow)
}

// release forgets a nonce this process claimed, so a redelivery of a
// callback we answered 5xx is accepted.
func (b *nonceBook) release(ctx context.Context, nonce string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := b.store.KVDelete(ctx, nonceKey(nonce), &b.id); err != nil {
		b.log.Warn("wechat: release nonce", "err", err)
	}
}

// purge removes expired nonces (and other expired kv entries) until ctx
// ends.
func (b *nonceBook) purge(ctx context.Context) {
	for bots.Sleep(ctx, purgeEvery) {
		if _, err := b.store.KVPurgeExpired(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("wechat: purge expired nonces", "err", err)
		}
	}
}
