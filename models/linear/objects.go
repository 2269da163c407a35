package linear

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ack is the known result of an op that returns nothing.
type ack struct{}

// maxShown bounds the elements a queue or set description lists.
const maxShown = 8

// --- mutex ---

// lockOp is an acquire or release by an owner.
type lockOp struct {
	acquire bool
	owner   string // "process 3", or "owner x" when the op names one
}

// lockState is who holds the lock; the zero state is free.
type lockState struct {
	held  bool
	owner string
}

// mutexSpec is a non-reentrant mutex with owners.
type mutexSpec struct{}

func (mutexSpec) Name() string        { return Mutex }
func (mutexSpec) Object() string      { return "lock" }
func (mutexSpec) Functions() []string { return []string{"acquire", "release"} }

func (s mutexSpec) Parse(c Call) (Parsed, error) {
	var op lockOp
	switch c.F {
	case "acquire":
		op.acquire = true
	case "release":
	default:
		return Parsed{}, fmt.Errorf("f %q is not %s", c.F, orList(s.Functions()))
	}
	if c.Arg == nil {
		op.owner = "process " + c.Process.String()
	} else {
		name, ok := keyName(c.Arg)
		if !ok {
			return Parsed{}, fmt.Errorf("%s by %s: the owner is neither an integer nor a string", c.F, show(c.Arg))
		}
		op.owner = "owner " + name
	}
	p := Parsed{In: op, Key: c.Key}
	if c.Known {
		p.Out = ack{}
	}
	return p, nil
}

func (mutexSpec) Init() any { return lockState{} }

// Step: an acquire needs the lock free, a release needs it held by the
// releasing owner. Of unknown outcome, either happens where it can.
func (mutexSpec) Step(s, in, out any) (bool, any) {
	st, op := s.(lockState), in.(lockOp)
	var ok bool
	var next lockState
	if op.acquire {
		ok, next = !st.held, lockState{held: true, owner: op.owner}
	} else {
		ok, next = st.held && st.owner == op.owner, lockState{}
	}
	if ok {
		return true, next
	}
	return out == nil, st
}

func (mutexSpec) DescribeOperation(in, out any) string {
	op := in.(lockOp)
	s := "release"
	if op.acquire {
		s = "acquire"
	}
	if !strings.HasPrefix(op.owner, "process ") {
		s += " as " + strings.TrimPrefix(op.owner, "owner ")
	}
	return s
}

func (mutexSpec) DescribeState(s any) string {
	st := s.(lockState)
	if !st.held {
		return "free"
	}
	return "held by " + st.owner
}

func (m mutexSpec) Holds(s any) string { return "is " + m.DescribeState(s) }

func (mutexSpec) Hash(s any) uint64 {
	st := s.(lockState)
	if !st.held {
		return 1
	}
	return fnv64(st.owner)
}

func (mutexSpec) so(s, in, _ any, _ bool) string {
	st, op := s.(lockState), in.(lockOp)
	switch {
	case op.acquire:
		return "so it cannot be acquired"
	case !st.held:
		return "so there is nothing to release"
	}
	return "so " + op.owner + " cannot release it"
}

func (mutexSpec) byLast() bool { return true }

// --- packed integers: queue and set states ---

// States of queues and sets are strings of 8-byte big-endian integers, so
// they are comparable and cheap to hash. Set elements have their sign bit
// flipped, so byte order is numeric order.

func pack(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

func unpack(s string, i int) int64 {
	return int64(binary.BigEndian.Uint64([]byte(s[8*i : 8*i+8])))
}

func setElem(s string, i int) int64 { return unpack(s, i) ^ -1<<63 }

func packSet(vs []int64) string {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = pack(b, v^-1<<63)
	}
	return string(b)
}

func setElems(s string) []int64 {
	out := make([]int64, len(s)/8)
	for i := range out {
		out[i] = setElem(s, i)
	}
	return out
}

func queueElems(s string) []int64 {
	out := make([]int64, len(s)/8)
	for i := range out {
		out[i] = unpack(s, i)
	}
	return out
}

// showInts renders at most maxShown integers.
func showInts(vs []int64, open, close string) string {
	var sb strings.Builder
	sb.WriteString(open)
	for i, v := range vs {
		if i == maxShown {
			fmt.Fprintf(&sb, " … %d more", len(vs)-maxShown)
			break
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.FormatInt(v, 10))
	}
	sb.WriteString(close)
	return sb.String()
}

// --- FIFO queue ---

// queueOp is an enqueue of val or a dequeue.
type queueOp struct {
	dequeue bool
	val     int64
}

