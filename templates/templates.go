// Package templates renders care and follow-up texts: embedded defaults,
// manager-edited versions in the store, validation and preview.
package templates

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Config is what the service needs from config.yaml.
type Config struct {
	// BusinessName is the top-level `business_name`; templates see it as
	// {{.Business}}.
	BusinessName string
	// Location is the business time zone dates are printed in (nil: UTC).
	Location *time.Location
	// StaffLocale is the language of chat replies to staff (zh-CN | en).
	StaffLocale string
	// CacheTTL bounds how long a change saved on another replica takes to
	// be used here (default 2 s).
	CacheTTL time.Duration
	// Previews is how many validations and previews may run at once
	// (default MaxPreviews); more are refused with EUNAVAILABLE.
	Previews int
	// CheckTime bounds one validation or preview render (default 100 ms).
	CheckTime time.Duration
	// Logger reports saved versions that no longer pass the checks
	// (default slog.Default()).
	Logger *slog.Logger
}

// Service renders templates and manages their versions.
type Service struct {
	store    *store.Store
	cfg      Config
	loc      *time.Location
	defaults map[string]string    // ref(key, locale) -> shipped body
	base     map[string]*compiled // ref(key, locale) -> compiled shipped body (version 1)

	snap      atomic.Pointer[snapshot]
	refreshMu sync.Mutex
	// versions caches compiled saved versions; they never change.
	versionsMu sync.RWMutex
	versions   map[versionRef]*compiled
	// broken holds saved versions that no longer compile or pass the
	// render budget (saved by an older build); they are not read again.
	broken map[versionRef]error
	// previews holds a slot per validation or preview running.
	previews chan struct{}
}

// compiled is a parsed template that passed the budget checks. It runs
// only through instances: clones whose text functions are bound to their
// own budget (a run). Instances are pooled, as the care engine renders up
// to a million texts per run; the pool keeps their output buffers small.
type compiled struct {
	version int
	t       *template.Template
	pool    sync.Pool // *instance
}

type instance struct {
	t *template.Template
	r *run
}

// maxPooledBuffer is the largest output buffer an idle instance keeps.
const maxPooledBuffer = 16 << 10

func (c *compiled) instance() (*instance, error) {
	if in, ok := c.pool.Get().(*instance); ok {
		return in, nil
	}
	t, err := c.t.Clone()
	if err != nil {
		return nil, err
	}
	r := &run{}
	return &instance{t: t.Funcs(r.builtins()), r: r}, nil
}

func (c *compiled) release(in *instance) {
	in.r.done = nil // do not hold on to the caller's context
	if cap(in.r.out) > maxPooledBuffer {
		in.r.out = nil
	}
	c.pool.Put(in)
}

type versionRef struct {
	key, locale string
	version     int
}

// snapshot is the active version of every key and locale as read from the
// store at one moment; Render reads it without locks.
type snapshot struct {
	loaded time.Time
	active map[string]*compiled // ref(key, locale)
}

// New builds the service. The shipped texts are embedded and must compile;
// a broken one is a build defect, caught by the package tests.
func New(st *store.Store, cfg Config) *Service {
	cfg.Location = cmp.Or(cfg.Location, time.UTC)
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, 2*time.Second)
	cfg.CheckTime = cmp.Or(cfg.CheckTime, checkTime)
	cfg.Previews = cmp.Or(cfg.Previews, MaxPreviews)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	s := &Service{store: st, cfg: cfg, loc: cfg.Location, base: map[string]*compiled{},
		versions: map[versionRef]*compiled{}, broken: map[versionRef]error{}, previews: make(chan struct{}, cfg.Previews)}
	defaults, err := loadDefaults()
	if err != nil {
		panic(err)
	}
	s.defaults = defaults
	for r, body := range defaults {
		key, locale, _ := strings.Cut(r, "\x00")
		c, err := s.compile(key, locale, body)
		if err != nil {
			panic(fmt.Sprintf("templates: shipped text %s.%s: %v", key, locale, err))
		}
		c.version = 1
		s.base[r] = c
	}
	return s
}

var _ render.Renderer = (*Service)(nil)

