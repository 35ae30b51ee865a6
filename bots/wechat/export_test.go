package wechat

import (
	"encoding/xml"
	"fmt"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/rapport-crm/rapport/bots"
)

// Parse turns one plaintext callback body (XML) into an Inbound as the
// callback does, for the fuzz test.
func Parse(raw []byte) (in bots.Inbound, ok bool, err error) {
	var m message.MixMessage
	if err := xml.Unmarshal(raw, &m); err != nil {
		return in, false, fmt.Errorf("not XML: %w", err)
	}
	return fromMessage(&m, raw)
}