// dequeued is a dequeue's known result: val, or nothing (empty).
type dequeued struct {
	empty bool
	val   int64
}

// queueState is the queue's contents, head first, packed.
type queueState string

// queueSpec is a FIFO queue of integers.
type queueSpec struct{}

func (queueSpec) Name() string        { return FIFOQueue }
func (queueSpec) Object() string      { return "queue" }
func (queueSpec) Functions() []string { return []string{"enqueue", "dequeue"} }

func (q queueSpec) Parse(c Call) (Parsed, error) {
	p := Parsed{Key: c.Key}
	switch c.F {
	case "enqueue":
		v, err := intValue("enqueue of", c.Arg)
		if err != nil {
			return Parsed{}, err
		}
		p.In = queueOp{val: v}
		if c.Known {
			p.Out = ack{}
		}
	case "dequeue":
		p.In = queueOp{dequeue: true}
		if c.Known {
			if c.Result == nil {
				// Possible only on an empty queue, which it leaves so.
				p.Out, p.ReadOnly = dequeued{empty: true}, true
			} else {
				v, err := intValue("dequeue returned", c.Result)
				if err != nil {
					return Parsed{}, err
				}
				p.Out = dequeued{val: v}
			}
		}
	default:
		return Parsed{}, fmt.Errorf("f %q is not %s", c.F, orList(q.Functions()))
	}
	return p, nil
}

func (queueSpec) Init() any { return queueState("") }

// Step: an enqueue appends; a dequeue removes the head and returns it, or
// returns nil when the queue is empty. Of unknown outcome, a dequeue
// removes the head if there is one.
func (queueSpec) Step(s, in, out any) (bool, any) {
	st, op := s.(queueState), in.(queueOp)
	if !op.dequeue {
		return true, queueState(pack([]byte(st), op.val))
	}
	if out == nil {
		if st == "" {
			return true, st
		}
		return true, st[8:]
	}
	d := out.(dequeued)
	if st == "" {
		return d.empty, st
	}
	if d.empty || unpack(string(st), 0) != d.val {
		return false, st
	}
	return true, st[8:]
}

func (queueSpec) DescribeOperation(in, out any) string {
	op := in.(queueOp)
	if !op.dequeue {
		return "enqueue " + strconv.FormatInt(op.val, 10)
	}
	switch d, known := out.(dequeued); {
	case !known:
		return "dequeue"
	case d.empty:
		return "dequeue → nil"
	default:
		return "dequeue → " + strconv.FormatInt(d.val, 10)
	}
}

func (queueSpec) DescribeState(s any) string {
	return showInts(queueElems(string(s.(queueState))), "[", "]")
}

func (q queueSpec) Holds(s any) string {
	if s.(queueState) == "" {
		return "is empty"
	}
	return "holds " + q.DescribeState(s) + " (head first)"
}

func (queueSpec) Hash(s any) uint64 { return fnv64(string(s.(queueState))) }

func (queueSpec) so(s, _, out any, _ bool) string {
	d, _ := out.(dequeued)
	switch {
	case d.empty:
		return "so the dequeue cannot find it empty"
	case s.(queueState) == "":
		return "so the dequeue cannot return " + strconv.FormatInt(d.val, 10)
	}
	return fmt.Sprintf("so the dequeue should have returned %d, not %d", unpack(string(s.(queueState)), 0), d.val)
}

func (queueSpec) byLast() bool { return false }

// --- set ---

// setOp is an add of val or a read.
type setOp struct {
	read bool
	val  int64
}

// setState is the set's elements, packed in order. A read's known result
// is a setState too.
type setState string

// setSpec is a grow-only set of integers.
type setSpec struct{}

func (setSpec) Name() string        { return Set }
func (setSpec) Object() string      { return "set" }
func (setSpec) Functions() []string { return []string{"add", "read"} }

func (st setSpec) Parse(c Call) (Parsed, error) {
	p := Parsed{Key: c.Key}
	switch c.F {
	case "add":
		v, err := intValue("add of", c.Arg)
		if err != nil {
			return Parsed{}, err
		}
		p.In = setOp{val: v}
		if c.Known {
			p.Out = ack{}
		}
	case "read":
		p.In, p.ReadOnly = setOp{read: true}, true
		if c.Known {
			vs, err := intList("read returned", c.Result)
			if err != nil {
				return Parsed{}, err
			}
			p.Out = setState(packSet(vs))
		}
	default:
		return Parsed{}, fmt.Errorf("f %q is not %s", c.F, orList(st.Functions()))
	}
	return p, nil
}

