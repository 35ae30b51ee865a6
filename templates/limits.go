package templates

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/rapport-crm/rapport/render"
)

// The render budget. A template is code a manager writes and every customer
// runs, so what it may cost is bounded in two ways:
//
//   - Statically, when a body is saved, previewed or loaded (limit): range
//     only over a list or map in the data (.Extra), never over a number or
//     a computed value, and never inside another range; no template calls
//     itself; printf widths are small; the body, with the templates it
//     calls expanded, has at most maxNodes nodes. So one render executes at
//     most (entries in .Extra + 1) × maxNodes nodes.
//   - At run time (run): the output is capped at MaxOutput bytes, each
//     function's result at MaxOutput and all of them together at
//     maxHandled, and every write and function call checks the deadline
//     (checkTime for validation and previews, renderTime at send time) and
//     the caller's context. text/template stops at the first error, so a
//     render over budget ends there, in its own goroutine: nothing keeps
//     running after the caller has gone. Between two checks only builtins
//     (eq, index, len, ...) run, on values no bigger than MaxOutput.
const (
	// MaxOutput is the most bytes a render may produce (Telegram takes
	// 4,096 characters, at most 16 KiB; validation then refuses anything
	// over that limit with a clearer message).
	MaxOutput = 64 << 10
	// maxHandled bounds the bytes the functions of one render produce
	// together (printf in a range, say).
	maxHandled = 1 << 20
	// maxNodes bounds a body with its template calls expanded; the largest
	// shipped text has about 60.
	maxNodes = 4096
	// maxRangeDepth: a range may not hold another range.
	maxRangeDepth = 1
	// maxWidth bounds a printf width or precision (%05d, %.2f).
	maxWidth = 100
	// checkTime bounds a validation or preview render (a legitimate one
	// takes microseconds); renderTime a render at send time, which real
	// data may make longer and a busy machine may delay.
	checkTime  = 100 * time.Millisecond
	renderTime = time.Second
	// MaxPreviews is how many validations and previews run at once; more
	// are refused (503) rather than queued.
	MaxPreviews = 4
)

// errOverBudget is a render that exceeded the budget.
type errOverBudget string

func (e errOverBudget) Error() string { return string(e) }

// run is the budget of one execution: the capped output buffer, the bytes
// functions have produced, the deadline and the caller's cancellation.
// Each pooled instance of a compiled template owns one; a nil *run (the
// functions bound at parse time) checks sizes only.
type run struct {
	out      []byte
	handled  int
	deadline time.Time
	done     <-chan struct{}
}

func (r *run) start(ctx context.Context, budget time.Duration) {
	r.out, r.handled = r.out[:0], 0
	r.deadline, r.done = time.Now().Add(budget), ctx.Done()
}

// Write is the capped writer text/template renders into; an error stops
// the execution.
func (r *run) Write(p []byte) (int, error) {
	if err := r.tick(); err != nil {
		return 0, err
	}
	if len(r.out)+len(p) > MaxOutput {
		return 0, errOverBudget(fmt.Sprintf("renders to more than %d KiB", MaxOutput>>10))
	}
	r.out = append(r.out, p...)
	return len(p), nil
}

// tick checks the deadline and the caller.
func (r *run) tick() error {
	if r == nil {
		return nil
	}
	select {
	case <-r.done:
		return errOverBudget("render cancelled")
	default:
	}
	if time.Now().After(r.deadline) {
		return errOverBudget("takes too long to render")
	}
	return nil
}

// spend counts n bytes a function is about to produce.
func (r *run) spend(n int) error {
	if n > MaxOutput {
		return errOverBudget(fmt.Sprintf("makes a text of more than %d KiB", MaxOutput>>10))
	}
	if r == nil {
		return nil
	}
	if r.handled += n; r.handled > maxHandled {
		return errOverBudget(fmt.Sprintf("makes more than %d MiB of text", maxHandled>>20))
	}
	return r.tick()
}

// text runs a text-producing function within the budget: its inputs are
// counted before it runs (so it never builds a huge string) and its
// result after.
func (r *run) text(in int, f func() string) (string, error) {
	if err := r.spend(in); err != nil {
		return "", err
	}
	s := f()
	if err := r.spend(len(s)); err != nil {
		return "", err
	}
	return s, nil
}

