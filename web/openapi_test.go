package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// undescribed names every way the routes and their descriptions disagree,
// each saying what to add where.
func undescribed(s *Server) []string {
	var problems []string
	described := map[string]bool{}
	for _, rt := range s.apiRoutes {
		pattern := rt.method + " /api/v1" + rt.path
		if rt.op == nil {
			problems = append(problems, pattern+" has no OpenAPI description: chain .doc(op{Summary: ..., Out: ...}) "+
				"onto its s.api(\""+rt.method+" "+rt.path+"\", ...) call (op is in web/openapi.go)")
			continue
		}
		if described[pattern] {
			problems = append(problems, pattern+" is described twice")
		}
		described[pattern] = true
		// The description must name a route the mux has, for its method.
		req := httptest.NewRequest(rt.method, "/api/v1"+samplePath(rt.path), nil)
		if _, got := s.mux.Handler(req); got != pattern {
			problems = append(problems, "the description of "+pattern+" names no registered route (the mux routes it to "+
				strings.TrimSpace(got+")")+": fix or remove its s.describe")
		}
	}
	for _, p := range s.mux.patterns() {
		_, path, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(path, "/api/v1") || p == apiFallbackPattern || p == apiRootPattern {
			continue
		}
		if !described[p] && !slices.ContainsFunc(s.apiRoutes, func(rt *route) bool { return rt.method+" /api/v1"+rt.path == p }) {
			problems = append(problems, p+" is mounted on the mux without an OpenAPI description: mount it with s.api(...).doc(op{...}), "+
				"or put s.describe(\""+strings.Replace(p, "/api/v1", "", 1)+"\", op{...}) next to it")
		}
	}
	return problems
}

// samplePath fills a pattern's wildcards: 1 for ids, x otherwise.
func samplePath(path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") {
			segs[i] = "x"
			if name := strings.Trim(seg, "{}."); name == "id" || strings.HasSuffix(name, "_id") {
				segs[i] = "1"
			}
		}
	}
	return strings.Join(segs, "/")
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := New(Deps{})
	for _, p := range undescribed(s) {
		t.Error(p)
	}
	if len(s.apiRoutes) < 30 {
		t.Errorf("only %d /api/v1 routes seen; s.api no longer records them?", len(s.apiRoutes))
	}
}