func (setSpec) Init() any { return setState("") }

// Step: an add inserts its element (adding one twice changes nothing); a
// read returns exactly the elements.
func (setSpec) Step(s, in, out any) (bool, any) {
	st, op := s.(setState), in.(setOp)
	if op.read {
		if out == nil {
			return true, st
		}
		return out.(setState) == st, st
	}
	key := string(pack(nil, op.val^-1<<63))
	lo, hi := 0, len(st)/8
	for lo < hi {
		m := (lo + hi) / 2
		if string(st[8*m:8*m+8]) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	found := 8*lo < len(st) && string(st[8*lo:8*lo+8]) == key
	if found {
		return true, st
	}
	return true, st[:8*lo] + setState(key) + st[8*lo:]
}

func (setSpec) DescribeOperation(in, out any) string {
	op := in.(setOp)
	if !op.read {
		return "add " + strconv.FormatInt(op.val, 10)
	}
	if out == nil {
		return "read"
	}
	return "read → " + showInts(setElems(string(out.(setState))), "{", "}")
}

func (setSpec) DescribeState(s any) string {
	return showInts(setElems(string(s.(setState))), "{", "}")
}

func (st setSpec) Holds(s any) string {
	if s.(setState) == "" {
		return "is empty"
	}
	return "holds " + st.DescribeState(s)
}

func (setSpec) Hash(s any) uint64 { return fnv64(string(s.(setState))) }

func (setSpec) so(s, _, out any, _ bool) string {
	have, got := setElems(string(s.(setState))), setElems(string(out.(setState)))
	var missing, extra []int64
	for _, v := range have {
		if _, ok := slices.BinarySearch(got, v); !ok {
			missing = append(missing, v)
		}
	}
	for _, v := range got {
		if _, ok := slices.BinarySearch(have, v); !ok {
			extra = append(extra, v)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "lacks "+showInts(missing, "", ""))
	}
	if len(extra) > 0 {
		parts = append(parts, "has "+showInts(extra, "", ""))
	}
	return "so the read, which " + strings.Join(parts, " and ") + ", cannot follow it"
}

func (setSpec) byLast() bool { return false }

// --- counter ---

// counterOp is an add of delta or a read.
type counterOp struct {
	read  bool
	delta int64
}

// counted is a read's known result.
type counted struct{ val int64 }

// counterSpec is a counter starting at 0.
type counterSpec struct{}

func (counterSpec) Name() string        { return Counter }
func (counterSpec) Object() string      { return "counter" }
func (counterSpec) Functions() []string { return []string{"add", "read"} }

func (cs counterSpec) Parse(c Call) (Parsed, error) {
	p := Parsed{Key: c.Key}
	switch c.F {
	case "add":
		v, err := intValue("add of", c.Arg)
		if err != nil {
			return Parsed{}, err
		}
		p.In = counterOp{delta: v}
		if c.Known {
			p.Out = ack{}
		}
	case "read":
		p.In, p.ReadOnly = counterOp{read: true}, true
		if c.Known {
			v, err := intValue("read returned", c.Result)
			if err != nil {
				return Parsed{}, err
			}
			p.Out = counted{v}
		}
	default:
		return Parsed{}, fmt.Errorf("f %q is not %s", c.F, orList(cs.Functions()))
	}
	return p, nil
}

func (counterSpec) Init() any { return int64(0) }

// Step: an add adds its delta; a read returns the sum.
func (counterSpec) Step(s, in, out any) (bool, any) {
	v, op := s.(int64), in.(counterOp)
	if !op.read {
		return true, v + op.delta
	}
	if out == nil {
		return true, v
	}
	return out.(counted).val == v, v
}

func (counterSpec) DescribeOperation(in, out any) string {
	op := in.(counterOp)
	if !op.read {
		return "add " + strconv.FormatInt(op.delta, 10)
	}
	if out == nil {
		return "read"
	}
	return "read → " + strconv.FormatInt(out.(counted).val, 10)
}

func (counterSpec) DescribeState(s any) string { return strconv.FormatInt(s.(int64), 10) }

func (counterSpec) Holds(s any) string { return "is " + strconv.FormatInt(s.(int64), 10) }

func (counterSpec) Hash(s any) uint64 { return uint64(s.(int64)) * 0xff51afd7ed558ccd }

func (counterSpec) so(_, _, out any, _ bool) string {
	return "so the read of " + strconv.FormatInt(out.(counted).val, 10) + " cannot follow it"
}

func (counterSpec) byLast() bool { return false }
