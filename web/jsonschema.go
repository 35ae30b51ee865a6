package web

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// schema is one JSON Schema (2020-12, the dialect OpenAPI 3.1 uses) as it
// appears in the document.
type schema map[string]any

// ref points at a schema in the document's components.
func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }

// enum is a string schema with fixed values.
func enum(values ...string) schema { return schema{"type": "string", "enum": values} }

// direction tells a request body from an answer: the same Go type reads
// differently. A request key may be left out (the domain's 422 names a
// missing one), null clears a pointer, and an unknown key is refused (the
// decoder disallows it); an answer has every key not tagged omitempty.
type direction int

const (
	answer direction = iota
	request
)

// override describes a type the reflection would get wrong or could say
// more about: either its whole schema (a type with its own MarshalJSON, or
// a named string with fixed values), or its reflected schema with some
// properties replaced (an enum on a plain string field, a field its own
// UnmarshalJSON reads differently). A type whose JSON methods change its
// shape must be listed, even with nothing replaced: the builder refuses to
// guess.
type override struct {
	schema schema
	fields map[string]schema
	// name is the component's name when the Go name says too little.
	name string
}

// schemaGen turns Go types into JSON Schemas by their json tags, putting
// named types in components so that each is described once.
type schemaGen struct {
	overrides map[reflect.Type]override
	defs      map[string]schema // components.schemas
	names     map[typeKey]string
	errs      []error
}

type typeKey struct {
	t   reflect.Type
	dir direction
}

func newSchemaGen(overrides map[reflect.Type]override, enums map[string]schema) *schemaGen {
	g := &schemaGen{overrides: overrides, defs: map[string]schema{}, names: map[typeKey]string{}}
	for name, s := range enums {
		g.defs[name] = s
	}
	return g
}

