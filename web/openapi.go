package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// The OpenAPI 3.1 description of /api/v1, served at GET
// /api/v1/openapi.json. Each route describes itself where it is
// registered: s.api returns the route, and .doc(op{...}) on the same
// statement names what it takes and answers by the Go types the handler
// decodes and encodes. Their JSON Schemas come from the types' json tags
// (jsonschema.go), so a field added to a type shows up by itself.
// web/openapi_test.go fails while a route has no description.

// op describes one /api/v1 route:
//
//	s.api("GET /customers/{id}", s.getCustomer).doc(op{
//		Summary: "One customer",
//		Out:     store.Customer{},
//	})
//
// Path parameters come from the pattern and roles from s.api. The error
// statuses every route of a kind gives are added: 401 (with auth), 403
// (with roles), 404 (with a path parameter), 400, 413 and 422 (with a
// body), 422 (with query parameters), 500; Errors names the others.
type op struct {
	Summary     string
	Description string
	// Query lists the query parameters; Paged adds limit= and cursor=.
	Query []param
	Paged bool
	// In is a value of the type the handler decodes from the body, Out of
	// the type it answers with (nil: no body); a schema value is taken as
	// it is, for what has no Go type here.
	In  any
	Out any
	// InMedia is the request body's media type: application/json unless
	// set (text/csv for a file, with In a schema).
	InMedia string
	// Media is the answer's media type: application/json unless set
	// (text/event-stream for a stream, say, with Out a schema).
	Media string
	// CSV: the answer is also text/csv (?format=csv).
	CSV bool
	// Status is the success status: 200 unless set.
	Status int
	Errors []int
	// Public routes need no token.
	Public bool
}

// param is a query parameter.
type param struct {
	name, doc string
	schema    schema
}

func query(name, doc string, s schema) param { return param{name, doc, s} }

// route is one /api/v1 route as registered, with its description.
type route struct {
	method, path string // path under /api/v1
	roles        []store.Role
	op           *op
}

// doc describes the route in the OpenAPI document.
func (rt *route) doc(o op) { rt.op = &o }

// describe adds a description for an /api/v1 route mounted on the mux
// directly rather than with s.api.
func (s *Server) describe(pattern string, o op) {
	method, path, _ := strings.Cut(pattern, " ")
	s.apiRoutes = append(s.apiRoutes, &route{method: method, path: path, op: &o})
}

