package telegram

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// Parse turns an update's JSON into an Inbound. ok is false for update
// types Rapport does not handle (they are acknowledged and ignored); err is
// set only when the body is not an update at all.
func Parse(body []byte) (in bots.Inbound, ok bool, err error) {
	var u models.Update
	if err := json.Unmarshal(body, &u); err != nil {
		return bots.Inbound{}, false, fmt.Errorf("telegram update: %w", err)
	}
	in, ok = fromUpdate(&u)
	if ok && len(in.Raw) == 0 {
		in.Raw = body
	}
	return in, ok, nil
}

func fromUpdate(u *models.Update) (bots.Inbound, bool) {
	in := bots.Inbound{Channel: store.ChannelTelegram, DedupKey: strconv.FormatInt(u.ID, 10)}
	if u.ID <= 0 { // update ids are positive; without one we cannot dedup
		return in, false
	}
	switch {
	case u.Message != nil:
		m := u.Message
		if m.From == nil || m.From.IsBot || m.From.ID == 0 || m.Chat.ID == 0 {
			return in, false
		}
		user(&in, m.From)
		in.ChatID = strconv.FormatInt(m.Chat.ID, 10)
		in.At = unix(m.Date)
		if m.ReplyToMessage != nil {
			in.ReplyTo = strconv.Itoa(m.ReplyToMessage.ID)
		}
		switch {
		case m.Text != "":
			in.Kind, in.Text = bots.KindText, m.Text
		case len(m.Photo) > 0:
			// The largest size comes last.
			p := m.Photo[len(m.Photo)-1]
			in.Kind, in.Text = "photo", m.Caption
			in.Raw, _ = json.Marshal(map[string]any{"file_id": p.FileID, "file_unique_id": p.FileUniqueID, "width": p.Width, "height": p.Height, "file_size": p.FileSize})
		case m.Document != nil:
			d := m.Document
			in.Kind, in.Text = "document", m.Caption
			in.Raw, _ = json.Marshal(map[string]any{"file_id": d.FileID, "file_unique_id": d.FileUniqueID, "file_name": d.FileName, "mime_type": d.MimeType, "file_size": d.FileSize})
		default:
			return in, false
		}
		return in, true
	case u.CallbackQuery != nil:
		q := u.CallbackQuery
		if q.ID == "" || q.From.ID == 0 {
			return in, false
		}
		user(&in, &q.From)
		in.Kind, in.Callback, in.CallbackID = bots.KindCallback, q.Data, q.ID
		if msg := q.Message.Message; msg != nil && msg.Chat.ID != 0 {
			in.ChatID = strconv.FormatInt(msg.Chat.ID, 10)
			in.ReplyTo = strconv.Itoa(msg.ID)
			// The conversation shows what the customer pressed ("2 😕"),
			// not the button's data.
			in.Text = buttonLabel(msg.ReplyMarkup, q.Data)
		}
		return in, true
	case u.MyChatMember != nil:
		c := u.MyChatMember
		if c.Chat.Type != models.ChatTypePrivate || c.From.ID == 0 || c.Chat.ID == 0 {
			return in, false
		}
		user(&in, &c.From)
		in.ChatID = strconv.FormatInt(c.Chat.ID, 10)
		in.Kind, in.At = bots.KindEvent, unix(c.Date)
		switch c.NewChatMember.Type {
		case models.ChatMemberTypeBanned:
			in.Event = bots.EventBlocked
		case models.ChatMemberTypeMember:
			in.Event = bots.EventUnblocked
		default:
			return in, false
		}
		return in, true
	}
	return in, false
}

// buttonLabel is the label of the inline button carrying data, or "".
func buttonLabel(kb *models.InlineKeyboardMarkup, data string) string {
	if kb == nil || data == "" {
		return ""
	}
	for _, row := range kb.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData == data {
				return b.Text
			}
		}
	}
	return ""
}

func user(in *bots.Inbound, u *models.User) {
	in.SenderID = strconv.FormatInt(u.ID, 10)
	in.ChatID = in.SenderID
	in.Name = u.FirstName
	if u.LastName != "" {
		in.Name += " " + u.LastName
	}
	if in.Name == "" {
		in.Name = u.Username
	}
	in.Locale = u.LanguageCode
}

func unix(s int) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0).UTC()
}
