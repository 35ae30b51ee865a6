package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Arrival is one inbound customer message to record.
type Arrival struct {
	// Identity is the sender's identity when the caller has it; otherwise
	// Contact names the sender and the identity is looked up, created with
	// its customer on first contact.
	Identity *Identity
	Contact  Contact
	// KnownOnly records the message only if the sender has an identity
	// already (ENOTFOUND otherwise): leaving (a block, an unsubscribe) is
	// no reason to create a customer.
	KnownOnly bool
	In        Inbound
}

// RecordArrival stores an inbound customer message once and returns it
// with the sender's identity; a repeated delivery (same channel and
// external id) returns the stored message with duplicate=true and changes
// nothing. It returns when the message is durable.
//
// Messages that arrive together are written together (a group commit,
// groupCommit): whichever caller finds no group being written writes
// everything waiting, in one identity read, one multi-row INSERT and one
// read-back. A single-row INSERT costs about seven times as much per row
// as one of 16, so this is what lets intake keep up under load; a lone
// message is still written at once, with no waiting. The message is
// written even if ctx ends meanwhile (a retry finds it stored).
func (s *Store) RecordArrival(ctx context.Context, a Arrival) (msg *Message, ident *Identity, duplicate bool, err error) {
	r := &arrival{Arrival: a}
	s.inbox.do(ctx, r, s.writeArrivals, func(r *arrival, p any) {
		r.msg, r.err = nil, Errorf(EINTERNAL, "record inbound: %v", p)
	})
	return r.msg, r.ident, r.dup, r.err
}

// RecordInbound is RecordArrival for a sender whose identity the caller
// has.
func (s *Store) RecordInbound(ctx context.Context, ident *Identity, in Inbound) (*Message, bool, error) {
	m, _, dup, err := s.RecordArrival(ctx, Arrival{Identity: ident, In: in})
	return m, dup, err
}

// maxArrivalGroup bounds a group's rows (its INSERTs are also bounded in
// bytes: maxInsertBytes).
const maxArrivalGroup = 128

// maxArrivalWriters is how many groups are written at once: while one
// waits for its commit, the next is on its way.
const maxArrivalWriters = 2

// An intake writer that finds the queue empty lingers (arrivalLinger, or
// until arrivalLingerFull arrivals wait) when a group ended less than
// arrivalLingerWindow ago (see groupCommit): without it the first sender a
// group has just answered was written alone, half of all groups
// (BenchmarkWebhookHTTP), each costing the four statements of a full one.
// A message after a quiet moment is still written at once.
const (
	arrivalLinger       = time.Millisecond
	arrivalLingerFull   = 32
	arrivalLingerWindow = 10 * time.Millisecond
)

// newInbox is the queue of arrivals waiting for their group to be
// written; tests change its linger (WithArrivalLinger).
func newInbox() groupCommit[*arrival] {
	return groupCommit[*arrival]{maxGroup: maxArrivalGroup, maxWriters: maxArrivalWriters,
		linger: arrivalLinger, lingerWindow: arrivalLingerWindow, lingerFull: arrivalLingerFull, wake: make(chan struct{}, 1)}
}

type arrival struct {
	Arrival
	// The result, set by the group's writer.
	msg   *Message
	ident *Identity
	dup   bool
	err   error
}

func arrivalKey(channel, externalID string) string { return channel + "\x00" + externalID }