// routeMux is the ServeMux keeping the patterns registered on it, so that
// a test can tell whether every /api/v1 route is described, however it was
// mounted.
type routeMux struct {
	*http.ServeMux
	mu   sync.Mutex
	seen []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.note(pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.note(pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

func (m *routeMux) note(pattern string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = append(m.seen, pattern)
}

// patterns are the patterns registered so far.
func (m *routeMux) patterns() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.seen)
}

// openAPIDoc is the built document, made on first request.
type openAPIDoc struct {
	once sync.Once
	body []byte
	err  error
}

func (s *Server) openAPIRoutes() {
	s.mux.HandleFunc("GET /api/v1/openapi.json", s.serveOpenAPI)
	s.describe("GET /openapi.json", op{
		Summary: "This description",
		Description: "The OpenAPI 3.1 description of every /api/v1 route, built from the handlers' own types. " +
			"Needs no token.",
		Out:    schema{"type": "object", "required": []string{"openapi", "info", "paths"}},
		Public: true,
	})
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	body, err := s.openAPI()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(body)
}

// openAPI is the document, built once.
func (s *Server) openAPI() ([]byte, error) {
	s.openapi.once.Do(func() { s.openapi.body, s.openapi.err = buildOpenAPI(s.apiRoutes) })
	return s.openapi.body, s.openapi.err
}

// buildOpenAPI makes the document of the described routes (a route without
// a description is left out; the test names it).
func buildOpenAPI(routes []*route) ([]byte, error) {
	g := newSchemaGen(jsonOverrides(), namedEnums())
	paths := map[string]schema{}
	for _, rt := range routes {
		if rt.op == nil {
			continue
		}
		path := strings.ReplaceAll(strings.TrimSuffix(rt.path, "{$}"), "...}", "}")
		if paths[path] == nil {
			paths[path] = schema{}
		}
		paths[path][strings.ToLower(rt.method)] = g.operation(rt, path)
	}
	errSchema := g.of(reflect.TypeFor[errorBody](), answer)
	if len(g.errs) > 0 {
		return nil, fmt.Errorf("openapi: %w", errors.Join(g.errs...))
	}
	responses := schema{}
	for _, e := range errorResponses() {
		resp := schema{"description": e.doc, "content": schema{"application/json": schema{"schema": errSchema}}}
		if e.header != "" {
			resp["headers"] = schema{e.header: schema{"description": e.headerDoc, "schema": schema{"type": "string"}}}
		}
		responses[e.name] = resp
	}
	doc := schema{
		"openapi": "3.1.0",
		"info": schema{
			"title":   "Rapport admin API",
			"version": "1",
			"description": "The admin API of Rapport, a chat-driven customer-care CRM. JSON in and out; " +
				"every route but this description needs `Authorization: Bearer TOKEN`. Errors are " +
				"`{\"error\": {\"code\", \"message\", \"field\"}}`; a path that exists for other methods answers 405 " +
				"with `Allow`, an unknown path 404. Lists are `{\"items\": [...], \"next_cursor\": \"...\"}`, " +
				"`next_cursor` empty on the last page. Times are RFC 3339, dates YYYY-MM-DD in the business time " +
				"zone. The prose reference is docs/api.md.",
		},
		"servers":  []any{schema{"url": "/api/v1"}},
		"security": apiSecurity(),
		"tags":     tagsOf(paths),
		"paths":    paths,
		"components": schema{
			"schemas":         g.defs,
			"responses":       responses,
			"parameters":      pagingParams(),
			"securitySchemes": securitySchemes(),
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operation is one route's Operation Object.
func (g *schemaGen) operation(rt *route, path string) schema {
	o := rt.op
	if o.Summary == "" {
		g.fail("%s %s: its description has no Summary", rt.method, rt.path)
	}
	out := schema{
		"operationId": operationID(rt.method, path),
		"summary":     o.Summary,
		"tags":        []string{tagOf(path)},
	}
	desc := o.Description
	if !o.Public {
		roles := "every role"
		if len(rt.roles) > 0 {
			names := make([]string, len(rt.roles))
			for i, r := range rt.roles {
				names[i] = string(r)
			}
			roles = strings.Join(names, ", ")
			out["x-roles"] = names
		}
		desc = strings.TrimSpace(desc + "\n\nRoles: " + roles + ".")
	} else {
		out["security"] = []any{}
	}
	if desc != "" {
		out["description"] = desc
	}

	var params []any
	for _, name := range pathParams(path) {
		s := schema{"type": "string"}
		if name == "id" || strings.HasSuffix(name, "_id") {
			s = schema{"type": "integer", "format": "int64", "minimum": 1}
		}
		params = append(params, schema{"name": name, "in": "path", "required": true, "schema": s})
	}
	for _, p := range o.Query {
		q := schema{"name": p.name, "in": "query", "schema": p.schema}
		if p.doc != "" {
			q["description"] = p.doc
		}
		params = append(params, q)
	}
	if o.Paged {
		params = append(params, schema{"$ref": "#/components/parameters/limit"}, schema{"$ref": "#/components/parameters/cursor"})
	}
	if len(params) > 0 {
		out["parameters"] = params
	}
	if o.In != nil {
		media := o.InMedia
		if media == "" {
			media = "application/json"
		}
		out["requestBody"] = schema{"required": true,
			"content": schema{media: schema{"schema": g.valueSchema(o.In, request)}}}
	}

	status := o.Status
	if status == 0 {
		status = http.StatusOK
	}
	ok := schema{"description": http.StatusText(status)}
	switch {
	case o.Out != nil:
		media := o.Media
		if media == "" {
			media = "application/json"
		}
		ok["content"] = schema{media: schema{"schema": g.valueSchema(o.Out, answer)}}
		if o.CSV {
			ok["content"].(schema)["text/csv"] = schema{"schema": schema{"type": "string"}}
		}
	case status != http.StatusNoContent:
		g.fail("%s %s: its description has no Out for a %d answer", rt.method, rt.path, status)
	}
	responses := schema{fmt.Sprint(status): ok}
	known := errorResponses()
	for _, code := range rt.errorStatuses() {
		e, ok := known[code]
		if !ok {
			g.fail("%s %s: no error response %d in errorResponses (web/openapi.go)", rt.method, rt.path, code)
			continue
		}
		responses[fmt.Sprint(code)] = schema{"$ref": "#/components/responses/" + e.name}
	}
	out["responses"] = responses
	return out
}

// valueSchema is the schema of v's type, or v itself when it is a schema.
func (g *schemaGen) valueSchema(v any, dir direction) schema {
	if s, ok := v.(schema); ok {
		return s
	}
	return g.of(reflect.TypeOf(v), dir)
}

// errorStatuses are the error statuses the route can answer.
func (rt *route) errorStatuses() []int {
	o := rt.op
	codes := append([]int{http.StatusInternalServerError}, o.Errors...)
	if !o.Public {
		codes = append(codes, http.StatusUnauthorized)
	}
	if len(rt.roles) > 0 {
		codes = append(codes, http.StatusForbidden)
	}
	if strings.Contains(rt.path, "{") {
		codes = append(codes, http.StatusNotFound)
	}
	if o.In != nil {
		codes = append(codes, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	}
	if len(o.Query) > 0 || o.Paged {
		codes = append(codes, http.StatusUnprocessableEntity)
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// pathParams are the wildcards of a path, in order.
func pathParams(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.TrimSuffix(seg[1:len(seg)-1], "..."))
		}
	}
	return names
}

// operationID names an operation by its method and path:
// GET /customers/{id}/messages is getCustomersByIdMessages.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			b.WriteString("By")
			seg = strings.Trim(seg, "{}.")
		}
		for _, word := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(capitalize(word))
		}
	}
	return b.String()
}