// Render renders the active version of key in locale (zh-CN when the
// locale is not shipped). It reads no database row per call: the active
// versions are cached for Config.CacheTTL.
func (s *Service) Render(ctx context.Context, key, locale string, d render.Data) (render.Rendered, error) {
	locale = Locale(locale)
	snap, err := s.snapshot(ctx)
	if err != nil {
		return render.Rendered{}, err
	}
	r := ref(key, locale)
	c := snap.active[r]
	if c == nil {
		if c = s.base[r]; c == nil {
			return render.Rendered{}, store.Errorf(store.ENOTFOUND, "template %q not found", key)
		}
	}
	// Only the deadline stops a send-time render: a cancelled caller (a
	// care run at shutdown) must not see its customers' texts fail.
	text, err := s.execute(context.WithoutCancel(ctx), c, d, locale, renderTime)
	if err != nil {
		return render.Rendered{}, fmt.Errorf("render %s (%s) v%d: %w", key, locale, c.version, err)
	}
	return render.Rendered{Key: key, Locale: locale, Version: c.version, Text: text}, nil
}

// snapshot returns the cached active versions, reloading them when older
// than the TTL. While one goroutine reloads, the others keep using the
// previous snapshot.
func (s *Service) snapshot(ctx context.Context) (*snapshot, error) {
	snap := s.snap.Load()
	now := s.store.Now()
	if snap != nil && now.Sub(snap.loaded) < s.cfg.CacheTTL && !now.Before(snap.loaded) {
		return snap, nil
	}
	if snap != nil {
		if !s.refreshMu.TryLock() {
			return snap, nil
		}
	} else {
		s.refreshMu.Lock()
	}
	defer s.refreshMu.Unlock()
	if cur := s.snap.Load(); cur != snap && cur != nil {
		return cur, nil
	}
	next, err := s.load(ctx)
	if err != nil {
		if snap != nil {
			// Keep serving the last known texts; retry after another TTL
			// rather than on every call.
			stale := &snapshot{loaded: now, active: snap.active}
			s.snap.Store(stale)
			return stale, nil
		}
		return nil, err
	}
	s.snap.Store(next)
	return next, nil
}

// load reads the heads and compiles any active version not seen before. A
// version that no longer passes the checks (saved by an older build) is
// replaced by the shipped text of its key, with one warning, so one bad
// text never stops the others.
func (s *Service) load(ctx context.Context) (*snapshot, error) {
	heads, err := s.store.TemplateHeads(ctx)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{loaded: s.store.Now(), active: make(map[string]*compiled, len(heads))}
	for _, h := range heads {
		r := ref(h.Key, h.Locale)
		if _, ok := s.base[r]; !ok {
			continue // a key this build does not know
		}
		c, err := s.compiledVersion(ctx, h.Key, h.Locale, h.Active)
		if store.IsCode(err, store.EINVALID) {
			c = s.base[r]
		} else if err != nil {
			return nil, err
		}
		snap.active[r] = c
	}
	return snap, nil
}

// compiledVersion returns a version compiled, from cache or the store.
// Version 1 is the shipped text of this build.
func (s *Service) compiledVersion(ctx context.Context, key, locale string, version int) (*compiled, error) {
	if version <= 1 {
		return s.base[ref(key, locale)], nil
	}
	vr := versionRef{key, locale, version}
	s.versionsMu.RLock()
	c, broken := s.versions[vr], s.broken[vr]
	s.versionsMu.RUnlock()
	if c != nil || broken != nil {
		return c, broken
	}
	v, err := s.store.TemplateVersionOf(ctx, key, locale, version)
	if err != nil {
		return nil, err
	}
	c, err = s.compile(key, locale, v.Body)
	s.versionsMu.Lock()
	defer s.versionsMu.Unlock()
	if err != nil {
		err = store.Invalid("version", "%d of %s (%s) no longer passes the template checks: %s", version, key, locale, store.ErrorMessage(err))
		if s.broken[vr] == nil {
			s.cfg.Logger.Warn("saved template version no longer passes the checks; while it is active the shipped text is sent instead",
				"key", key, "locale", locale, "version", version, "err", store.ErrorMessage(err))
		}
		s.broken[vr] = err
		return nil, err
	}
	c.version = version
	s.versions[vr] = c
	return c, nil
}

// invalidate makes the next Render reload the active versions (after a
// change on this replica). It waits for a reload in progress: one that read
// the heads before the change committed would otherwise install its stale
// snapshot after this and serve it for a whole TTL.
func (s *Service) invalidate() {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.snap.Store(nil)
}