// writeArrivals records a group and sets each arrival's result.
func (s *Store) writeArrivals(ctx context.Context, group []*arrival) {
	db := s.db.WithContext(ctx)
	now := s.Now()
	s.resolveArrivals(ctx, group, now)

	// The rows. Each is written claimed by this group's token, which
	// tells the group's own new rows from earlier copies after the
	// insert-or-ignore; no lease comes with it, so recovery may still
	// take an orphan (see ClaimUnprocessed).
	token := rowToken()
	first := map[string]*arrival{} // the arrival that owns each dedup key
	var rows []Message
	var owners []*arrival
	for _, r := range group {
		if r.err != nil {
			continue
		}
		m, err := inboundRow(r.In, now)
		if err != nil {
			r.err = err
			continue
		}
		cid, iid := r.ident.CustomerID, r.ident.ID
		m.CustomerID, m.IdentityID = &cid, &iid
		k := arrivalKey(m.Channel, *m.DedupKey)
		if first[k] != nil {
			continue // the same delivery twice in one group
		}
		first[k] = r
		m.ClaimedBy = token
		rows = append(rows, m)
		owners = append(owners, r)
	}
	if len(rows) > 0 {
		// Two groups inserting at once can deadlock on the dedup key's
		// gaps: rows in key order make that rarer, a retry harmless.
		order := make([]int, len(rows))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			return cmp.Or(cmp.Compare(rows[a].Channel, rows[b].Channel), cmp.Compare(*rows[a].DedupKey, *rows[b].DedupKey))
		})
		sortedRows, sortedOwners := make([]Message, len(rows)), make([]*arrival, len(rows))
		for i, j := range order {
			sortedRows[i], sortedOwners[i] = rows[j], owners[j]
		}
		rows, owners = sortedRows, sortedOwners
		// One INSERT per maxInsertBytes of content: a group of long
		// messages must fit MySQL's max_allowed_packet (16 MiB by default
		// on MariaDB).
		for start := 0; start < len(rows); {
			end, size := start+1, rowBytes(&rows[start])
			for end < len(rows) && size+rowBytes(&rows[end]) <= maxInsertBytes {
				size += rowBytes(&rows[end])
				end++
			}
			insertArrivals(ctx, db, rows[start:end], owners[start:end])
			start = end
		}
	}

	// Read back which rows are new (ours) and which were stored before.
	// A row can be missing from the read-back although its INSERT
	// returned: on MariaDB at READ COMMITTED a concurrent group's insert
	// of the same key can be waited for, seen by the ON DUPLICATE KEY
	// UPDATE and still be invisible to the SELECT that follows for a
	// moment (TestRecordArrivalConcurrent, about one run in six). Such
	// rows are written and read again after a pause: the insert-or-ignore
	// makes that harmless, and the token still tells ours from theirs.
	ids := map[string]stored{}
	pending := make([]int, 0, len(rows))
	for i := range rows {
		pending = append(pending, i)
	}
	for attempt := 0; ; attempt++ {
		if s.beforeArrivalRead != nil {
			s.beforeArrivalRead(db)
		}
		pending = readArrivals(db, rows, owners, pending, ids)
		if len(pending) == 0 || attempt == readBackAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
		again, againOwners := make([]Message, len(pending)), make([]*arrival, len(pending))
		for j, i := range pending {
			again[j], againOwners[j] = rows[i], owners[i]
			again[j].ID = 0 // GORM may have filled it in from the first INSERT
		}
		insertArrivals(ctx, db, again, againOwners)
	}
	var touch []*Identity
	seen := map[int64]bool{}
	for i := range rows {
		m, r := &rows[i], owners[i]
		if r.err != nil {
			continue
		}
		got, ok := ids[arrivalKey(m.Channel, *m.DedupKey)]
		if !ok {
			r.err = Errorf(EINTERNAL, "record inbound: %s message %s not found after insert", m.Channel, *m.DedupKey)
			continue
		}
		if got.ClaimedBy != token {
			r.dup = true
			continue
		}
		m.ID = got.ID
		r.msg = m
		if (r.ident.LastInboundAt == nil || now.Sub(*r.ident.LastInboundAt) > time.Minute) && !seen[r.ident.ID] {
			seen[r.ident.ID] = true
			touch = append(touch, r.ident)
		}
	}
	if err := retry(ctx, func() error { return s.touchInbound(ctx, touch, now) }); err != nil {
		for _, r := range owners {
			if r.msg != nil {
				r.err = fmt.Errorf("record inbound: %w", err)
			}
		}
	}

	// Duplicates: the stored message, as it was.
	for _, r := range group {
		if r.err != nil {
			continue
		}
		if o := first[arrivalKey(r.In.Channel, r.In.DedupKey)]; o != nil && o != r {
			if o.err != nil {
				r.err = o.err
				continue
			}
			r.dup = true
		}
		if r.dup {
			var old Message
			if err := db.Where("channel = ? AND external_id = ?", r.In.Channel, r.In.DedupKey).Take(&old).Error; err != nil {
				r.err = fmt.Errorf("record inbound: %w", err)
				continue
			}
			r.msg = &old
		}
	}
}

// readBackAttempts bounds how often a group reads back rows it wrote
// (see writeArrivals).
const readBackAttempts = 4

