package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Channel names, as in the contract.
const (
	ChannelTelegram = "telegram"
	ChannelWeChat   = "wechat"
	ChannelWebChat  = "webchat"
)

// ValidChannel reports whether c is a channel name.
func ValidChannel(c string) bool {
	return slices.Contains([]string{ChannelTelegram, ChannelWeChat, ChannelWebChat}, c)
}

// Identity is one chat account (channel + external id) of a customer.
type Identity struct {
	ID int64 `gorm:"primaryKey" json:"-"`
	// ix_identities_audience covers what a care run reads of every
	// customer's identities, so a holiday run's million lookups never
	// leave the index (about a third of a dry run's database time).
	CustomerID int64  `gorm:"not null;index:ix_identities_audience,priority:1" json:"-"`
	Channel    string `gorm:"size:16;not null;uniqueIndex:ux_identities_channel_ext,priority:1;index:ix_identities_audience,priority:2" json:"channel"`
	ExternalID string `gorm:"size:128;not null;uniqueIndex:ux_identities_channel_ext,priority:2;index:ix_identities_audience,priority:3" json:"external_id"`
	// DisplayName is what the platform calls the user (Telegram first name).
	DisplayName string `gorm:"size:128;not null;default:''" json:"display_name,omitempty"`
	// Unreachable is set when the platform refuses delivery for good
	// (Telegram 403, WeChat 43004); proactive care skips the identity.
	Unreachable       bool       `gorm:"not null;default:false;index:ix_identities_audience,priority:4" json:"unreachable"`
	UnreachableReason string     `gorm:"size:255;not null;default:''" json:"unreachable_reason,omitempty"`
	LastInboundAt     *time.Time `gorm:"index:ix_identities_audience,priority:5" json:"last_inbound_at,omitempty"`
	CreatedAt         time.Time  `json:"-"`
}

// IdentityRef names an identity in API input.
type IdentityRef struct {
	Channel    string `json:"channel"`
	ExternalID string `json:"external_id"`
}

func (r IdentityRef) validate() error {
	if !ValidChannel(r.Channel) {
		return Invalid("identities", "channel %q is not telegram, wechat or webchat", r.Channel)
	}
	if r.ExternalID = strings.TrimSpace(r.ExternalID); r.ExternalID == "" || len(r.ExternalID) > 128 {
		return Invalid("identities", "external_id must be 1-128 characters")
	}
	return nil
}

