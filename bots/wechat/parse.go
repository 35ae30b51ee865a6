package wechat

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// maxOpenID bounds FromUserName: openids are 28 characters, and the
// event dedup key (openid:CreateTime:Event) must fit the store's 128.
const maxOpenID = 64

// fromMessage maps a parsed callback onto an Inbound. Messages dedup on
// MsgId, events on FromUserName+CreateTime+Event (WeChat's own rule). ok
// is false for message and event types Rapport does not handle (they are
// acknowledged and ignored); err is set for a body that is not a WeChat
// message.
func fromMessage(m *message.MixMessage, raw []byte) (in bots.Inbound, ok bool, err error) {
	from := strings.TrimSpace(string(m.FromUserName))
	switch {
	case from == "":
		return in, false, errors.New("no FromUserName")
	case len(from) > maxOpenID || !utf8.ValidString(from) || strings.ContainsAny(from, ":\x00"):
		return in, false, errors.New("FromUserName is not an openid")
	case m.MsgType == "":
		return in, false, errors.New("no MsgType")
	}
	in = bots.Inbound{
		Channel: store.ChannelWeChat, SenderID: from, ChatID: from,
		Kind: string(m.MsgType), Raw: raw,
	}
	if m.MsgType == message.MsgTypeEvent {
		ev := eventName(string(m.Event))
		if ev == "" {
			// LOCATION reports, ...; TEMPLATESENDJOBFINISH is a delivery
			// report the webhook handles (templateReportOf), not chat.
			return in, false, nil
		}
		in.Kind, in.Event = bots.KindEvent, ev
		in.EventKey = store.CutRunes(m.EventKey, 255)
		in.DedupKey = from + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + ev
		if scene, ok := strings.CutPrefix(m.EventKey, "qrscene_"); ok && ev == bots.EventSubscribe && scene != "" {
			in.Source = "wechat:qrscene:" + store.CutRunes(scene, 64)
		}
		return in, true, nil
	}
	if m.MsgID == 0 {
		return in, false, errors.New("message without MsgId")
	}
	in.DedupKey = strconv.FormatInt(m.MsgID, 10)
	// The details go to Media, in the fields Telegram's share.
	switch m.MsgType {
	case message.MsgTypeText:
		in.Text = m.Content // raw: the router parses command words itself
	case message.MsgTypeImage:
		in.Text = m.PicURL
		in.Media = &store.Media{MediaID: m.MediaID, PicURL: m.PicURL}
	case message.MsgTypeVoice:
		in.Text = m.Recognition // speech recognition, when enabled
		in.Text = cmp.Or(in.Text, "[语音]")
		in.Media = &store.Media{MediaID: m.MediaID, Format: m.Format, Recognition: m.Recognition}
	case message.MsgTypeVideo, message.MsgTypeShortVideo:
		in.Kind, in.Text = "video", "[视频]"
		in.Media = &store.Media{MediaID: m.MediaID, ThumbMediaID: m.ThumbMediaID}
	case message.MsgTypeLocation:
		in.Text = strings.TrimSpace(fmt.Sprintf("%g,%g %s", m.LocationX, m.LocationY, m.Label))
		lat, lng := m.LocationX, m.LocationY
		in.Media = &store.Media{Latitude: &lat, Longitude: &lng, Scale: int(m.Scale), Label: m.Label}
	case message.MsgTypeLink:
		in.Text = strings.TrimSpace(m.Title + " " + m.URL)
		in.Media = &store.Media{Title: m.Title, Description: m.Description, URL: m.URL}
	default:
		return in, false, nil
	}
	return in, true, nil
}

// eventName maps the WeChat events Rapport records to Inbound.Event
// names; "" for the rest.
func eventName(e string) string {
	switch strings.ToUpper(e) {
	case "SUBSCRIBE":
		return bots.EventSubscribe
	case "UNSUBSCRIBE":
		return bots.EventUnsubscribe
	case "SCAN":
		return "scan"
	case "CLICK":
		return "click"
	case "VIEW":
		return "view"
	}
	return ""
}

// templateDelivered is the TEMPLATESENDJOBFINISH status of a template
// message that arrived; failures are "failed:user block", "failed: system
// failed", ...
const templateDelivered = "success"

// templateReport is WeChat's delivery report for a template message we
// sent: its msgid (as Send returned it), the recipient and the status.
type templateReport struct {
	openID string
	msgID  int64
	status string
}

// templateReportOf returns the delivery report m carries, if it is one.
func templateReportOf(m *message.MixMessage) (templateReport, bool) {
	if m.MsgType != message.MsgTypeEvent || !strings.EqualFold(string(m.Event), string(message.EventTemplateSendJobFinish)) {
		return templateReport{}, false
	}
	return templateReport{
		openID: strings.TrimSpace(string(m.FromUserName)),
		msgID:  m.TemplateMsgID,
		status: strings.TrimSpace(strings.ToValidUTF8(m.Status, "")),
	}, true
}

// failed reports whether the template message did not arrive, and whether
// that is because the customer blocked the account. WeChat writes the
// statuses with and without a space after "failed:".
func (r templateReport) failed() (failed, blocked bool) {
	rest, ok := strings.CutPrefix(strings.ToLower(r.status), "failed")
	if !ok {
		return false, false
	}
	return true, strings.TrimSpace(strings.TrimPrefix(rest, ":")) == "user block"
}

// templateProviderID is the provider message id an outbox row records for
// a template message: the msgid its delivery report names.
func templateProviderID(msgID int64) string {
	return "tpl:" + strconv.FormatInt(msgID, 10)
}
