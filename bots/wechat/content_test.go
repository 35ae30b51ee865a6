package wechat_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
)

// Long text is stored whole and answered "success". Before, ~3,000 CJK
// characters (the raw payload cut at 8 KiB mid-character: MySQL error
// 1366) or over 64 KiB ("Data too long") answered 500; WeChat retried
// three times and dropped the message.
func TestLongTextStored(t *testing.T) {
	cjk := strings.Repeat("您好请问", 750)   // 3000 characters
	long := strings.Repeat("保养预约", 6000) // 72 KB
	// The raw XML puts a 4-byte emoji's first byte 2 bytes before the old 8 KiB cut.
	prefix := len(textXML("oLong3", 9003, ""))
	prefix -= len("]]></Content><MsgId>9003</MsgId></xml>")
	atCut := strings.Repeat("a", 8<<10-2-prefix) + "😀" + strings.Repeat("b", 50)
	tests := []struct {
		openid string
		id     int64
		text   string
	}{
		{"oLong1", 9001, cjk},
		{"oLong2", 9002, long},
		{"oLong3", 9003, atCut},
	}
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		for _, tt := range tests {
			body := textXML(tt.openid, tt.id, tt.text)
			if tt.openid == "oLong3" && strings.Index(body, "😀") != 8<<10-2 {
				t.Fatalf("emoji at byte %d", strings.Index(body, "😀"))
			}
			wantSuccess(t, h.post(body))
			in := h.inbound(t, tt.openid)
			if len(in) != 1 || in[0].Text != tt.text {
				t.Errorf("%s: stored %d messages", tt.openid, len(in))
			}
		}
	})
}

// Each message kind keeps its details in media, in the fields Telegram's
// use too: media_id, format, recognition, pic_url, latitude/longitude,
// scale, label, title, url.
func TestMediaOfEachKind(t *testing.T) {
	const u = "oMedia"
	hdr := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oMedia]]></FromUserName><CreateTime>1767225600</CreateTime>`
	lat, lng := 23.134521, 113.358803
	cases := []struct {
		body, kind, text string
		media            *store.Media
	}{
		{hdr + `<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>2002</MsgId></xml>`,
			"image", "http://mmbiz.qpic.cn/x.jpg", &store.Media{MediaID: "m1", PicURL: "http://mmbiz.qpic.cn/x.jpg"}},
		{hdr + `<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[积分]]></Recognition><MsgId>2003</MsgId></xml>`,
			"voice", "积分", &store.Media{MediaID: "m2", Format: "amr", Recognition: "积分"}},
		{hdr + `<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m3]]></MediaId><Format><![CDATA[speex]]></Format><MsgId>2004</MsgId></xml>`,
			"voice", "[语音]", &store.Media{MediaID: "m3", Format: "speex"}},
		{hdr + `<MsgType><![CDATA[shortvideo]]></MsgType><MediaId><![CDATA[m4]]></MediaId><ThumbMediaId><![CDATA[t4]]></ThumbMediaId><MsgId>2005</MsgId></xml>`,
			"video", "[视频]", &store.Media{MediaID: "m4", ThumbMediaID: "t4"}},
		{hdr + `<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州市天河区]]></Label><MsgId>2006</MsgId></xml>`,
			"location", "23.134521,113.358803 广州市天河区", &store.Media{Latitude: &lat, Longitude: &lng, Scale: 20, Label: "广州市天河区"}},
		{hdr + `<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[保养指南]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://example.com/a]]></Url><MsgId>2007</MsgId></xml>`,
			"link", "保养指南 https://example.com/a", &store.Media{Title: "保养指南", Description: "d", URL: "https://example.com/a"}},
		{textXML(u, 2008, "你好"), "text", "你好", nil},
	}
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		for _, c := range cases {
			wantSuccess(t, h.post(c.body))
		}
		in := h.inbound(t, u)
		if len(in) != len(cases) {
			t.Fatalf("stored %d messages; want %d", len(in), len(cases))
		}
		for i, c := range cases {
			if in[i].Kind != c.kind || in[i].Text != c.text {
				t.Errorf("message %d = %s %q; want %s %q", i, in[i].Kind, in[i].Text, c.kind, c.text)
			}
			if diff := cmp.Diff(c.media, in[i].Media); diff != "" {
				t.Errorf("message %d media (-want +got):\n%s", i, diff)
			}
		}
	})
}