// insertIdentities adds identities to a customer inside tx; an identity that
// already belongs to anyone is a conflict.
func insertIdentities(tx *gorm.DB, customerID int64, refs []IdentityRef) error {
	for _, r := range refs {
		if err := r.validate(); err != nil {
			return err
		}
		err := tx.Create(&Identity{CustomerID: customerID, Channel: r.Channel, ExternalID: strings.TrimSpace(r.ExternalID)}).Error
		if isDuplicate(err) {
			return Errorf(ECONFLICT, "identity %s:%s already belongs to a customer", r.Channel, r.ExternalID)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Contact describes the sender of an inbound message, for first contact.
type Contact struct {
	Channel     string
	ExternalID  string
	DisplayName string
	Source      string // acquisition source; defaults to the channel
	Locale      string // platform language hint, e.g. Telegram language_code
}

// ResolveIdentity returns the identity for a chat account, creating the
// customer on first contact. Safe under concurrent first messages from the
// same account: the unique key picks one winner and the loser re-reads.
func (s *Store) ResolveIdentity(ctx context.Context, c Contact) (*Identity, error) {
	if !ValidChannel(c.Channel) || c.ExternalID == "" || len(c.ExternalID) > 128 {
		return nil, Errorf(EINVALID, "bad identity %s:%s", c.Channel, c.ExternalID)
	}
	if id, err := s.IdentityByExternal(ctx, c.Channel, c.ExternalID); !IsCode(err, ENOTFOUND) {
		return id, err
	}
	var id Identity
	err := s.tx(ctx, func(tx *gorm.DB) error {
		cust := firstContact(c)
		if err := tx.Create(&cust).Error; err != nil {
			return err
		}
		id = Identity{CustomerID: cust.ID, Channel: c.Channel, ExternalID: c.ExternalID, DisplayName: cust.Name}
		return tx.Create(&id).Error
	})
	if isDuplicate(err) {
		return s.IdentityByExternal(ctx, c.Channel, c.ExternalID) // another request created it first
	} else if err != nil {
		return nil, fmt.Errorf("resolve identity: %w", err)
	}
	return &id, nil
}

// firstContact is the customer a chat account's first message creates.
func firstContact(c Contact) Customer {
	source := cmp.Or(c.Source, c.Channel)
	locale := cmp.Or(normalizeLocale(c.Locale), LocaleZH)
	name := CutRunes(strings.TrimSpace(c.DisplayName), 128)
	return Customer{Name: name, Source: CutRunes(source, 128), Tier: TierC, Stage: StagePotential, Locale: locale}
}

// IdentityByExternal finds an identity by channel and external id.
func (s *Store) IdentityByExternal(ctx context.Context, channel, externalID string) (*Identity, error) {
	var id Identity
	err := s.db.WithContext(ctx).Where("channel = ? AND external_id = ?", channel, externalID).Take(&id).Error
	if err != nil {
		return nil, fmt.Errorf("identity: %w", notFound(err, "identity %s:%s", channel, externalID))
	}
	return &id, nil
}

// SetIdentityReachable marks an identity reachable again or unreachable with
// a reason (blocked the bot, unsubscribed).
func (s *Store) SetIdentityReachable(ctx context.Context, identityID int64, reachable bool, reason string) error {
	err := s.db.WithContext(ctx).Model(&Identity{}).Where("id = ?", identityID).
		Updates(map[string]any{"unreachable": !reachable, "unreachable_reason": CutRunes(reason, 255)}).Error
	if err != nil {
		return fmt.Errorf("set reachable: %w", err)
	}
	return nil
}

// Two questions choose a customer's chat account, and their answers
// differ on purpose:
//
//   - ReplyIdentity: where does an answer to them go (an agent's reply, a
//     relay from staff)? To the chat their latest message came from:
//     they are talking there now.
//   - CareIdentity: where does a proactive message go (a care greeting)?
//     To the reachable account that wrote last by last_inbound_at, read
//     from the customer as loaded in bulk, with no query of its own.
//
// Both skip unreachable accounts; lastWrote is their common order.

// ReplyIdentity returns the customer's identity to answer on: the one
// their latest message came from, if it is still reachable; otherwise the
// reachable one that wrote last (lastWrote). A customer with no reachable
// identity is EINVALID.
//
// last_inbound_at alone is not enough: intake refreshes it at most once a
// minute, so a customer who just moved from Telegram to web chat would be
// answered on Telegram for up to a minute.
func (s *Store) ReplyIdentity(ctx context.Context, customerID int64) (*Identity, error) {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&Customer{}).Where("id = ?", customerID).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("reply identity: %w", err)
	} else if n == 0 {
		return nil, Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	var ids []Identity
	if err := db.Where("customer_id = ? AND unreachable = ?", customerID, false).Find(&ids).Error; err != nil {
		return nil, fmt.Errorf("reply identity: %w", err)
	}
	best := lastWrote(ids, nil)
	if best == nil {
		return nil, Errorf(EINVALID, "customer %d has no reachable chat identity", customerID)
	}
	if len(ids) == 1 || best.LastInboundAt == nil {
		return best, nil
	}
	// The latest message is no older than the freshest last_inbound_at
	// (stamped with the time of a message it came with), so only the
	// customer's last moments of the (customer_id, created_at) index are
	// read, however long their history.
	reachable := make([]int64, len(ids))
	for i := range ids {
		reachable[i] = ids[i].ID
	}
	var latest []int64
	err := db.Model(&Message{}).
		Where("customer_id = ? AND created_at >= ? AND direction = ? AND identity_id IN ?",
			customerID, best.LastInboundAt.Add(-lastInboundSlack).UTC(), DirectionIn, reachable).
		Order("created_at DESC, id DESC").Limit(1).Pluck("identity_id", &latest).Error
	if err != nil {
		return nil, fmt.Errorf("reply identity: %w", err)
	}
	for i := range ids {
		if len(latest) == 1 && ids[i].ID == latest[0] {
			return &ids[i], nil
		}
	}
	return best, nil
}

// lastInboundSlack covers rounding between a message's created_at and the
// last_inbound_at stamped with it (column precisions differ).
const lastInboundSlack = time.Second

// CareIdentity is the identity proactive care uses: the reachable one that
// wrote last (lastWrote). Nil when the customer has none reachable.
func (c *Customer) CareIdentity() *Identity { return lastWrote(c.Identities, nil) }

// lastWrote is the reachable identity of ids (and, with ok, one ok
// accepts) with the latest last_inbound_at, ties to the newest; nil when
// there is none.
func lastWrote(ids []Identity, ok func(*Identity) bool) *Identity {
	var best *Identity
	for i := range ids {
		id := &ids[i]
		if id.Unreachable || (ok != nil && !ok(id)) {
			continue
		}
		if best == nil || after(id.LastInboundAt, best.LastInboundAt) || (sameTime(id.LastInboundAt, best.LastInboundAt) && id.ID > best.ID) {
			best = id
		}
	}
	return best
}

func after(a, b *time.Time) bool {
	return a != nil && (b == nil || a.After(*b))
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// identitiesAudienceIndex replaces the customer_id index of identities by
// one that also covers the columns care reads (see Identity).
func identitiesAudienceIndex(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasIndex(&Identity{}, "ix_identities_audience") {
		if err := m.CreateIndex(&Identity{}, "ix_identities_audience"); err != nil {
			return err
		}
	}
	if m.HasIndex(&Identity{}, "idx_identities_customer_id") {
		return m.DropIndex(&Identity{}, "idx_identities_customer_id")
	}
	return nil
}
