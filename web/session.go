package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// ConsoleConfig is the `console:` block of config.yaml.
type ConsoleConfig struct {
	// SessionIdle ends a session unused this long (default 12h).
	SessionIdle time.Duration `yaml:"session_idle"`
	// SessionMax ends a session this long after sign-in, used or not
	// (default 720h, 30 days).
	SessionMax time.Duration `yaml:"session_max"`
	// Locale is the console's language until a user picks one: zh-CN or en.
	Locale string `yaml:"locale"`
}

// DefaultConsoleConfig is the block with nothing set.
func DefaultConsoleConfig() ConsoleConfig {
	p := store.DefaultSessionPolicy()
	return ConsoleConfig{SessionIdle: p.Idle, SessionMax: p.Max, Locale: store.LocaleZH}
}

// Validate checks the block; errors name the key.
func (c ConsoleConfig) Validate() error {
	switch {
	case c.SessionIdle < time.Minute:
		return fmt.Errorf("console.session_idle: must be at least 1m")
	case c.SessionMax < c.SessionIdle:
		return fmt.Errorf("console.session_max: must be at least console.session_idle (%s)", c.SessionIdle)
	case c.Locale != store.LocaleZH && c.Locale != store.LocaleEN:
		return fmt.Errorf("console.locale: %q is not zh-CN or en", c.Locale)
	}
	return nil
}

func (c ConsoleConfig) policy() store.SessionPolicy {
	if c.SessionMax <= 0 {
		return store.DefaultSessionPolicy()
	}
	return store.SessionPolicy{Idle: c.SessionIdle, Max: c.SessionMax}
}

// sessionCookie holds a console session's token.
const sessionCookie = "rapport_session"

// csrfHeader carries the session's CSRF token on every write made with
// the cookie. The token is derived from the session's secret, so it
// needs no storage; a page on another site can neither read it nor set
// the header without the browser asking us first (CORS), which we never
// allow.
const csrfHeader = "X-CSRF-Token"

func csrfOf(session string) string {
	m := hmac.New(sha256.New, []byte(session))
	m.Write([]byte("rapport console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authenticate is the one way a request becomes a caller: a bearer token
// (API clients; no CSRF check, a browser never sends one by itself), or
// the console's session cookie, with the CSRF header on anything but a
// read. Both give the same Principal: a session's carries its staff
// member's id and current role.
func (s *Server) authenticate(r *http.Request) (*store.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, store.Errorf(store.EUNAUTHORIZED, "Authorization must be \"Bearer TOKEN\"")
		}
		return s.Store.Authenticate(r.Context(), strings.TrimSpace(tok))
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, store.Errorf(store.EUNAUTHORIZED, "missing bearer token (or console session)")
	}
	p, err := s.Store.AuthenticateSession(r.Context(), c.Value, s.Console.policy().Idle)
	if err != nil {
		return nil, err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(csrfOf(c.Value))) {
			return nil, store.Errorf(store.EFORBIDDEN, "missing or wrong %s header (the console sends it; reload the page)", csrfHeader)
		}
	}
	return p, nil
}

// consoleRoutes for sessions: sign-in, sign-out, me, sessions, password.
func (s *Server) sessionRoutes() {
	s.mux.HandleFunc("POST /console/api/sign-in/code", s.requestSignInCode)
	s.mux.HandleFunc("POST /console/api/sign-in", s.signIn)
	s.consoleAPI("POST /console/api/sign-out", s.signOut)
	s.consoleAPI("POST /console/api/sign-out-everywhere", s.signOutEverywhere)
	s.consoleAPI("GET /console/api/me", s.me)
	s.consoleAPI("GET /console/api/sessions", s.listSessions)
	s.consoleAPI("DELETE /console/api/sessions/{id}", s.revokeSession)
	s.consoleAPI("PUT /console/api/password", s.setOwnPassword)
	s.api("PUT /staff/{id}/password", s.setStaffPassword, store.RoleAdmin).doc(op{
		Summary:     "Set a staff member's initial console password (admins; not one's own)",
		Description: "The password is kept as an argon2id hash; staff change their own in the console.",
		In:          passwordInput{},
		Status:      http.StatusNoContent,
	})
}

