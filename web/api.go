package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// apiFunc is an admin API handler: it gets the caller and returns an error
// that writeError maps to HTTP.
type apiFunc func(w http.ResponseWriter, r *http.Request, p *store.Principal) error

// api mounts an authenticated handler under /api/v1 for the given roles
// (none = every role). Describe the route for the OpenAPI document on the
// same statement: s.api(...).doc(op{...}) (see openapi.go).
func (s *Server) api(pattern string, h apiFunc, roles ...store.Role) *route {
	method, path, _ := strings.Cut(pattern, " ")
	rt := &route{method: method, path: path, roles: roles}
	s.apiRoutes = append(s.apiRoutes, rt)
	s.mux.HandleFunc(method+" /api/v1"+path, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(roles) > 0 && !slices.Contains(roles, p.Role) {
			s.fail(w, r, store.Errorf(store.EFORBIDDEN, "role %s may not do this", p.Role))
			return
		}
		if err := h(w, r, p); err != nil {
			s.fail(w, r, err)
		}
	})
	return rt
}

// fail answers an error. Only server faults (5xx) are logged as errors: a
// client's mistake (4xx) is theirs to fix and would bury real faults, so
// it is logged at debug level at most.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := writeError(w, err)
	if status >= 500 {
		s.Logger.Error("api error", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		s.Logger.Debug("api client error", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
}

// apiFallback answers every /api/v1 request no route takes, in the API's
// error shape: 405 with Allow when the path exists for other methods, 404
// otherwise (net/http would answer plain text).
func (s *Server) apiFallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != apiFallbackPattern && pattern != apiRootPattern {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeError(w, store.Errorf(store.ENOTFOUND, "no API route %s", r.URL.Path))
		return
	}
	if slices.Contains(allow, http.MethodGet) {
		allow = slices.Insert(allow, 1, http.MethodHead)
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, errorBodyOf("method_not_allowed",
		fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, ", "))))
}

// The patterns apiFallback is mounted on.
const (
	apiFallbackPattern = "/api/v1/"
	apiRootPattern     = "/api/v1"
)

// statusOf is the one place domain error codes become HTTP statuses.
func statusOf(code string) int {
	switch code {
	case store.EINVALID:
		return http.StatusUnprocessableEntity
	case store.ENOTFOUND:
		return http.StatusNotFound
	case store.ECONFLICT:
		return http.StatusConflict
	case store.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case store.EFORBIDDEN:
		return http.StatusForbidden
	case store.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case store.ETOOMANY:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// errBadRequest marks input that is not even well-formed (400, not 422).
type errBadRequest struct{ msg string }

func (e errBadRequest) Error() string { return e.msg }

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func errorBodyOf(code, msg string) errorBody {
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	return body
}

// writeError answers err in the API's error shape and returns the status.
func writeError(w http.ResponseWriter, err error) int {
	var body errorBody
	var bad errBadRequest
	var tooBig *http.MaxBytesError
	status := 0
	switch {
	case errors.As(err, &tooBig):
		status, body.Error.Code, body.Error.Message = http.StatusRequestEntityTooLarge, "invalid", "request body too large"
	case errors.As(err, &bad):
		status, body.Error.Code, body.Error.Message = http.StatusBadRequest, "invalid", bad.msg
	default:
		code := store.ErrorCode(err)
		status, body.Error.Code, body.Error.Message = statusOf(code), code, store.ErrorMessage(err)
		switch status {
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "900")
		}
		var se *store.Error
		if errors.As(err, &se) {
			body.Error.Field = se.Field
		}
	}
	writeJSON(w, status, body)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// maxBody bounds API request bodies.
const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors (400).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var invalid *store.Error
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.As(err, &invalid):
			return invalid // a field's own check (a date, say): 422 naming it
		case errors.Is(err, io.EOF):
			return errBadRequest{"request body is empty; expected a JSON object"}
		case errors.As(err, &typeErr):
			return errBadRequest{fmt.Sprintf("field %q: expected %s", typeErr.Field, typeErr.Type)}
		}
		return errBadRequest{"malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return errBadRequest{"malformed JSON: trailing data after the object"}
	}
	return nil
}

// respond answers v as JSON with status, or returns err for the caller
// to answer: the end of a handler, after its one domain call.
func respond(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// respondList answers one page in the contract's list envelope (an empty
// page as [], never null), or returns err.
func respondList[T any](w http.ResponseWriter, items []T, next string, err error) error {
	if items == nil {
		items = []T{}
	}
	return respond(w, http.StatusOK, list[T]{Items: items, NextCursor: next}, err)
}

// list is the contract's list envelope.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func page(r *http.Request) (store.Page, error) {
	p := store.Page{Cursor: r.URL.Query().Get("cursor")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, store.Invalid("limit", "%q is not a number", v)
		}
		if n == 0 {
			return p, store.Invalid("limit", "must be between 1 and 500")
		}
		p.Limit = n
	}
	return p, nil
}

// date reads a business date (YYYY-MM-DD, in the business zone) within
// the years the domain takes (a year like 0001 or 9999 is a 422, not a
// database error).
func (s *Server) date(field, v string) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v), s.Location)
	if err != nil {
		return d, store.Invalid(field, "%q is not YYYY-MM-DD", v)
	}
	return d, store.CheckTime(field, d)
}

// dateRange reads from= and to= (business dates; to is inclusive) as
// [from, to+1 day); either may be absent (zero).
func (s *Server) dateRange(r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		if from, err = s.date("from", v); err != nil {
			return from, to, err
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = s.date("to", v); err != nil {
			return from, to, err
		}
		to = to.AddDate(0, 0, 1)
	}
	return from, to, nil
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, store.Errorf(store.ENOTFOUND, "%s %q not found", name, r.PathValue(name))
	}
	return id, nil
}