func (g *schemaGen) fail(format string, args ...any) schema {
	g.errs = append(g.errs, fmt.Errorf(format, args...))
	return schema{}
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// of is the schema of a value of type t, pointers followed (whether null
// is allowed is the field's business: see field).
func (g *schemaGen) of(t reflect.Type, dir direction) schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return schema{"type": "string", "format": "date-time"}
	}
	o, listed := g.overrides[t]
	if !listed && ownJSON(t, dir) {
		return g.fail("%s has its own JSON methods, so its fields need not be its JSON: describe it in jsonOverrides (web/openapi.go)", t)
	}
	if o.schema != nil {
		// A whole schema reads the same both ways: one component.
		return g.component(t, answer, o.name, func() schema { return o.schema })
	}
	switch t.Kind() {
	case reflect.Struct:
		return g.component(t, dir, o.name, func() schema { return g.object(t, dir, o.fields) })
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return schema{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return schema{"type": "integer", "format": "int32"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return schema{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return schema{"type": "number"}
	case reflect.String:
		return schema{"type": "string"}
	case reflect.Interface:
		return schema{} // any JSON value
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return schema{"type": "string", "contentEncoding": "base64"}
		}
		s := schema{"type": "array", "items": g.of(t.Elem(), dir)}
		if t.Kind() == reflect.Array {
			s["minItems"], s["maxItems"] = t.Len(), t.Len()
		}
		return s
	case reflect.Map:
		switch t.Key().Kind() {
		case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return schema{"type": "object", "additionalProperties": g.of(t.Elem(), dir)}
		}
	}
	return g.fail("%s (%s) has no JSON form", t, t.Kind())
}

// ownJSON reports whether t's JSON is made by its own methods rather than
// by its fields.
func ownJSON(t reflect.Type, dir direction) bool {
	p := reflect.PointerTo(t)
	if dir == request {
		return p.Implements(unmarshalerType) || p.Implements(textUnmarshaler)
	}
	return t.Implements(marshalerType) || p.Implements(marshalerType) ||
		t.Implements(textMarshaler) || p.Implements(textMarshaler)
}

// component returns a $ref to t's schema in components, building it once,
// under name if given. Unnamed types are inlined.
func (g *schemaGen) component(t reflect.Type, dir direction, name string, build func() schema) schema {
	if t.Name() == "" {
		return build()
	}
	key := typeKey{t, dir}
	if name, ok := g.names[key]; ok {
		return ref(name)
	}
	if strings.Contains(t.Name(), "[") {
		// An instance of a generic type such as list[T] is named after
		// T's component once built (not recursive: it is T that refers).
		s := build()
		if n := elemName(s); n != "" && name == "" {
			name = n + capitalize(t.Name()[:strings.Index(t.Name(), "[")])
		}
		if _, taken := g.defs[name]; name == "" || taken {
			name = g.componentName(t, dir)
		}
		g.names[key], g.defs[name] = name, s
		return ref(name)
	}
	if _, taken := g.defs[name]; name == "" || taken {
		name = g.componentName(t, dir)
	}
	g.names[key] = name // before building: a type may refer to itself
	g.defs[name] = schema{}
	g.defs[name] = build()
	return ref(name)
}

// elemName is the component the items of a list envelope refer to.
func elemName(s schema) string {
	props, _ := s["properties"].(schema)
	items, _ := props["items"].(schema)
	elem, _ := items["items"].(schema)
	r, _ := elem["$ref"].(string)
	return strings.TrimPrefix(r, "#/components/schemas/")
}

// componentName is t's Go name, capitalised (list[*store.Customer] is
// CustomerList); on a clash with another type or direction, Request or the
// package name tells them apart.
func (g *schemaGen) componentName(t reflect.Type, dir direction) string {
	name := t.Name()
	if base, arg, ok := strings.Cut(name, "["); ok {
		arg = strings.TrimRight(arg, "]")
		name = capitalize(arg[strings.LastIndexAny(arg, ".*")+1:]) + capitalize(base)
	}
	name = capitalize(name)
	taken := func(n string) bool { _, ok := g.defs[n]; return ok }
	if !taken(name) {
		return name
	}
	if dir == request && !taken(name+"Request") {
		return name + "Request"
	}
	pkg := t.PkgPath()
	return capitalize(pkg[strings.LastIndex(pkg, "/")+1:]) + name
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// object is a struct's schema: its JSON fields as encoding/json sees them.
func (g *schemaGen) object(t reflect.Type, dir direction, replace map[string]schema) schema {
	props := schema{}
	var required []string
	fields := jsonFields(t)
	for _, f := range fields {
		s, ok := replace[f.name]
		if !ok {
			s = g.field(f, dir)
		}
		props[f.name] = s
		if dir == answer && !f.omit {
			required = append(required, f.name)
		}
	}
	for name := range replace {
		if !slices.ContainsFunc(fields, func(f jsonField) bool { return f.name == name }) {
			g.fail("jsonOverrides: %s has no JSON field %q", t, name)
		}
	}
	s := schema{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	if dir == request {
		s["additionalProperties"] = false
	}
	return s
}

// field is one struct field's schema. A pointer is null when nil unless
// omitempty leaves it out; a request may send null for it.
func (g *schemaGen) field(f jsonField, dir direction) schema {
	t := f.typ
	s := g.of(t, dir)
	if f.quoted {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			s = schema{"type": "string", "description": fmt.Sprintf("a %s written as a JSON string", s["type"])}
		}
	}
	if f.typ.Kind() == reflect.Pointer && (dir == request || !f.omit) {
		s = nullable(s)
	}
	return s
}

// nullable is s or null.
func nullable(s schema) schema {
	if t, ok := s["type"].(string); ok {
		c := schema{}
		for k, v := range s {
			c[k] = v
		}
		c["type"] = []string{t, "null"}
		if e, ok := s["enum"].([]string); ok {
			vs := []any{}
			for _, v := range e {
				vs = append(vs, v)
			}
			c["enum"] = append(vs, nil)
		}
		return c
	}
	if len(s) == 0 {
		return s // any value, null included
	}
	return schema{"anyOf": []any{s, schema{"type": "null"}}}
}

// jsonField is a field as encoding/json encodes it.
type jsonField struct {
	name   string
	typ    reflect.Type
	omit   bool // omitempty or omitzero: left out when empty
	quoted bool // the ",string" option
	tagged bool
	index  []int
}

// jsonFields lists t's JSON fields by encoding/json's rules: exported
// fields, json:"-" left out, untagged embedded structs promoted, and of
// several fields with one name the shallowest wins (a tagged one among
// equals; none when that is still ambiguous).
func jsonFields(t reflect.Type) []jsonField {
	var all []jsonField
	var walk func(t reflect.Type, index []int, seen []reflect.Type)
	walk = func(t reflect.Type, index []int, seen []reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(index), i)
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				if !slices.Contains(seen, ft) {
					walk(ft, idx, append(slices.Clone(seen), ft))
				}
				continue
			}
			if !sf.IsExported() {
				continue
			}
			optList := strings.Split(opts, ",")
			f := jsonField{name: name, typ: sf.Type, tagged: name != "", index: idx,
				omit:   slices.Contains(optList, "omitempty") || slices.Contains(optList, "omitzero"),
				quoted: slices.Contains(optList, "string")}
			if f.name == "" {
				f.name = sf.Name
			}
			all = append(all, f)
		}
	}
	walk(t, nil, []reflect.Type{t})

	var out []jsonField
	for _, f := range all {
		var rivals []jsonField
		for _, o := range all {
			if o.name == f.name {
				rivals = append(rivals, o)
			}
		}
		if dominant(f, rivals) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return out
}

// dominant reports whether f is the one of its name that encoding/json
// keeps.
func dominant(f jsonField, rivals []jsonField) bool {
	depth := len(f.index)
	var peers []jsonField
	for _, o := range rivals {
		if len(o.index) < depth {
			return false
		}
		if len(o.index) == depth {
			peers = append(peers, o)
		}
	}
	if len(peers) == 1 {
		return true
	}
	tagged := 0
	for _, o := range peers {
		if o.tagged {
			tagged++
		}
	}
	return f.tagged && tagged == 1
}