// consoleAPI mounts an authenticated console endpoint (same callers and
// errors as the admin API).
func (s *Server) consoleAPI(pattern string, h apiFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := h(w, r, p); err != nil {
			s.fail(w, r, err)
		}
	})
}

// jsonOnly refuses a sign-in POST that is not JSON: a form on another
// site can post a form, but not JSON without asking (CORS), so nobody
// can sign a visitor in as someone else.
func jsonOnly(r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return errBadRequest{"send JSON with Content-Type: application/json"}
	}
	return nil
}

// requestSignInCode sends a one-time code to the staff member's chat. The
// answer is the same whether or not the name is anyone's.
func (s *Server) requestSignInCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Staff string `json:"staff"`
	}
	err := jsonOnly(r)
	if err == nil {
		err = decode(w, r, &in)
	}
	if err == nil {
		err = s.Store.RequestSignInCode(r.Context(), store.SignInCodeRequest{Staff: in.Staff, IP: s.clientIP(r), Text: s.signInText})
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"sent": true, "expires_in": int(store.SignInCodeTTL.Seconds()),
		"message": "if that name is a staff member with a bound chat account, a code is on its way there",
	})
}

// signInText renders the code's message in the staff locale.
func (s *Server) signInText(st *store.Staff, code string) (store.CodeNotice, error) {
	if s.Templates == nil {
		return store.CodeNotice{}, store.Errorf(store.EUNAVAILABLE, "texts are not available")
	}
	out, err := s.Templates.Render(context.Background(), templates.KeyConsoleSignIn, s.StaffLocale,
		render.Data{Staff: &render.Staff{Name: st.Name}, Extra: map[string]string{"code": code, "minutes": "5"}})
	if err != nil {
		return store.CodeNotice{}, err
	}
	return store.CodeNotice{Text: out.Text, TemplateKey: out.Key, TemplateVersion: out.Version}, nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Staff    string `json:"staff"`
		Code     string `json:"code"`
		Password string `json:"password"`
	}
	err := jsonOnly(r)
	if err == nil {
		err = decode(w, r, &in)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tok, sess, err := s.Store.SignIn(r.Context(), store.SignInInput{Staff: in.Staff, Code: in.Code, Password: in.Password,
		IP: s.clientIP(r), UserAgent: r.UserAgent(), Policy: s.Console.policy()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.https(r),
		SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt})
	id := sess.StaffID
	me, err := s.meOf(r.Context(), &store.Principal{SessionID: sess.ID, StaffID: &id}, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, me)
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.https(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	if p.SessionID != 0 {
		if err := s.Store.RevokeSession(r.Context(), store.ActorOf(p), p.SessionID); err != nil {
			return err
		}
	}
	s.clearCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	if p.StaffID == nil {
		return store.Errorf(store.EFORBIDDEN, "this token belongs to no staff member")
	}
	n, err := s.Store.RevokeStaffSessions(r.Context(), *p.StaffID, 0)
	if err != nil {
		return err
	}
	s.audit(r, p, "session.revoke_all", "staff", *p.StaffID, map[string]any{"ended": n})
	s.clearCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]any{"ended": n})
	return nil
}