// stored is a message row as a group reads it back.
type stored struct {
	ID        int64
	DedupKey  string `gorm:"column:external_id"`
	ClaimedBy string
}

// readArrivals reads rows[i] for each i in idx (one query per channel)
// into ids and returns the indexes of rows not found; an arrival whose
// read fails gets the error.
func readArrivals(db *gorm.DB, rows []Message, owners []*arrival, idx []int, ids map[string]stored) []int {
	byChannel := map[string][]string{}
	for _, i := range idx {
		if owners[i].err == nil {
			byChannel[rows[i].Channel] = append(byChannel[rows[i].Channel], *rows[i].DedupKey)
		}
	}
	for ch, keys := range byChannel {
		var got []stored
		if err := db.Model(&Message{}).Select("id, external_id, claimed_by").
			Where("channel = ? AND external_id IN ?", ch, keys).Scan(&got).Error; err != nil {
			for _, i := range idx {
				if rows[i].Channel == ch {
					owners[i].err = fmt.Errorf("record inbound: %w", err)
				}
			}
			continue
		}
		for _, g := range got {
			ids[arrivalKey(ch, g.DedupKey)] = g
		}
	}
	var missing []int
	for _, i := range idx {
		if _, ok := ids[arrivalKey(rows[i].Channel, *rows[i].DedupKey)]; !ok && owners[i].err == nil {
			missing = append(missing, i)
		}
	}
	return missing
}