// tagOf groups operations by their first path segment.
func tagOf(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return first
}

func tagsOf(paths map[string]schema) []any {
	var names []string
	for p := range paths {
		if t := tagOf(p); !slices.Contains(names, t) {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	tags := make([]any, len(names))
	for i, n := range names {
		tags[i] = schema{"name": n}
	}
	return tags
}

// errorResponse is an error answer in components.responses.
type errorResponse struct {
	name, doc         string
	header, headerDoc string
}

// errorResponses are the error answers by status; each has the one error
// shape. 405 is listed for completeness: no operation gives it (it is the
// answer for a method a path does not have).
func errorResponses() map[int]errorResponse {
	return map[int]errorResponse{
		400: {name: "BadRequest", doc: "The body is not JSON, is empty, has an unknown field, a value of the wrong JSON type, or trailing data (code `invalid`)."},
		401: {name: "Unauthorized", doc: "The token is missing, unknown, revoked or expired, or its staff member is deactivated (code `unauthorized`)."},
		403: {name: "Forbidden", doc: "The token's role may not do this (code `forbidden`)."},
		404: {name: "NotFound", doc: "No such id, or a customer the caller may not see (code `not_found`)."},
		405: {name: "MethodNotAllowed", doc: "The path exists for other methods (code `method_not_allowed`).",
			header: "Allow", headerDoc: "The methods the path has."},
		409: {name: "Conflict", doc: "A duplicate or a state that forbids the change (code `conflict`)."},
		413: {name: "PayloadTooLarge", doc: "The body is over 1 MiB (code `invalid`)."},
		422: {name: "UnprocessableEntity", doc: "A well-formed value that is wrong; `field` names it (code `invalid`)."},
		429: {name: "TooManyRequests", doc: "Too many attempts for now (code `too_many_requests`).",
			header: "Retry-After", headerDoc: "Seconds to wait."},
		500: {name: "InternalError", doc: "A fault on the server's side, logged there (code `internal`)."},
		503: {name: "ServiceUnavailable", doc: "A service is not wired or busy for now (code `unavailable`).",
			header: "Retry-After", headerDoc: "Seconds to wait."},
	}
}

func pagingParams() schema {
	return schema{
		"limit": schema{"name": "limit", "in": "query", "description": "Page size (default 50).",
			"schema": schema{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
		"cursor": schema{"name": "cursor", "in": "query", "description": "The previous page's `next_cursor`; opaque.",
			"schema": schema{"type": "string"}},
	}
}

// securitySchemes are the ways to authenticate, and apiSecurity the
// requirement every route but the public ones has (any one entry will do).
//
// Hook for console sessions: once web's authentication takes the console's
// session cookie for /api/v1 too, add here
//
//	"session": schema{"type": "apiKey", "in": "cookie", "name": "rapport_session"},
//	"csrf":    schema{"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
//		"description": "The session's CSRF token, on anything but GET and HEAD."},
//
// and schema{"session": []string{}, "csrf": []string{}} to apiSecurity
// beside bearer; a missing CSRF header is a 403, so errorStatuses then adds
// 403 to every operation but GET.
func securitySchemes() schema {
	return schema{
		"bearer": schema{"type": "http", "scheme": "bearer",
			"description": "An API token: admin.bootstrap_token or one made with POST /tokens."},
		"session": schema{"type": "apiKey", "in": "cookie", "name": sessionCookie,
			"description": "A console session (sign-in at /console/). Writes also need the header X-CSRF-Token " +
				"with the csrf value of GET /console/api/me; without it they answer 403."},
	}
}

func apiSecurity() []any {
	return []any{schema{"bearer": []string{}}, schema{"session": []string{}}}
}

// namedEnums are the value sets the API shares, as components.
func namedEnums() map[string]schema {
	return map[string]schema{
		"Channel":       enum(store.ChannelTelegram, store.ChannelWeChat, store.ChannelWebChat),
		"Locale":        enum(store.LocaleZH, store.LocaleEN),
		"Workflow":      enum("birthday", "holiday", "maintenance", "survey", "revisit", "winback", "lifecycle"),
		"Direction":     enum(store.DirectionIn, store.DirectionOut),
		"MessageStatus": enum(store.StatusReceived, store.StatusProcessed, store.StatusQueued, store.StatusSent, store.StatusFailed, store.StatusSkipped),
		"TaskStatus":    enum(store.TaskOpen, store.TaskDone, store.TaskCancelled),
		"TaskPriority":  enum(store.PriorityLow, store.PriorityNormal, store.PriorityHigh, store.PriorityUrgent),
		"RunStatus":     enum(store.RunRunning, store.RunDone, store.RunFailed),
		"ClaimStatus":   enum(store.ClaimPending, store.ClaimVerified, store.ClaimRejected, store.ClaimExpired, store.ClaimFailed, store.ClaimSuperseded),
		"ClaimMethod":   enum(store.ClaimByCode, store.ClaimByStaff, store.ClaimDuplicate),
		"OrderKind":     enum(store.OrderPurchase, store.OrderService),
		"RFMSegment":    rfmSegments(),
		"ImportKind":    enum(store.ImportCustomers, store.ImportOrders, store.ImportPoints),
		"ImportStatus":  enum(store.ImportQueued, store.ImportChecking, store.ImportWriting, store.ImportDone, store.ImportFailed),
	}
}

// rfmSegments is the RFM segment keys' value set.
func rfmSegments() schema {
	var keys []string
	for _, s := range store.RFMSegments {
		keys = append(keys, s.Key)
	}
	return enum(keys...)
}

// jsonOverrides are the types reflection alone would get wrong or could
// say more of (see override). A type with its own MarshalJSON (answers) or
// UnmarshalJSON (requests) must be here.
func jsonOverrides() map[reflect.Type]override {
	timeOrDate := schema{"type": []string{"string", "null"}, "description": "An RFC 3339 time or a YYYY-MM-DD date."}
	channel := map[string]schema{"channel": ref("Channel")}
	return map[reflect.Type]override{
		reflect.TypeFor[store.Tier]():  {schema: enum(string(store.TierA), string(store.TierB), string(store.TierC))},
		reflect.TypeFor[store.Stage](): {schema: enum(string(store.StagePotential), string(store.StageNew), string(store.StageActive), string(store.StageAtRisk), string(store.StageChurned))},
		reflect.TypeFor[store.Role]():  {schema: enum(string(store.RoleAdmin), string(store.RoleManager), string(store.RoleAgent))},
		reflect.TypeFor[store.Birthday](): {schema: schema{"type": []string{"string", "null"}, "pattern": `^([0-9]{4}-)?[0-9]{2}-[0-9]{2}$`,
			"description": "YYYY-MM-DD, or MM-DD when the year is unknown; null when the birthday is unknown."}},
		// Their UnmarshalJSON reads a time also as a date, or strictly.
		reflect.TypeFor[store.AssetInput]():     {fields: map[string]schema{"last_service_at": timeOrDate}},
		reflect.TypeFor[store.OrderInput]():     {fields: map[string]schema{"occurred_at": timeOrDate}},
		reflect.TypeFor[store.TokenInput]():     {},
		reflect.TypeFor[store.Identity]():       {fields: channel},
		reflect.TypeFor[store.IdentityRef]():    {fields: channel},
		reflect.TypeFor[store.StaffIdentity]():  {fields: channel},
		reflect.TypeFor[store.SurveyResponse](): {fields: channel},
		reflect.TypeFor[store.Message](): {fields: map[string]schema{"channel": ref("Channel"),
			"direction": ref("Direction"), "status": ref("MessageStatus")}},
		reflect.TypeFor[store.Task]():       {fields: map[string]schema{"status": ref("TaskStatus"), "priority": ref("TaskPriority")}},
		reflect.TypeFor[store.TaskUpdate](): {fields: map[string]schema{"status": nullable(ref("TaskStatus"))}},
		reflect.TypeFor[store.CareRun]():    {fields: map[string]schema{"status": ref("RunStatus"), "workflow": ref("Workflow")}},
		reflect.TypeFor[store.Order]():      {fields: map[string]schema{"kind": ref("OrderKind")}},
		reflect.TypeFor[store.PhoneClaim](): {fields: map[string]schema{"status": ref("ClaimStatus"), "method": ref("ClaimMethod"),
			"claimant_channel": ref("Channel")}},
		reflect.TypeFor[careRunRequest]():     {fields: map[string]schema{"workflow": ref("Workflow")}},
		reflect.TypeFor[ScheduledRun]():       {fields: map[string]schema{"workflow": ref("Workflow"), "date": {"type": "string", "format": "date"}}},
		reflect.TypeFor[store.ImportJob]():    {fields: map[string]schema{"kind": ref("ImportKind"), "status": ref("ImportStatus")}},
		reflect.TypeFor[store.AuditEvent]():   {fields: map[string]schema{"via": enum(store.AuditViaConsole, store.AuditViaAPI, store.AuditViaChat)}},
		reflect.TypeFor[store.Customer]():     {fields: map[string]schema{"locale": ref("Locale")}},
		reflect.TypeFor[templates.Template](): {fields: map[string]schema{"locale": ref("Locale")}},
		reflect.TypeFor[templates.Version]():  {name: "TemplateVersion", fields: map[string]schema{"locale": ref("Locale")}},
		reflect.TypeFor[templates.Preview]():  {name: "TemplatePreview", fields: map[string]schema{"locale": ref("Locale")}},
		// Exact money: a number with two decimals in answers; a number or
		// a string holding one in requests (its own UnmarshalJSON).
		reflect.TypeFor[store.Money](): {schema: schema{"type": []string{"number", "string"},
			"description": "Yuan, exact to the fen: at most two decimals (answers: always two), -999999999999.99 to 999999999999.99."}},
		// A pin: a value pins, null unpins (its own UnmarshalJSON).
		reflect.TypeFor[store.Pin[store.Tier]]():  {schema: nullable(ref("Tier"))},
		reflect.TypeFor[store.Pin[store.Stage]](): {schema: nullable(ref("Stage"))},
		reflect.TypeFor[store.RFM]():              {fields: map[string]schema{"segment": ref("RFMSegment")}},
		reflect.TypeFor[store.CustomerChange]():   {fields: map[string]schema{"field": enum(store.FieldStage, store.FieldTier)}},
		// The one raw JSON value of the API: a segment filter.
		reflect.TypeFor[json.RawMessage](): {schema: schema{"type": "object", "description": "A segment filter; keys: " +
			strings.Join(store.SegmentFilterKeys, ", ") + "."}},
	}
}
