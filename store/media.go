package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
)

// Media is what a message carries besides its text: the platform's file
// reference, a place, a contact card. Both platforms' fields share one
// shape (JSON in messages.media); a field a kind does not have is absent.
type Media struct {
	// A file: Telegram's file_id (download it with getFile) and
	// file_unique_id; WeChat's media_id (temporary material: WeChat keeps
	// it 3 days).
	FileID       string `json:"file_id,omitempty"`
	FileUniqueID string `json:"file_unique_id,omitempty"`
	MediaID      string `json:"media_id,omitempty"`
	ThumbMediaID string `json:"thumb_media_id,omitempty"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	Format       string `json:"format,omitempty"` // WeChat voice: amr, speex
	FileSize     int64  `json:"file_size,omitempty"`
	Duration     int    `json:"duration,omitempty"` // seconds
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	PicURL       string `json:"pic_url,omitempty"`     // WeChat image
	Recognition  string `json:"recognition,omitempty"` // WeChat speech recognition of a voice message

	Emoji       string   `json:"emoji,omitempty"` // sticker, dice
	DiceValue   int      `json:"dice_value,omitempty"`
	Performer   string   `json:"performer,omitempty"`
	Title       string   `json:"title,omitempty"` // audio, venue, link, poll question
	Description string   `json:"description,omitempty"`
	URL         string   `json:"url,omitempty"`     // link
	Options     []string `json:"options,omitempty"` // poll

	// A place. WeChat's Location_X is the latitude, Location_Y the
	// longitude, Scale the map zoom and Label its description.
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	Scale     int      `json:"scale,omitempty"`
	Label     string   `json:"label,omitempty"`
	Address   string   `json:"address,omitempty"` // venue

	// A contact card: UserID is the platform user it belongs to, if any.
	Phone  string `json:"phone,omitempty"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// Limits of what Media keeps, so that it fits its column (64 KiB).
const (
	maxMediaField   = 1024 // characters of one string
	maxMediaOptions = 16
)

// clean makes every string valid UTF-8 without NUL bytes and of bounded
// length; platforms do not bound everything they relay.
func (m *Media) clean() {
	for _, f := range []*string{&m.FileID, &m.FileUniqueID, &m.MediaID, &m.ThumbMediaID, &m.FileName, &m.MimeType,
		&m.Format, &m.PicURL, &m.Recognition, &m.Emoji, &m.Performer, &m.Title, &m.Description, &m.URL,
		&m.Label, &m.Address, &m.Phone, &m.Name, &m.UserID} {
		*f = cleanText(*f, maxMediaField)
	}
	if len(m.Options) > maxMediaOptions {
		m.Options = m.Options[:maxMediaOptions]
	}
	for i := range m.Options {
		m.Options[i] = cleanText(m.Options[i], maxMediaField)
	}
}

// Value stores Media as JSON.
func (m Media) Value() (driver.Value, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Scan reads Media stored as JSON.
func (m *Media) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("media: cannot scan %T", src)
	}
	return json.Unmarshal(b, m)
}

// cleanText makes s valid UTF-8 (invalid bytes become U+FFFD) without NUL
// bytes, at most maxRunes characters long (0 = no bound).
func cleanText(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if maxRunes > 0 {
		s = CutRunes(s, maxRunes)
	}
	return s
}

// CutRunes shortens s to at most n characters (for a column or field of
// that size).
func CutRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// Clip shortens s to n characters for a reader, ending in … when cut. It
// reads at most n+1 characters of s, however long s is.
func Clip(s string, n int) string {
	if n <= 0 {
		return s
	}
	cut, count := 0, 0
	for i := range s {
		if count == n-1 {
			cut = i
		}
		if count == n {
			return s[:cut] + "…"
		}
		count++
	}
	return s
}

// cutBytes shortens valid UTF-8 s to at most n bytes, ending on a whole
// character.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // a continuation byte: back to the character's start
		n--
	}
	return s[:n]
}
