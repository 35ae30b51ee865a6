// Package openapitest checks a server's answers against its own OpenAPI
// description (GET /api/v1/openapi.json): Conform wraps the handler a test
// serves, and every JSON answer of a described /api/v1 route must have a
// status its operation lists and a body its schema accepts. Validate is
// the JSON Schema check behind it, for the subset of JSON Schema the web
// package generates; a keyword it does not know is an error, so the
// generator cannot outgrow it unnoticed.
package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Doc is a parsed OpenAPI document.
type Doc map[string]any

// Fetch gets the document h serves.
func Fetch(h http.Handler) (Doc, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Body)
	}
	var d Doc
	if err := decode(rec.Body.Bytes(), &d); err != nil {
		return nil, fmt.Errorf("GET /api/v1/openapi.json: %w", err)
	}
	return d, nil
}

func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// Conform wraps h so that each answer of a described /api/v1 route is
// checked against the description; a mismatch fails t.
func Conform(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	doc, err := Fetch(h)
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		if err := doc.CheckAnswer(r, rec.code, rec.Header().Get("Content-Type"), rec.body.Bytes()); err != nil {
			t.Errorf("openapitest: %v", err)
		}
	})
}

// CheckAnswer checks one answer to r, which the server's mux has routed
// (r.Pattern is set). Routes without a description are let through: the
// web package's own test names them.
func (d Doc) CheckAnswer(r *http.Request, status int, contentType string, body []byte) error {
	method, pattern, ok := strings.Cut(r.Pattern, " ")
	if !ok || r.Method != method || !strings.HasPrefix(pattern, "/api/v1/") {
		return nil // HEAD, the API's 404/405 fallback, other mounts
	}
	path := strings.ReplaceAll(strings.TrimPrefix(pattern, "/api/v1"), "...}", "}")
	op, ok := d.lookup("paths", path, strings.ToLower(method)).(map[string]any)
	if !ok {
		return nil
	}
	where := fmt.Sprintf("%s %s (operation %v) answered %d", r.Method, r.URL.Path, op["operationId"], status)
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		return fmt.Errorf("%s, a status its description does not list: add it to the op's Errors (web)", where)
	}
	resp = d.deref(resp)
	content, _ := resp["content"].(map[string]any)
	if content == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("%s with a body; its description says none", where)
		}
		return nil
	}
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		return nil
	}
	if mt, _, _ := strings.Cut(contentType, ";"); !strings.HasPrefix(contentType, "application/json") && content[strings.TrimSpace(mt)] != nil {
		return nil // another media type the description lists (text/csv)
	}
	if !strings.HasPrefix(contentType, "application/json") {
		return fmt.Errorf("%s with Content-Type %q, not JSON", where, contentType)
	}
	var v any
	if err := decode(body, &v); err != nil {
		return fmt.Errorf("%s with a body that is not JSON: %v", where, err)
	}
	if errs := d.Validate(media["schema"], v); len(errs) > 0 {
		return fmt.Errorf("%s with a body its schema refuses:\n  %s\nbody: %s", where, strings.Join(errs, "\n  "), body)
	}
	return nil
}