// TestOpenAPICoverageNamesWhatToAdd: a route without a description, one
// mounted on the mux directly, and a description of no route all fail the
// test above, each with what to do.
func TestOpenAPICoverageNamesWhatToAdd(t *testing.T) {
	s := New(Deps{})
	nop := func(http.ResponseWriter, *http.Request, *store.Principal) error { return nil }
	s.api("GET /probes/{id}", nop)
	s.mux.HandleFunc("POST /api/v1/raw", func(http.ResponseWriter, *http.Request) {})
	s.describe("GET /ghosts", op{Summary: "nothing", Out: schema{}})
	got := undescribed(s)
	want := []string{
		`GET /api/v1/probes/{id} has no OpenAPI description: chain .doc(op{Summary: ..., Out: ...}) onto its s.api("GET /probes/{id}", ...) call`,
		`the description of GET /api/v1/ghosts names no registered route (the mux routes it to /api/v1/)`,
		`POST /api/v1/raw is mounted on the mux without an OpenAPI description: mount it with s.api(...).doc(op{...}), or put s.describe("POST /raw", op{...}) next to it`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("no problem %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}

// TestOpenAPIDocument checks the document's structure by the OpenAPI 3.1
// rules it can break: version, references, parameters, responses, ids.
func TestOpenAPIDocument(t *testing.T) {
	s := New(Deps{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil)) // no token
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var doc openapitest.Doc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", doc["openapi"])
	}
	if info, _ := doc["info"].(map[string]any); info["title"] == nil || info["version"] == nil {
		t.Errorf("info = %v", info)
	}
	first, _ := s.openAPI()
	again, _ := s.openAPI()
	if &first[0] != &again[0] {
		t.Error("the document is built again on each request")
	}

	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, ok := doc.Resolve(ref); !ok {
					t.Errorf("%s: $ref %s does not resolve", at, ref)
				}
			}
			for k, x := range v {
				walk(x, at+"/"+k)
			}
		case []any:
			for _, x := range v {
				walk(x, at+"[]")
			}
		}
	}
	walk(map[string]any(doc), "#")

	components, _ := doc["components"].(map[string]any)
	name := regexp.MustCompile(`^[a-zA-Z0-9.\-_]+$`)
	for kind, set := range components {
		for n := range set.(map[string]any) {
			if !name.MatchString(n) {
				t.Errorf("components.%s.%s: not a valid component name", kind, n)
			}
		}
	}
	schemes, _ := components["securitySchemes"].(map[string]any)

	ids := map[string]string{}
	statusKey := regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	for path, item := range paths {
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		var inPath []string
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				inPath = append(inPath, strings.Trim(seg, "{}"))
			}
		}
		for method, o := range item.(map[string]any) {
			where := method + " " + path
			if !slices.Contains([]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}, method) {
				t.Errorf("%s: %q is not an operation", where, method)
				continue
			}
			o := o.(map[string]any)
			id, _ := o["operationId"].(string)
			if prev, dup := ids[id]; dup || id == "" {
				t.Errorf("%s: operationId %q empty or also on %s", where, id, prev)
			}
			ids[id] = where
			if s, _ := o["summary"].(string); s == "" {
				t.Errorf("%s: no summary", where)
			}
			var declared []string
			seen := map[string]bool{}
			params, _ := o["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				if ref, ok := p["$ref"].(string); ok {
					r, _ := doc.Resolve(ref)
					p = r.(map[string]any)
				}
				key := p["in"].(string) + ":" + p["name"].(string)
				if seen[key] {
					t.Errorf("%s: parameter %s twice", where, key)
				}
				seen[key] = true
				if !slices.Contains([]any{"query", "header", "path", "cookie"}, p["in"]) || p["schema"] == nil {
					t.Errorf("%s: parameter %v", where, p)
				}
				if p["in"] == "path" {
					declared = append(declared, p["name"].(string))
					if p["required"] != true {
						t.Errorf("%s: path parameter %v not required", where, p["name"])
					}
				}
			}
			if !cmp.Equal(declared, inPath) {
				t.Errorf("%s: path parameters %v, template has %v", where, declared, inPath)
			}
			responses, _ := o["responses"].(map[string]any)
			success := false
			for code, r := range responses {
				if !statusKey.MatchString(code) {
					t.Errorf("%s: response key %q", where, code)
				}
				success = success || code[0] == '2'
				r := r.(map[string]any)
				if ref, ok := r["$ref"].(string); ok {
					x, _ := doc.Resolve(ref)
					r = x.(map[string]any)
				}
				if d, _ := r["description"].(string); d == "" {
					t.Errorf("%s: response %s has no description", where, code)
				}
			}
			if !success {
				t.Errorf("%s: no success response in %v", where, responses)
			}
			if sec, ok := o["security"].([]any); ok {
				for _, req := range sec {
					for scheme := range req.(map[string]any) {
						if schemes[scheme] == nil {
							t.Errorf("%s: security scheme %q is not in components", where, scheme)
						}
					}
				}
			}
		}
	}
	if paths["/openapi.json"].(map[string]any)["get"].(map[string]any)["security"] == nil {
		t.Error("GET /openapi.json does not say it needs no token")
	}

	// Every schema uses only keywords the answer checker knows, so the
	// conformance checks check all of it.
	for n, sch := range components["schemas"].(map[string]any) {
		if unknown := openapitest.UnknownKeywords(sch); len(unknown) > 0 {
			t.Errorf("schema %s uses %v, which openapitest.Validate does not check", n, unknown)
		}
	}
}

