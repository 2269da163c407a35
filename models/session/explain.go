package session

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// explain turns a read's witness of a broken guarantee into an anomaly.
func (e *engine) explain(g guarantee, k *keyState, read int32, w *witness) models.Anomaly {
	a := models.Anomaly{Kind: g.name(), Key: k.name}
	first := true
	for _, c := range []int32{read, w.a, w.b} {
		if c < 0 {
			continue
		}
		for _, pos := range []int{e.calls[c].inv, e.calls[c].done} {
			if pos < 0 {
				continue
			}
			op := &e.ops[pos]
			a.Ops = append(a.Ops, op.Index)
			if first || op.Time < a.Time {
				a.Time, first = op.Time, false
			}
		}
	}
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)

	r := models.Capitalize(e.readName(k, read))
	sess := e.sessNames[w.session]
	var elem string
	if w.elem >= 0 {
		elem = fmt.Sprint(k.vals[w.elem])
	}
	more := func(what string) string {
		if w.count <= 1 {
			return ""
		}
		return fmt.Sprintf(", and %d more such %s", w.count-1, what)
	}
	switch {
	case g == ryw:
		a.Explanation = fmt.Sprintf("%s misses %s, which its session (%s) completed before the read began%s",
			r, e.writeName(w.a), sess, more("writes"))
	case g == mr && w.elem >= 0:
		a.Explanation = fmt.Sprintf("%s misses %s, which %s of the same session (%s) returned before the read began%s",
			r, elem, e.readName(k, w.a), sess, more("elements"))
	case g == mr:
		a.Explanation = fmt.Sprintf("%s does not extend %s of the same session (%s), which completed before the read began",
			r, e.readName(k, w.a), sess)
	case g == mw && w.order:
		a.Explanation = fmt.Sprintf("%s puts %s's element before %s's, though their session (%s) completed the second before invoking the first%s",
			r, e.writeName(w.b), e.writeName(w.a), sess, more("misplaced elements"))
	case g == mw:
		a.Explanation = fmt.Sprintf("%s shows %s but not %s, which the same session (%s) completed before invoking it%s",
			r, e.writeName(w.b), e.writeName(w.a), sess, more("missing writes"))
	case w.elem >= 0:
		a.Explanation = fmt.Sprintf("%s shows %s but misses %s, which the writer's session (%s) had read, in %s, before invoking it%s",
			r, e.writeName(w.b), elem, sess, e.readName(k, w.a), more("elements"))
	default:
		a.Explanation = fmt.Sprintf("%s shows %s but does not extend %s, which the writer's session (%s) completed before invoking it",
			r, e.writeName(w.b), e.readName(k, w.a), sess)
	}
	return a
}

// maxShown bounds the elements of a read a sentence prints.
const maxShown = 8

// readName names a read: "process 3's read of key x → [1 2] (ops 12–15)".
func (e *engine) readName(k *keyState, c int32) string {
	cl := e.calls[c]
	inv, done := &e.ops[cl.inv], &e.ops[cl.done]
	vals, _ := done.Value.([]any)
	var sb strings.Builder
	sb.WriteByte('[')
	for i, v := range vals {
		if i == maxShown {
			fmt.Fprintf(&sb, " … %d elements", len(vals))
			break
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprint(&sb, v)
	}
	sb.WriteByte(']')
	on := ""
	if k.name != "" {
		on = " of key " + k.name
	}
	return fmt.Sprintf("process %v's read%s → %s (ops %d–%d)", inv.Process, on, sb.String(), inv.Index, done.Index)
}

// writeName names a write: "process 1's add 2 (ops 2–3)".
func (e *engine) writeName(c int32) string {
	cl := e.calls[c]
	inv := &e.ops[cl.inv]
	arg := inv.Value
	if arg == nil && cl.done >= 0 {
		arg = e.ops[cl.done].Value
	}
	what := ""
	switch {
	case cl.done < 0:
		return fmt.Sprintf("process %v's unfinished %s %v (op %d)", inv.Process, inv.F, arg, inv.Index)
	case cl.typ == history.Info:
		what = "indeterminate "
	}
	return fmt.Sprintf("process %v's %s%s %v (ops %d–%d)", inv.Process, what, inv.F, arg, inv.Index, e.ops[cl.done].Index)
}

func keyLabel(key string) string {
	if key == "" {
		return "the history's only object"
	}
	return "key " + key
}

// scalar reports whether v can be an element: not nil, a list or a map.
func scalar(v any) bool {
	switch v.(type) {
	case nil, []any, map[string]any:
		return false
	}
	return true
}

// isList reports whether v is a read's result: a list, or nil for none.
func isList(v any) bool {
	switch v.(type) {
	case nil, []any:
		return true
	}
	return false
}
