package telegram

import (
	"net/http"
	"strings"
)

// pollWatcher is the Bot API client as the library sees it. It reports the
// channel ok whenever getUpdates is answered: the library tells us of a
// failed poll (onError) but not of the next one that works.
type pollWatcher struct {
	next doer
	a    *Adapter
}

func (p pollWatcher) Do(req *http.Request) (*http.Response, error) {
	resp, err := p.next.Do(req)
	if err == nil && resp.StatusCode == http.StatusOK && strings.HasSuffix(req.URL.Path, "/getUpdates") {
		p.a.opts.Health.OK(p.a.Name())
	}
	return resp, err
}