// resolveArrivals sets each arrival's identity: looked up for the whole
// group in one read per channel, created (with the customer) on first
// contact (their last inbound time set to at, so that no touch follows).
// An arrival looked up gets its own copy, which its caller may change.
func (s *Store) resolveArrivals(ctx context.Context, group []*arrival, at time.Time) {
	need := map[string][]string{}
	for _, r := range group {
		if r.Identity != nil {
			continue
		}
		// A first contact's name, source and locale come from the
		// platform as they are.
		r.Contact.DisplayName = cleanText(r.Contact.DisplayName, 0)
		r.Contact.Source = cleanText(r.Contact.Source, 0)
		r.Contact.Locale = cleanText(r.Contact.Locale, 0)
		c := r.Contact
		if !ValidChannel(c.Channel) || c.ExternalID == "" || len(c.ExternalID) > 128 {
			r.err = Errorf(EINVALID, "bad identity %s:%s", c.Channel, c.ExternalID)
			continue
		}
		need[c.Channel] = append(need[c.Channel], c.ExternalID)
	}
	found := map[string]Identity{}
	for ch, exts := range need {
		var got []Identity
		err := s.db.WithContext(ctx).Where("channel = ? AND external_id IN ?", ch, exts).Find(&got).Error
		for _, r := range group {
			if err != nil && r.Identity == nil && r.err == nil && r.Contact.Channel == ch {
				r.err = fmt.Errorf("resolve identity: %w", err)
			}
		}
		for _, id := range got {
			found[arrivalKey(ch, id.ExternalID)] = id
		}
	}
	// First contacts: all of the group's new customers at once (a QR
	// campaign brings hundreds a minute); if that fails (another replica
	// created one of them meanwhile), one by one, side by side.
	type creation struct {
		id  *Identity
		err error
	}
	created := map[string]*creation{}
	var fresh []Contact
	for _, r := range group {
		if r.err != nil || r.Identity != nil || r.KnownOnly {
			continue
		}
		k := arrivalKey(r.Contact.Channel, r.Contact.ExternalID)
		if _, ok := found[k]; ok {
			continue
		}
		if _, ok := created[k]; !ok {
			created[k] = &creation{}
			fresh = append(fresh, r.Contact)
		}
	}
	if ids, err := s.createContacts(ctx, fresh, at); err == nil {
		for k, id := range ids {
			created[k].id = &id
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, c := range fresh {
			wg.Add(1)
			sem <- struct{}{}
			go func(cr *creation) {
				defer wg.Done()
				defer func() { <-sem }()
				cr.id, cr.err = s.ResolveIdentity(ctx, c)
			}(created[arrivalKey(c.Channel, c.ExternalID)])
		}
		wg.Wait()
	}
	for _, r := range group {
		if r.err != nil {
			continue
		}
		if r.Identity != nil {
			r.ident = r.Identity
			continue
		}
		k := arrivalKey(r.Contact.Channel, r.Contact.ExternalID)
		id, ok := found[k]
		c := created[k]
		switch {
		case ok:
		case c != nil && c.id != nil:
			id = *c.id
		case c != nil && c.err != nil:
			r.err = c.err
			continue
		case c != nil:
			r.err = Errorf(EINTERNAL, "identity %s:%s not created", r.Contact.Channel, r.Contact.ExternalID)
			continue
		default: // KnownOnly, and nobody in the group is new
			r.err = Errorf(ENOTFOUND, "identity %s:%s not found", r.Contact.Channel, r.Contact.ExternalID)
			continue
		}
		r.ident = &id
	}
}

// createContacts creates the customers and identities of first contacts
// in one transaction of five statements, however many there are, and
// returns the identities by arrivalKey. Both carry at as their last
// inbound time (the message that made them is being stored; a touch after
// would cost the group another statement). Each new customer carries a
// placeholder external_ref inside the transaction (where nothing else
// sees it) so that its id can be read back: ids of a multi-row INSERT are
// not reliably consecutive (Galera steps them, TiDB caches ranges).
func (s *Store) createContacts(ctx context.Context, contacts []Contact, at time.Time) (map[string]Identity, error) {
	if len(contacts) == 0 {
		return nil, nil
	}
	for _, c := range contacts {
		if !ValidChannel(c.Channel) || c.ExternalID == "" || len(c.ExternalID) > 128 {
			return nil, Errorf(EINVALID, "bad identity %s:%s", c.Channel, c.ExternalID)
		}
	}
	token := rowToken()
	out := make(map[string]Identity, len(contacts))
	err := s.tx(ctx, func(tx *gorm.DB) error {
		custs := make([]Customer, len(contacts))
		refs := make([]string, len(contacts))
		for i, c := range contacts {
			custs[i] = firstContact(c)
			refs[i] = "new:" + token + ":" + strconv.Itoa(i)
			custs[i].ExternalRef = &refs[i]
			custs[i].LastInboundAt = &at
		}
		if err := tx.Create(&custs).Error; err != nil {
			return err
		}
		var got []struct {
			ID          int64
			ExternalRef string
		}
		if err := tx.Model(&Customer{}).Select("id, external_ref").Where("external_ref IN ?", refs).Scan(&got).Error; err != nil {
			return err
		}
		idOf := make(map[string]int64, len(got))
		for _, g := range got {
			idOf[g.ExternalRef] = g.ID
		}
		ids := make([]Identity, len(contacts))
		custIDs := make([]int64, len(contacts))
		byChannel := map[string][]string{}
		for i, c := range contacts {
			custIDs[i] = idOf[refs[i]]
			if custIDs[i] == 0 {
				return fmt.Errorf("create contacts: customer %s not read back", refs[i])
			}
			ids[i] = Identity{CustomerID: custIDs[i], Channel: c.Channel, ExternalID: c.ExternalID, DisplayName: custs[i].Name, LastInboundAt: &at}
			byChannel[c.Channel] = append(byChannel[c.Channel], c.ExternalID)
		}
		if err := tx.Create(&ids).Error; err != nil {
			return err // a duplicate: another process created one first
		}
		if err := tx.Model(&Customer{}).Where("id IN ?", custIDs).Update("external_ref", nil).Error; err != nil {
			return err
		}
		for ch, exts := range byChannel {
			var rows []Identity
			if err := tx.Where("channel = ? AND external_id IN ?", ch, exts).Find(&rows).Error; err != nil {
				return err
			}
			for _, id := range rows {
				out[arrivalKey(ch, id.ExternalID)] = id
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxInsertBytes bounds the content of one multi-row INSERT of arrivals.
const maxInsertBytes = 4 << 20

// rowBytes is about what a row adds to an INSERT statement.
func rowBytes(m *Message) int { return len(m.Text) + len(m.Raw) + len(m.Payload) + 512 }

// insertArrivals writes rows, each once (a row already stored is left as
// it is), and sets the error of an arrival whose row could not be written.
func insertArrivals(ctx context.Context, db *gorm.DB, rows []Message, owners []*arrival) {
	insert := func(rows any) error {
		return retry(ctx, func() error { return db.Clauses(clause.OnConflict{DoNothing: true}).Create(rows).Error })
	}
	err := insert(&rows)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !retryable(err) {
		// One bad row must not lose its neighbours: write them one by
		// one and give the error to its own arrival only.
		for i := range rows {
			if err := insert(&rows[i]); err != nil {
				owners[i].err = fmt.Errorf("record inbound: %w", err)
			}
		}
	} else if err != nil {
		for _, r := range owners {
			r.err = fmt.Errorf("record inbound: %w", err)
		}
	}
}

// inboundRow is the stored form of an inbound message, without its
// sender (customer and identity, or staff member). Whatever a platform
// relays is storable: text, raw payload and media become valid UTF-8
// without NUL bytes (MySQL refuses invalid UTF-8 with error 1366), and
// the raw payload is cut on a character boundary.
func inboundRow(in Inbound, now time.Time) (Message, error) {
	switch {
	case in.DedupKey == "":
		return Message{}, Errorf(EINVALID, "inbound message without a dedup key")
	case len(in.DedupKey) > 128 || !utf8.ValidString(in.DedupKey):
		return Message{}, Errorf(EINVALID, "inbound dedup key is not 1-128 bytes of UTF-8")
	case len(in.ChatID) > 128 || !utf8.ValidString(in.ChatID):
		return Message{}, Errorf(EINVALID, "inbound chat id is not up to 128 bytes of UTF-8")
	}
	kind := cmp.Or(cleanText(in.Kind, 24), "text")
	var media *Media
	if in.Media != nil {
		m := *in.Media
		m.Options = append([]string(nil), m.Options...) // the caller's stays as it is
		m.clean()
		media = &m
	}
	key := in.DedupKey
	return Message{
		Direction: DirectionIn, Channel: in.Channel, ChatID: in.ChatID, Kind: kind,
		Text: cutBytes(cleanText(in.Text, 0), maxTextBytes), Raw: cutBytes(cleanText(string(in.Raw), 0), MaxRawBytes),
		Media: media, DedupKey: &key, Status: StatusReceived, CreatedAt: now, Payload: cleanText(in.Route, 0),
	}, nil
}

// touchInbound sets last_inbound_at on the identities and their customers
// (a denormalised hint for WeChat's 48 h window and win-back, kept to the
// minute): one multi-table UPDATE on MySQL.
func (s *Store) touchInbound(ctx context.Context, ids []*Identity, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	identityIDs := make([]int64, 0, len(ids))
	customerIDs := make([]int64, 0, len(ids))
	for _, id := range ids {
		identityIDs = append(identityIDs, id.ID)
		customerIDs = append(customerIDs, id.CustomerID)
	}
	db := s.db.WithContext(ctx)
	var err error
	if s.dialect == MySQL {
		err = db.Exec("UPDATE identities i JOIN customers c ON c.id = i.customer_id SET i.last_inbound_at = ?, c.last_inbound_at = ? WHERE i.id IN ?", at, at, identityIDs).Error
	} else {
		err = db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&Identity{}).Where("id IN ?", identityIDs).Update("last_inbound_at", at).Error; err != nil {
				return err
			}
			return tx.Model(&Customer{}).Where("id IN ?", customerIDs).Update("last_inbound_at", at).Error
		})
	}
	if err != nil {
		return err
	}
	for _, id := range ids {
		id.LastInboundAt = &at
	}
	return nil
}

// RecordStaffInbound stores an inbound message from a staff member's chat
// account once (dedup as RecordArrival). It belongs to no customer's
// conversation. staffID is nil for an account that is not bound yet (its
// /bind command), which is stored without creating a customer.
func (s *Store) RecordStaffInbound(ctx context.Context, staffID *int64, in Inbound) (msg *Message, duplicate bool, err error) {
	row, err := inboundRow(in, s.Now())
	if err != nil {
		return nil, false, err
	}
	m := &row
	m.StaffID = staffID
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(m).Error
	if err == nil && m.ID != 0 {
		return m, false, nil
	}
	if err != nil && !isDuplicate(err) {
		return nil, false, fmt.Errorf("record staff inbound: %w", err)
	}
	var old Message
	if err := s.db.WithContext(ctx).Where("channel = ? AND external_id = ?", in.Channel, in.DedupKey).Take(&old).Error; err != nil {
		return nil, true, fmt.Errorf("record staff inbound: %w", err)
	}
	return &old, true, nil
}
