package telegram

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// Parse turns an update's JSON into an Inbound. ok is false for update
// types Rapport does not handle (they are acknowledged and ignored); err is
// set only when the body is not an update at all: not JSON, no update_id,
// or a field Rapport reads of the wrong type. Fields Rapport does not read
// may be anything, so that Telegram adding or changing them never refuses
// (and so loses) a customer's message.
func Parse(body []byte) (in bots.Inbound, ok bool, err error) {
	var u update
	if err := json.Unmarshal(body, &u); err != nil {
		return bots.Inbound{}, false, fmt.Errorf("telegram update: %w", err)
	}
	switch {
	case u.ID == nil:
		return bots.Inbound{}, false, errors.New("telegram update: no update_id")
	case *u.ID <= 0:
		return bots.Inbound{}, false, errors.New("telegram update: update_id is not positive")
	}
	in, ok = u.inbound()
	if ok {
		in.Raw = body
	}
	return in, ok, nil
}

// update is the part of a Telegram Update (https://core.telegram.org/bots/api#update)
// that Rapport reads; the rest of the body is skipped whatever its shape.
type update struct {
	ID            *int64             `json:"update_id"`
	Message       *message           `json:"message"`
	CallbackQuery *callbackQuery     `json:"callback_query"`
	MyChatMember  *chatMemberUpdated `json:"my_chat_member"`
}

type user struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

type chat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

type message struct {
	MessageID int    `json:"message_id"`
	Date      int64  `json:"date"` // 0 in an inaccessible message
	From      *user  `json:"from"`
	Chat      chat   `json:"chat"`
	Text      string `json:"text"`
	Caption   string `json:"caption"`
	ReplyTo   *struct {
		MessageID int `json:"message_id"`
	} `json:"reply_to_message"`
	ReplyMarkup *inlineKeyboard `json:"reply_markup"`

	Photo     []file    `json:"photo"` // sizes, the largest last
	Animation *file     `json:"animation"`
	Document  *file     `json:"document"` // also set on an animation
	Video     *file     `json:"video"`
	VideoNote *file     `json:"video_note"`
	Voice     *file     `json:"voice"`
	Audio     *file     `json:"audio"`
	Sticker   *file     `json:"sticker"`
	Location  *location `json:"location"` // also set on a venue
	Venue     *struct {
		Location location `json:"location"`
		Title    string   `json:"title"`
		Address  string   `json:"address"`
	} `json:"venue"`
	Contact *struct {
		PhoneNumber string `json:"phone_number"`
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
		UserID      int64  `json:"user_id"`
	} `json:"contact"`
	Dice *struct {
		Emoji string `json:"emoji"`
		Value int    `json:"value"`
	} `json:"dice"`
	Poll *struct {
		Question string `json:"question"`
		Options  []struct {
			Text string `json:"text"`
		} `json:"options"`
	} `json:"poll"`
}