// lookup walks keys down the document.
func (d Doc) lookup(keys ...string) any {
	var v any = map[string]any(d)
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Resolve returns what a local reference ("#/components/...") points at.
func (d Doc) Resolve(ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	var v any = map[string]any(d)
	for _, k := range strings.Split(ref[2:], "/") {
		k = strings.NewReplacer("~1", "/", "~0", "~").Replace(k)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func (d Doc) deref(m map[string]any) map[string]any {
	for {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		v, _ := d.Resolve(ref)
		if m, ok = v.(map[string]any); !ok {
			return map[string]any{}
		}
	}
}

// Keywords are the JSON Schema keywords Validate knows: those it checks and
// those that only annotate.
var (
	checked   = []string{"$ref", "type", "enum", "properties", "required", "additionalProperties", "items", "anyOf", "minimum", "maximum", "minItems", "maxItems", "pattern", "format", "propertyNames"}
	annotates = []string{"description", "default", "contentEncoding", "title", "examples"}
)

// Validate checks v (decoded with UseNumber) against schema s, resolving
// references in d, and returns what is wrong, each with its JSON path.
func (d Doc) Validate(s any, v any) []string {
	var errs []string
	d.validate(s, v, "$", &errs)
	return errs
}

// UnknownKeywords lists the keywords of s (and the schemas in it) that
// Validate does not know.
func UnknownKeywords(s any) []string {
	var out []string
	var walk func(any)
	walk = func(s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		for k, v := range m {
			if !slices.Contains(checked, k) && !slices.Contains(annotates, k) {
				out = append(out, k)
			}
			switch k {
			case "properties":
				props, _ := v.(map[string]any)
				for _, p := range props {
					walk(p)
				}
			case "anyOf":
				list, _ := v.([]any)
				for _, p := range list {
					walk(p)
				}
			case "items", "additionalProperties", "propertyNames":
				walk(v)
			}
		}
	}
	walk(s)
	sort.Strings(out)
	return slices.Compact(out)
}

func (d Doc) validate(s any, v any, at string, errs *[]string) {
	bad := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	m, ok := s.(map[string]any)
	if !ok {
		if s == false {
			bad("no value is allowed here")
		}
		return
	}
	if ref, ok := m["$ref"].(string); ok {
		target, found := d.Resolve(ref)
		if !found {
			bad("$ref %s does not resolve", ref)
			return
		}
		d.validate(target, v, at, errs)
	}
	if t, ok := m["type"]; ok && !hasType(t, v) {
		bad("%s is not %v", describe(v), t)
		return
	}
	if e, ok := m["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		bad("%s is not one of %v", describe(v), e)
	}
	if list, ok := m["anyOf"].([]any); ok {
		var all []string
		match := false
		for _, alt := range list {
			var sub []string
			d.validate(alt, v, at, &sub)
			if len(sub) == 0 {
				match = true
				break
			}
			all = append(all, sub...)
		}
		if !match {
			bad("matches none of anyOf: %s", strings.Join(all, "; "))
		}
	}
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		if min, ok := m["minimum"].(json.Number); ok {
			if lo, _ := min.Float64(); f < lo {
				bad("%v is below %v", n, min)
			}
		}
		if max, ok := m["maximum"].(json.Number); ok {
			if hi, _ := max.Float64(); f > hi {
				bad("%v is above %v", n, max)
			}
		}
	}
	if str, ok := v.(string); ok {
		if p, ok := m["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err != nil || !re.MatchString(str) {
				bad("%q does not match %s", str, p)
			}
		}
		switch m["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("%q is not an RFC 3339 time", str)
			}
		case "date":
			if _, err := time.Parse(time.DateOnly, str); err != nil {
				bad("%q is not a YYYY-MM-DD date", str)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if n, ok := m["minItems"].(json.Number); ok && int64(len(arr)) < mustInt(n) {
			bad("has %d items, fewer than %v", len(arr), n)
		}
		if n, ok := m["maxItems"].(json.Number); ok && int64(len(arr)) > mustInt(n) {
			bad("has %d items, more than %v", len(arr), n)
		}
		if items, ok := m["items"]; ok {
			for i, x := range arr {
				d.validate(items, x, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := m["properties"].(map[string]any)
		if req, ok := m["required"].([]any); ok {
			for _, k := range req {
				if _, ok := obj[k.(string)]; !ok {
					bad("lacks required %q", k)
				}
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if names, ok := m["propertyNames"]; ok {
				d.validate(names, k, at+".(name "+k+")", errs)
			}
			if p, ok := props[k]; ok {
				d.validate(p, obj[k], at+"."+k, errs)
			} else if extra, ok := m["additionalProperties"]; ok {
				d.validate(extra, obj[k], at+"."+k, errs)
			}
		}
	}
}

func mustInt(n json.Number) int64 {
	i, _ := n.Int64()
	return i
}

func hasType(t any, v any) bool {
	switch t := t.(type) {
	case string:
		return isType(t, v)
	case []any:
		return slices.ContainsFunc(t, func(x any) bool { s, _ := x.(string); return isType(s, v) })
	}
	return false
}

func isType(t string, v any) bool {
	switch v := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	case json.Number:
		if t == "number" {
			return true
		}
		f, err := v.Float64()
		return t == "integer" && err == nil && f == math.Trunc(f)
	}
	return false
}

func equal(a, b any) bool {
	if n, ok := b.(json.Number); ok {
		b = n.String()
		if m, ok := a.(json.Number); ok {
			a = m.String()
		}
	}
	return a == b
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// recorder passes an answer through and keeps a copy of its body.
type recorder struct {
	http.ResponseWriter
	code  int
	wrote bool
	body  bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	// Event streams are not JSON and may not end: keep only JSON.
	if strings.HasPrefix(r.Header().Get("Content-Type"), "application/json") {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// Flush lets server-sent events through.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