// TestOpenAPISchemasFromGoTypes: how json tags become schemas.
func TestOpenAPISchemasFromGoTypes(t *testing.T) {
	type inner struct {
		Shadowed time.Time `json:"when"`
		Promoted string    `json:"promoted"`
	}
	type sample struct {
		*inner
		When     string            `json:"when"` // shadows inner's when
		ID       int64             `json:"id"`
		Note     string            `json:"note,omitempty"`
		Due      *time.Time        `json:"due"`
		Seen     *time.Time        `json:"seen,omitempty"`
		Tags     []string          `json:"tags"`
		Counts   map[string]int    `json:"counts"`
		Tier     *store.Tier       `json:"tier"`
		Quoted   int               `json:"quoted,string"`
		Any      any               `json:"any"`
		Skip     string            `json:"-"`
		private  string            // unexported: not JSON
		Untagged bool              // no tag: named as in Go
		Labels   map[string]string `json:"labels,omitzero"`
	}
	date := schema{"type": "string", "format": "date-time"}
	for _, tc := range []struct {
		dir  direction
		want schema
	}{
		{answer, schema{"type": "object",
			"properties": schema{
				"promoted": schema{"type": "string"},
				"when":     schema{"type": "string"},
				"id":       schema{"type": "integer", "format": "int64"},
				"note":     schema{"type": "string"},
				"due":      schema{"type": []string{"string", "null"}, "format": "date-time"},
				"seen":     date,
				"tags":     schema{"type": "array", "items": schema{"type": "string"}},
				"counts":   schema{"type": "object", "additionalProperties": schema{"type": "integer", "format": "int64"}},
				"tier":     schema{"anyOf": []any{ref("Tier"), schema{"type": "null"}}},
				"quoted":   schema{"type": "string", "description": "a integer written as a JSON string"},
				"any":      schema{},
				"Untagged": schema{"type": "boolean"},
				"labels":   schema{"type": "object", "additionalProperties": schema{"type": "string"}},
			},
			"required": []string{"promoted", "when", "id", "due", "tags", "counts", "tier", "quoted", "any", "Untagged"},
		}},
		{request, schema{"type": "object", "additionalProperties": false,
			"properties": schema{
				"promoted": schema{"type": "string"},
				"when":     schema{"type": "string"},
				"id":       schema{"type": "integer", "format": "int64"},
				"note":     schema{"type": "string"},
				"due":      schema{"type": []string{"string", "null"}, "format": "date-time"},
				"seen":     schema{"type": []string{"string", "null"}, "format": "date-time"},
				"tags":     schema{"type": "array", "items": schema{"type": "string"}},
				"counts":   schema{"type": "object", "additionalProperties": schema{"type": "integer", "format": "int64"}},
				"tier":     schema{"anyOf": []any{ref("Tier"), schema{"type": "null"}}},
				"quoted":   schema{"type": "string", "description": "a integer written as a JSON string"},
				"any":      schema{},
				"Untagged": schema{"type": "boolean"},
				"labels":   schema{"type": "object", "additionalProperties": schema{"type": "string"}},
			},
		}},
	} {
		g := newSchemaGen(jsonOverrides(), nil)
		got := g.of(reflect.TypeFor[sample](), tc.dir)
		if len(g.errs) > 0 {
			t.Fatal(g.errs)
		}
		name := strings.TrimPrefix(got["$ref"].(string), "#/components/schemas/")
		if diff := cmp.Diff(tc.want, g.defs[name]); diff != "" {
			t.Errorf("direction %d (-want +got):\n%s", tc.dir, diff)
		}
		if g.defs["Tier"] == nil {
			t.Error("store.Tier is not a component")
		}
	}
}

type ownJSONType struct{ v int }

func (ownJSONType) MarshalJSON() ([]byte, error) { return []byte(`"x"`), nil }