// meView is who is signed in, and what the console needs to know to show
// them the right things: role (to hide what they cannot do), the business
// time zone (dates are shown in it) and locale.
type meView struct {
	StaffID      *int64     `json:"staff_id"`
	Name         string     `json:"name"`
	Role         store.Role `json:"role"`
	SessionID    int64      `json:"session_id,omitempty"`
	CSRFToken    string     `json:"csrf_token,omitempty"`
	HasPassword  bool       `json:"has_password"`
	Timezone     string     `json:"timezone"`
	Locale       string     `json:"locale"`
	BusinessName string     `json:"business_name"`
	ChatBound    bool       `json:"chat_bound"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	tok := ""
	if p.SessionID != 0 {
		if c, err := r.Cookie(sessionCookie); err == nil {
			tok = c.Value
		}
	}
	me, err := s.meOf(r.Context(), p, tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

func (s *Server) meOf(ctx context.Context, p *store.Principal, session string) (*meView, error) {
	me := &meView{StaffID: p.StaffID, Role: p.Role, SessionID: p.SessionID, Timezone: s.Timezone, Locale: s.Console.Locale,
		BusinessName: s.BusinessName}
	if me.Timezone == "" {
		me.Timezone = "UTC"
	}
	if me.Locale == "" {
		me.Locale = store.LocaleZH
	}
	if session != "" {
		me.CSRFToken = csrfOf(session)
	}
	if p.StaffID != nil {
		st, err := s.Store.StaffByID(ctx, *p.StaffID)
		if err != nil {
			return nil, err
		}
		me.Name = st.Name
		if me.Role == "" {
			me.Role = st.Role
		}
		if me.HasPassword, err = s.Store.HasPassword(ctx, st.ID); err != nil {
			return nil, err
		}
		chat, err := s.Store.StaffChat(ctx, st.ID)
		if err != nil {
			return nil, err
		}
		me.ChatBound = chat != nil
	}
	return me, nil
}

// listSessions lists the caller's own sessions still usable; admins may
// ask for everyone's (?all=1).
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	f := store.SessionFilter{StaffID: p.StaffID, Current: p.SessionID, Active: true, Idle: s.Console.policy().Idle, Page: pg}
	if r.URL.Query().Get("all") == "1" {
		if p.Role != store.RoleAdmin {
			return store.Errorf(store.EFORBIDDEN, "only admins list everyone's sessions")
		}
		f.StaffID = nil
	} else if p.StaffID == nil {
		return store.Errorf(store.EFORBIDDEN, "this token belongs to no staff member; admins add ?all=1")
	}
	items, next, err := s.Store.ListSessions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.ConsoleSession]{Items: items, NextCursor: next})
	return nil
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Store.RevokeSession(r.Context(), store.ActorOf(p), id); err != nil {
		return err
	}
	s.audit(r, p, "session.revoke", "session", id, nil)
	if id == p.SessionID {
		s.clearCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setOwnPassword sets the caller's password (the current one is needed
// to change an existing password).
func (s *Server) setOwnPassword(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	if p.StaffID == nil {
		return store.Errorf(store.EFORBIDDEN, "this token belongs to no staff member")
	}
	var in struct {
		Current  string `json:"current"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.Store.SetPassword(r.Context(), store.PasswordChange{StaffID: *p.StaffID, Current: in.Current, Password: in.Password,
		By: store.ActorOf(p)}); err != nil {
		return err
	}
	s.audit(r, p, "staff.password_set", "staff", *p.StaffID, map[string]any{"own": true})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passwordInput is PUT /staff/{id}/password.
type passwordInput struct {
	Password string `json:"password"`
}

// setStaffPassword is an admin setting someone's initial password.
func (s *Server) setStaffPassword(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in passwordInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	by := store.ActorOf(p)
	if by.StaffID != nil && *by.StaffID == id {
		return store.Errorf(store.EFORBIDDEN, "change your own password in the console (PUT /console/api/password)")
	}
	if by.StaffID == nil {
		by.Role = store.RoleAdmin
	}
	if err := s.Store.SetPassword(r.Context(), store.PasswordChange{StaffID: id, Password: in.Password, By: by}); err != nil {
		return err
	}
	s.audit(r, p, "staff.password_set", "staff", id, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// https reports whether the browser reached us over https: directly, or
// through a trusted proxy that says so. The session cookie is then Secure.
func (s *Server) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return s.fromProxy(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

func (s *Server) fromProxy(r *http.Request) bool {
	a, ok := remoteAddr(r)
	return ok && trusted(a, s.Proxies)
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the client's address: the connection's, or, through
// trusted proxies, the last address in X-Forwarded-For that no trusted
// proxy added (the same rule as the web chat's). IPv6 clients count by
// their /64.
func (s *Server) clientIP(r *http.Request) string {
	a, ok := remoteAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if trusted(a, s.Proxies) {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		for i := len(hops) - 1; i >= 0 && trusted(a, s.Proxies); i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			a = h.Unmap()
		}
	}
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