// builtins replaces text/template's text-producing builtins with bounded
// ones (a template's own functions take precedence over builtins).
func (r *run) builtins() template.FuncMap {
	bounded := func(f func(...any) string) func(...any) (string, error) {
		return func(args ...any) (string, error) {
			return r.text(sizeOf(args), func() string { return f(args...) })
		}
	}
	return template.FuncMap{
		"printf": func(format string, args ...any) (string, error) {
			if err := checkFormat(format); err != nil {
				return "", err
			}
			return r.text(len(format)+sizeOf(args)+len(args)*maxWidth, func() string { return fmt.Sprintf(format, args...) })
		},
		"print":    bounded(fmt.Sprint),
		"println":  bounded(fmt.Sprintln),
		"html":     bounded(template.HTMLEscaper),
		"js":       bounded(template.JSEscaper),
		"urlquery": bounded(template.URLQueryEscaper),
	}
}

// sizeOf is the bytes of the text arguments: what a function that
// concatenates them would produce at least.
func sizeOf(args []any) int {
	n := 0
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += len(a)
		case []byte:
			n += len(a)
		}
	}
	return n
}

// checkFormat refuses printf verbs with a width or precision over
// maxWidth, or taken from an argument (%*d): fmt builds the padded text
// before anything can stop it.
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
	verb:
		for i++; i < len(format); i++ {
			switch c := format[i]; {
			case c == '*':
				return fmt.Errorf("printf width or precision from an argument (%%*) is not allowed")
			case c >= '0' && c <= '9':
				j := i
				for j < len(format) && format[j] >= '0' && format[j] <= '9' {
					j++
				}
				if n, err := strconv.Atoi(format[i:j]); err != nil || n > maxWidth {
					return fmt.Errorf("printf width or precision %s is over %d", format[i:j], maxWidth)
				}
				i = j - 1
			case strings.IndexByte("+-# .[]", c) >= 0:
				// flags, precision dot, argument index
			default:
				break verb // the verb, or %%
			}
		}
	}
	return nil
}

// limit refuses, before anything runs, what could make a render unbounded
// (see the budget above). t is the template set of one body; errors name
// the line.
func limit(t *template.Template) error {
	l := &limiter{set: map[string]*parse.Tree{}}
	for _, d := range t.Templates() {
		if d.Tree != nil {
			l.set[d.Name()] = d.Tree
		}
	}
	if t.Tree == nil {
		return nil
	}
	data := reflect.TypeFor[*render.Data]()
	return l.walk(scope{tree: t.Tree, dot: data, root: data}, t.Tree.Root)
}

type limiter struct {
	set   map[string]*parse.Tree
	calls []string // the templates being expanded, outermost first
	nodes int
}

// scope is where a node runs: its tree (for line numbers), the types of
// dot and $ (nil when not known statically) and the enclosing ranges.
type scope struct {
	tree      *parse.Tree
	dot, root reflect.Type
	ranges    int
}