// TestOpenAPIRefusesOwnJSONWithoutOverride: a type whose MarshalJSON makes
// its JSON (store.Money, say) stops the build, naming where to describe it.
func TestOpenAPIRefusesOwnJSONWithoutOverride(t *testing.T) {
	rt := &route{method: "GET", path: "/things", op: &op{Summary: "things", Out: struct {
		Price ownJSONType `json:"price"`
	}{}}}
	_, err := buildOpenAPI([]*route{rt})
	if err == nil || !strings.Contains(err.Error(), "web.ownJSONType has its own JSON methods") || !strings.Contains(err.Error(), "jsonOverrides (web/openapi.go)") {
		t.Errorf("err = %v", err)
	}
}

// TestOpenAPIAnswersConform: real answers match their declared schemas,
// successes and errors alike (every web test's server checks this too;
// here the cases are named).
func TestOpenAPIAnswersConform(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		const admin = "openapi-admin-token-0123456789"
		if err := st.EnsureToken(ctx, "admin", admin, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		agent, _, err := st.CreateToken(ctx, store.TokenInput{Name: "agent", Role: store.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, New(Deps{Store: st})))
		defer srv.Close()
		call := func(token, method, path, body string) int {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, strings.NewReader(body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, c := range []struct {
			token, method, path, body string
			want                      int
		}{
			{admin, "POST", "/customers", `{"name":"王芳","phone":"+86 138 0013 8000","birthday":"03-15","tags":["vip"],"identities":[{"channel":"telegram","external_id":"7"}]}`, 201},
			{admin, "GET", "/customers/1", "", 200},
			{admin, "GET", "/customers?channel=telegram&external_id=7", "", 200},
			{admin, "PATCH", "/customers/1", `{"birthday":"1990-13-01"}`, 422},
			{admin, "PATCH", "/customers/1", `{"nope":1}`, 400},
			{admin, "POST", "/customers", `{"name":"李雷","phone":"13800138000"}`, 409},
			{admin, "GET", "/customers/999", "", 404},
			{"", "GET", "/customers/1", "", 401},
			{agent, "POST", "/customers", `{"name":"x"}`, 403},
			{admin, "GET", "/customers/1/messages", "", 200},
			{admin, "POST", "/staff", `{"name":"Li Lei","role":"agent"}`, 201},
			{admin, "POST", "/staff/1/binding-codes", "", 201},
			{admin, "GET", "/staff", "", 200},
			{admin, "POST", "/tasks", `{"customer_id":1,"title":"call back"}`, 201},
			{admin, "GET", "/tasks/1", "", 200},
			{admin, "POST", "/tokens", `{"name":"laptop","role":"agent","ttl_days":1}`, 201},
			{admin, "GET", "/tokens", "", 200},
			{admin, "POST", "/outbox/requeue", `{"channel":"telegram"}`, 200},
			{admin, "GET", "/templates", "", 503},
			{"", "GET", "/openapi.json", "", 200},
		} {
			if got := call(c.token, c.method, c.path, c.body); got != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.want)
			}
		}
	})
}

// TestOpenAPICheckAnswerCatches: the conformance check refuses an answer
// its description does not allow.
func TestOpenAPICheckAnswerCatches(t *testing.T) {
	doc, err := openapitest.Fetch(New(Deps{}))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/v1/customers/1", nil)
	req.Pattern = "GET /api/v1/customers/{id}"
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{200, `{"id":"1"}`, `$.id: "1" is not integer`},
		{200, `{"id":1}`, `$: lacks required "name"`},
		{200, `{"id":1,"tier":"D"}`, `$.tier: "D" is not one of [A B C]`},
		{404, `{"error":{"message":"x"}}`, `$.error: lacks required "code"`},
		{409, `{"error":{"code":"conflict","message":"x"}}`, "a status its description does not list"},
	} {
		err := doc.CheckAnswer(req, c.status, "application/json", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d %s: %v, want %q", c.status, c.body, err, c.want)
		}
	}
	if err := doc.CheckAnswer(req, 404, "application/json", []byte(`{"error":{"code":"not_found","message":"x"}}`)); err != nil {
		t.Errorf("a good answer: %v", err)
	}
}
