package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ClaimOutbox claims up to limit due outbound rows of a channel until
// now+lease: queued rows whose next attempt is due and that no live claim
// holds. A claim whose holder died between claiming and finishing lapses
// and the row is claimed again (redelivered: at-least-once at the wire).
// Claiming is a conditional UPDATE whose WHERE repeats the eligibility
// test, so two claimers never get the same row. Each returned row carries
// its claim token in ClaimedBy; CompleteOutbox needs it back.
//
// A claimed row stays "queued": the claim writes only claimed_by and
// lease_until, both fixed-width, so InnoDB updates the row in place and
// no index moves. The one index change of a row's delivery is its
// completion leaving the queue.
func (s *Store) ClaimOutbox(ctx context.Context, channel string, limit int, lease time.Duration) ([]*Message, error) {
	ms, _, err := s.ClaimOutboxAfter(ctx, channel, limit, lease, OutboxCursor{})
	return ms, err
}

// OutboxCursor is where a claimer's next claim starts reading the queue:
// after the last row its previous claim read. The zero cursor reads from
// the head.
//
// Why: a claimed row stays in the queue's index until it is completed
// (see ClaimOutbox), so a claim from the head reads again every row still
// claimed by this claimer — the batches being sent and recorded, two to
// three times the rows it claims. A row that sorts before the cursor when
// it becomes claimable (a lapsed claim, a transaction that committed late
// with an earlier time) is found by the next claim from the head: the
// cursor goes back to the head when a claim finds the queue drained and
// at least every outboxRescan.
type OutboxCursor struct {
	at    time.Time
	id    int64
	since time.Time // when the cursor left the head
}

// outboxRescan bounds how long a row that sorts before a claimer's cursor
// waits while the claimer works through a backlog.
const outboxRescan = time.Second

// claimCols are the columns a claimed row is read with: every column an
// outbound row has (raw and media are inbound only and left out).
const claimCols = "id, customer_id, staff_id, identity_id, direction, channel, chat_id, kind, COALESCE(text, ''), " +
	"external_id, status, idempotency_key, COALESCE(payload, ''), workflow, template_key, template_version, attempts, " +
	"next_attempt_at, claimed_by, lease_until, reason, provider_msg_id, sent_at, requeued_at, created_at, updated_at"

func scanClaimed(rows *sql.Rows) (*Message, error) {
	m := &Message{}
	err := rows.Scan(&m.ID, &m.CustomerID, &m.StaffID, &m.IdentityID, &m.Direction, &m.Channel, &m.ChatID, &m.Kind, &m.Text,
		&m.DedupKey, &m.Status, &m.IdempotencyKey, &m.Payload, &m.Workflow, &m.TemplateKey, &m.TemplateVersion, &m.Attempts,
		&m.NextAttemptAt, &m.ClaimedBy, &m.LeaseUntil, &m.Reason, &m.ProviderMsgID, &m.SentAt, &m.RequeuedAt, &m.CreatedAt, &m.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return m, m.AfterFind(nil)
}

// ClaimOutboxAfter is ClaimOutbox for a claimer that claims again and
// again: it starts at cursor c and returns the cursor for its next claim.
//
// The statements are written by hand, not by GORM: the dispatcher claims
// every row it sends, and reflecting over each claimed row cost our process
// more than the claim cost the database.
func (s *Store) ClaimOutboxAfter(ctx context.Context, channel string, limit int, lease time.Duration, c OutboxCursor) ([]*Message, OutboxCursor, error) {
	if limit <= 0 {
		return nil, c, nil
	}
	now := s.Now().Truncate(time.Millisecond)
	if !c.since.IsZero() && now.Sub(c.since) >= outboxRescan {
		c = OutboxCursor{}
	}
	db, err := s.db.DB()
	if err != nil {
		return nil, c, fmt.Errorf("claim outbox: %w", err)
	}
	const due = "status = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
	q := "SELECT " + claimCols + " FROM messages WHERE channel = ? AND " + due
	args := []any{channel, StatusQueued, now, now}
	if c.since.IsZero() {
		c.since = now
	} else {
		// (next_attempt_at, id) > (c.at, c.id), spelt so that the range
		// on the queue's index (channel, status, next_attempt_at, id) is
		// seen by every optimizer.
		q += " AND (next_attempt_at > ? OR (next_attempt_at = ? AND id > ?))"
		args = append(args, c.at, c.at, c.id)
	}
	q += " ORDER BY next_attempt_at, id LIMIT " + fmt.Sprint(limit)
	ms, err := queryClaimed(ctx, db, q, args...)
	if err != nil {
		return nil, c, fmt.Errorf("claim outbox: %w", err)
	}
	if len(ms) < limit {
		c = OutboxCursor{} // drained: the next claim looks at the head again
	} else {
		last := ms[len(ms)-1]
		c.at, c.id = *last.NextAttemptAt, last.ID
	}
	if len(ms) == 0 {
		return nil, c, nil
	}
	ids := make([]any, 0, len(ms)+5)
	token, until := rowToken(), now.Add(lease)
	ids = append(ids, token, until)
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	ids = append(ids, StatusQueued, now, now)
	in := "?" + strings.Repeat(", ?", len(ms)-1)
	upd := "UPDATE messages SET claimed_by = ?, lease_until = ? WHERE id IN (" + in + ") AND " + due
	var claimed int64
	// Retried alone: it runs outside any transaction, and a claim that
	// lost a conflict (another replica's claim through another Galera
	// node) claimed nothing.
	err = retry(ctx, func() error {
		res, err := db.ExecContext(ctx, upd, ids...)
		if err == nil {
			claimed, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return nil, c, fmt.Errorf("claim outbox: %w", err)
	}
	if int(claimed) == len(ms) {
		// Every row read is ours (the token is new, so each claimed row
		// counts as changed).
		for _, m := range ms {
			m.ClaimedBy, m.LeaseUntil = token, &until
		}
		return ms, c, nil
	}
	// Another claimer took some of them meanwhile: keep what we got.
	if claimed == 0 {
		return nil, c, nil
	}
	again := append(ids[2:2+len(ms):2+len(ms)], token)
	ms, err = queryClaimed(ctx, db, "SELECT "+claimCols+" FROM messages WHERE id IN ("+in+") AND claimed_by = ? ORDER BY next_attempt_at, id", again...)
	if err != nil {
		return nil, c, fmt.Errorf("claim outbox: %w", err)
	}
	return ms, c, nil
}

func queryClaimed(ctx context.Context, db *sql.DB, q string, args ...any) ([]*Message, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []*Message
	for rows.Next() {
		m, err := scanClaimed(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}