func (l *limiter) walk(sc scope, n parse.Node) error {
	if l.nodes++; l.nodes > maxNodes {
		return l.fail(sc, n, "the template is too large: over %d parts with the templates it calls", maxNodes)
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := l.walk(sc, c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return l.walk(sc, n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := l.walk(sc, c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		if len(n.Args) > 1 {
			if f, ok := n.Args[0].(*parse.IdentifierNode); ok && f.Ident == "printf" {
				if s, ok := n.Args[1].(*parse.StringNode); ok {
					if err := checkFormat(s.Text); err != nil {
						return l.fail(sc, n, "%v", err)
					}
				}
			}
		}
		for _, a := range n.Args {
			if err := l.walk(sc, a); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return l.walk(sc, n.Node)
	case *parse.IfNode:
		return l.branch(sc, &n.BranchNode, sc.dot, sc.ranges)
	case *parse.WithNode:
		return l.branch(sc, &n.BranchNode, typeOf(sc, n.Pipe), sc.ranges)
	case *parse.RangeNode:
		if sc.ranges >= maxRangeDepth {
			return l.fail(sc, n, "a range inside another range is not allowed")
		}
		elem, err := rangeElem(sc, n.Pipe)
		if err != nil {
			return l.fail(sc, n, "%v", err)
		}
		return l.branch(sc, &n.BranchNode, elem, sc.ranges+1)
	case *parse.TemplateNode:
		return l.call(sc, n)
	}
	return nil
}

// branch walks an if, with or range: the pipeline and the else part in
// the enclosing scope, the body with dot and ranges as given.
func (l *limiter) branch(sc scope, b *parse.BranchNode, dot reflect.Type, ranges int) error {
	if err := l.walk(sc, b.Pipe); err != nil {
		return err
	}
	in := sc
	in.dot, in.ranges = dot, ranges
	if err := l.walk(in, b.List); err != nil {
		return err
	}
	return l.walk(sc, b.ElseList)
}

// call expands {{template "name" pipeline}}: the called template is
// walked where it runs, with the pipeline as its dot and $.
func (l *limiter) call(sc scope, n *parse.TemplateNode) error {
	callee := l.set[n.Name]
	if callee == nil || callee.Root == nil {
		return l.fail(sc, n, "template %q is not defined", n.Name)
	}
	for _, c := range l.calls {
		if c == n.Name {
			return l.fail(sc, n, "template %q calls itself", n.Name)
		}
	}
	var arg reflect.Type
	if n.Pipe != nil {
		if err := l.walk(sc, n.Pipe); err != nil {
			return err
		}
		arg = typeOf(sc, n.Pipe)
	}
	l.calls = append(l.calls, n.Name)
	err := l.walk(scope{tree: callee, dot: arg, root: arg, ranges: sc.ranges}, callee.Root)
	l.calls = l.calls[:len(l.calls)-1]
	return err
}

// fail is a limit error naming the line, in text/template's form so
// bodyError reads it like a parse error.
func (l *limiter) fail(sc scope, n parse.Node, format string, args ...any) error {
	loc, _ := sc.tree.ErrorContext(n)
	return fmt.Errorf("template: %s: %s", loc, fmt.Sprintf(format, args...))
}

// rangeElem is the type dot has inside a range over pipe, or why the range
// is not allowed: only a field that is a list or map in the data (the
// entries are data, so the loop ends) may be ranged over.
func rangeElem(sc scope, pipe *parse.PipeNode) (reflect.Type, error) {
	what := pipe.String()
	if len(pipe.Cmds) == 1 {
		what = pipe.Cmds[0].String()
		if len(pipe.Cmds[0].Args) == 1 {
			if _, ok := pipe.Cmds[0].Args[0].(*parse.NumberNode); ok {
				return nil, fmt.Errorf("range over a number (%s) is not allowed; range over a list or map such as .Extra", what)
			}
		}
	}
	t := typeOf(sc, pipe)
	if t == nil {
		return nil, fmt.Errorf("range over %s is not allowed: range only over a list or map in the data, such as .Extra", what)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return t.Elem(), nil
	}
	return nil, fmt.Errorf("range over %s is not allowed: it is %s, not a list or map (range over a list or map such as .Extra)", what, kindName(t))
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a number"
	case reflect.String:
		return "a text"
	}
	return "a " + strings.TrimPrefix(t.String(), "templates.")
}

// typeOf is the static type of a pipeline that is a plain field path (.,
// .A.B, $.A.B); nil for anything else (a call, a variable, a literal).
func typeOf(sc scope, pipe *parse.PipeNode) reflect.Type {
	if pipe == nil || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
		return nil
	}
	switch a := pipe.Cmds[0].Args[0].(type) {
	case *parse.DotNode:
		return sc.dot
	case *parse.FieldNode:
		return fieldType(sc.dot, a.Ident)
	case *parse.VariableNode:
		if a.Ident[0] == "$" {
			return fieldType(sc.root, a.Ident[1:])
		}
	}
	return nil
}

// fieldType follows a field path the way text/template evaluates it:
// methods first, then struct fields and string-keyed map entries.
func fieldType(t reflect.Type, path []string) reflect.Type {
	for _, name := range path {
		if t == nil {
			return nil
		}
		pt := t
		if pt.Kind() != reflect.Pointer && pt.Kind() != reflect.Interface {
			pt = reflect.PointerTo(t)
		}
		if m, ok := pt.MethodByName(name); ok {
			if m.Type.NumOut() == 0 {
				return nil
			}
			t = m.Type.Out(0)
			continue
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := t.FieldByName(name)
			if !ok || !f.IsExported() {
				return nil
			}
			t = f.Type
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				return nil
			}
			t = t.Elem()
		default:
			return nil
		}
	}
	return t
}