// file is any of Telegram's file objects (PhotoSize, Voice, Audio, Video,
// VideoNote, Animation, Document, Sticker): the fields they share and the
// few one of them adds.
type file struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name"`
	MimeType     string `json:"mime_type"`
	FileSize     int64  `json:"file_size"`
	Duration     int    `json:"duration"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Length       int    `json:"length"`    // video note: width and height
	Emoji        string `json:"emoji"`     // sticker
	Performer    string `json:"performer"` // audio
	Title        string `json:"title"`     // audio
}

type location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type callbackQuery struct {
	ID      string   `json:"id"`
	From    user     `json:"from"`
	Data    string   `json:"data"`
	Message *message `json:"message"`
}

type chatMemberUpdated struct {
	Chat          chat `json:"chat"`
	From          user `json:"from"`
	NewChatMember struct {
		Status string `json:"status"`
	} `json:"new_chat_member"`
}

func (u *update) inbound() (bots.Inbound, bool) {
	in := bots.Inbound{Channel: store.ChannelTelegram, DedupKey: strconv.FormatInt(*u.ID, 10)}
	switch {
	case u.Message != nil:
		m := u.Message
		if m.From == nil || m.From.IsBot || m.From.ID == 0 || m.Chat.ID == 0 {
			return in, false
		}
		setUser(&in, m.From)
		in.ChatID = strconv.FormatInt(m.Chat.ID, 10)
		if m.ReplyTo != nil {
			in.ReplyTo = strconv.Itoa(m.ReplyTo.MessageID)
		}
		return in, m.content(&in)
	case u.CallbackQuery != nil:
		q := u.CallbackQuery
		if q.ID == "" || q.From.ID == 0 {
			return in, false
		}
		setUser(&in, &q.From)
		in.Kind, in.Callback, in.CallbackID = bots.KindCallback, q.Data, q.ID
		// An inaccessible message (too old) has date 0 and nothing to read.
		if msg := q.Message; msg != nil && msg.Date != 0 && msg.Chat.ID != 0 {
			in.ChatID = strconv.FormatInt(msg.Chat.ID, 10)
			in.ReplyTo = strconv.Itoa(msg.MessageID)
			// The conversation shows what the customer pressed ("2 😕"),
			// not the button's data.
			in.Text = buttonLabel(msg.ReplyMarkup, q.Data)
		}
		return in, true
	case u.MyChatMember != nil:
		c := u.MyChatMember
		if c.Chat.Type != "private" || c.From.ID == 0 || c.Chat.ID == 0 {
			return in, false
		}
		setUser(&in, &c.From)
		in.ChatID = strconv.FormatInt(c.Chat.ID, 10)
		in.Kind = bots.KindEvent
		switch c.NewChatMember.Status {
		case "kicked":
			in.Event = bots.EventBlocked
		case "member":
			in.Event = bots.EventUnblocked
		default:
			return in, false
		}
		return in, true
	}
	return in, false
}

// content sets the kind, text and media of a customer's message; false
// for a message with nothing Rapport keeps (a service message: someone
// joined a group, a pinned message, ...). Text is the caption when there
// is one, else a short description ("[语音 0:12]") for the conversation
// view; the details are in Media.
func (m *message) content(in *bots.Inbound) bool {
	described := func(kind, desc string, media *store.Media) bool {
		in.Kind, in.Text, in.Media = kind, m.Caption, media
		if strings.TrimSpace(in.Text) == "" {
			in.Text = "[" + strings.TrimSpace(desc) + "]"
		}
		return true
	}
	switch {
	case m.Text != "":
		in.Kind, in.Text = bots.KindText, m.Text
		return true
	case m.Animation != nil: // before Document, which Telegram also sets
		f := m.Animation
		return described("animation", "动图", f.media())
	case len(m.Photo) > 0:
		return described("photo", "图片", m.Photo[len(m.Photo)-1].media())
	case m.Video != nil:
		return described("video", "视频 "+duration(m.Video.Duration), m.Video.media())
	case m.VideoNote != nil:
		f := *m.VideoNote
		f.Width, f.Height = f.Length, f.Length
		return described("video_note", "视频消息 "+duration(f.Duration), f.media())
	case m.Voice != nil:
		return described("voice", "语音 "+duration(m.Voice.Duration), m.Voice.media())
	case m.Audio != nil:
		a := m.Audio
		title := strings.TrimSpace(strings.Trim(a.Performer+" - "+a.Title, " -"))
		return described("audio", "音频 "+strings.TrimSpace(title+" "+duration(a.Duration)), a.media())
	case m.Document != nil:
		return described("document", "文件 "+m.Document.FileName, m.Document.media())
	case m.Sticker != nil:
		return described("sticker", "贴纸 "+m.Sticker.Emoji, m.Sticker.media())
	case m.Venue != nil: // before Location, which Telegram also sets
		v := m.Venue
		media := v.Location.media()
		media.Title, media.Address = v.Title, v.Address
		return described("venue", "地点 "+strings.Trim(v.Title+", "+v.Address, " ,"), media)
	case m.Location != nil:
		l := m.Location
		return described("location", fmt.Sprintf("位置 %.6f,%.6f", l.Latitude, l.Longitude), l.media())
	case m.Contact != nil:
		c := m.Contact
		name := strings.TrimSpace(c.FirstName + " " + c.LastName)
		shared := &bots.SharedContact{Phone: c.PhoneNumber, Name: name}
		if c.UserID != 0 {
			shared.UserID = strconv.FormatInt(c.UserID, 10)
		}
		in.Contact = shared
		return described("contact", "名片 "+strings.TrimSpace(name+" "+c.PhoneNumber),
			&store.Media{Phone: c.PhoneNumber, Name: name, UserID: shared.UserID})
	case m.Dice != nil:
		return described("dice", fmt.Sprintf("%s %d", m.Dice.Emoji, m.Dice.Value),
			&store.Media{Emoji: m.Dice.Emoji, DiceValue: m.Dice.Value})
	case m.Poll != nil:
		media := &store.Media{Title: m.Poll.Question}
		for _, o := range m.Poll.Options {
			media.Options = append(media.Options, o.Text)
		}
		return described("poll", "投票 "+m.Poll.Question, media)
	}
	return false
}

func (f *file) media() *store.Media {
	return &store.Media{
		FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileName: f.FileName, MimeType: f.MimeType, FileSize: f.FileSize,
		Duration: f.Duration, Width: f.Width, Height: f.Height, Emoji: f.Emoji, Performer: f.Performer, Title: f.Title,
	}
}

func (l location) media() *store.Media {
	lat, lng := l.Latitude, l.Longitude
	return &store.Media{Latitude: &lat, Longitude: &lng}
}

// duration is seconds as m:ss (h:mm:ss from an hour); "" for none.
func duration(s int) string {
	if s <= 0 {
		return ""
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// buttonLabel is the label of the inline button carrying data, or "".
func buttonLabel(kb *inlineKeyboard, data string) string {
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

func setUser(in *bots.Inbound, u *user) {
	in.SenderID = strconv.FormatInt(u.ID, 10)
	in.ChatID = in.SenderID
	in.Name = u.FirstName
	if u.LastName != "" {
		in.Name += " " + u.LastName
	}
	in.Name = cmp.Or(in.Name, u.Username)
	in.Locale = u.LanguageCode
}
