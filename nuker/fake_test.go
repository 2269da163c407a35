package nuker

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/history"
)

// fakeNode records Exec calls and models just enough of faultline's
// iptables chain to tell whether a partition is in effect on it.
type fakeNode struct {
	name string
	addr netip.Addr
	// fail, when set, makes Exec fail for commands it returns true for.
	fail func(argv []string) bool

	mu    sync.Mutex
	execs [][]string
	drops []string // addresses our chain drops
	chain bool     // our chain exists
	// delays logs the packet delayer calls, and execs their place among
	// the commands as "delayer ...".
	delays []string
}

var _ node.Delayer = (*fakeNode)(nil)

func (n *fakeNode) logDelayer(call string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delays = append(n.delays, call)
	n.execs = append(n.execs, []string{"delayer", call})
}

func (n *fakeNode) StartDelayer(_ context.Context, queue uint16, args []string) error {
	n.logDelayer(fmt.Sprintf("start %d %s", queue, strings.Join(args, " ")))
	return nil
}

func (n *fakeNode) StopDelayer(_ context.Context, queue uint16) error {
	n.logDelayer(fmt.Sprintf("stop %d", queue))
	return nil
}

func (n *fakeNode) StopDelayers(context.Context) error {
	n.logDelayer("stop all")
	return nil
}

var _ node.Node = (*fakeNode)(nil)

func (n *fakeNode) Name() string     { return n.name }
func (n *fakeNode) Addr() netip.Addr { return n.addr }

var dropRule = regexp.MustCompile(`-A ` + Chain + ` -s (\S+) -j DROP`)

func (n *fakeNode) Exec(ctx context.Context, argv ...string) (node.ExecResult, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.execs = append(n.execs, slices.Clone(argv))
	if err := ctx.Err(); err != nil {
		return node.ExecResult{}, err
	}
	if n.fail != nil && n.fail(argv) {
		return node.ExecResult{ExitCode: 1}, &node.ExitError{Node: n.name, Argv: argv, ExitCode: 1, Stderr: "injected failure"}
	}
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		script := argv[2]
		switch {
		case strings.Contains(script, "-I INPUT 1 -j "+Chain): // apply
			n.chain = true
			n.drops = nil
			for _, m := range dropRule.FindAllStringSubmatch(script, -1) {
				n.drops = append(n.drops, m[1])
			}
		case strings.Contains(script, "-X "+Chain): // remove
			n.chain, n.drops = false, nil
		case strings.Contains(script, "-F "+Chain): // heal
			n.drops = nil
		}
	}
	return node.ExecResult{}, nil
}

func (n *fakeNode) ExecDetached(ctx context.Context, argv ...string) error {
	return fmt.Errorf("fake: ExecDetached not supported")
}

func (n *fakeNode) WriteFile(ctx context.Context, path string, data []byte, mode int64) error {
	return fmt.Errorf("fake: WriteFile not supported")
}

func (n *fakeNode) CopyOut(ctx context.Context, src, dst string) error {
	return fmt.Errorf("fake: CopyOut not supported")
}

func (n *fakeNode) scripts() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, a := range n.execs {
		if len(a) == 3 && a[0] == "sh" {
			out = append(out, a[2])
		}
	}
	return out
}

func (n *fakeNode) dropping() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.drops)
}

// fakeNodes returns n1..nN at 10.0.0.1..N.
func fakeNodes(count int) []*fakeNode {
	out := make([]*fakeNode, count)
	for i := range out {
		out[i] = &fakeNode{name: fmt.Sprintf("n%d", i+1), addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})}
	}
	return out
}

func asNodes(fs []*fakeNode) []node.Node {
	out := make([]node.Node, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

func nodeNames(count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

// fakeTarget tracks which nodes are killed or paused and every call.
type fakeTarget struct {
	// block, when set, makes Kill and Pause wait for ctx to end.
	block bool

	mu     sync.Mutex
	calls  []string
	down   map[string]bool
	paused map[string]bool
	// healCtxErr records ctx.Err() seen by Start and Resume.
	healCtxErr []error
}

func newFakeTarget() *fakeTarget {
	return &fakeTarget{down: map[string]bool{}, paused: map[string]bool{}}
}

func (t *fakeTarget) fake() *fakeTarget { return t }

func (t *fakeTarget) do(ctx context.Context, verb string, n node.Node, apply func()) error {
	if t.block && (verb == "kill" || verb == "pause") {
		<-ctx.Done()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, verb+" "+n.Name())
	if verb == "start" || verb == "resume" {
		t.healCtxErr = append(t.healCtxErr, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	apply()
	return nil
}

func (t *fakeTarget) Kill(ctx context.Context, n node.Node) error {
	return t.do(ctx, "kill", n, func() { t.down[n.Name()] = true })
}

func (t *fakeTarget) Start(ctx context.Context, n node.Node) error {
	return t.do(ctx, "start", n, func() { delete(t.down, n.Name()) })
}

func (t *fakeTarget) Pause(ctx context.Context, n node.Node) error {
	return t.do(ctx, "pause", n, func() { t.paused[n.Name()] = true })
}

func (t *fakeTarget) Resume(ctx context.Context, n node.Node) error {
	return t.do(ctx, "resume", n, func() { delete(t.paused, n.Name()) })
}

func (t *fakeTarget) healthy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.down) == 0 && len(t.paused) == 0
}

// recorder stands in for the harness's history: it numbers the ops and can
// call a hook on each.
type recorder struct {
	mu   sync.Mutex
	ops  []history.Op
	hook func(history.Op)
}

func (r *recorder) record(op history.Op) history.Op {
	r.mu.Lock()
	op.Index = int64(len(r.ops))
	op.Time = op.Index * 1000
	r.ops = append(r.ops, op)
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		hook(op)
	}
	return op
}

func (r *recorder) history() []history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// checkConfined fails t unless every iptables command in script acts only
// on faultline's chain or on INPUT's jump to it, and returns how many
// commands it checked.
func checkConfined(t *testing.T, script string) int {
	t.Helper()
	return checkIptables(t, script, regexp.MustCompile(`^(-N|-F|-X|-n -L) `+Chain+`$|^-A `+Chain+` -s [0-9a-f.:]+ -j DROP$|^(-C|-D) INPUT -j `+Chain+`$|^-I INPUT 1 -j `+Chain+`$`))
}

// checkIptables fails t unless every iptables command in script waits for
// the lock (-w) and, past it, matches allowed; it returns how many
// commands it checked. A probe for the binary (command -v) is no command.
func checkIptables(t *testing.T, script string, allowed *regexp.Regexp) int {
	t.Helper()
	count := 0
	for _, part := range regexp.MustCompile(`\|\||&&|;|\n`).Split(script, -1) {
		f := strings.Fields(part)
		i := slices.IndexFunc(f, func(s string) bool { return s == "iptables" || s == "ip6tables" })
		if i < 0 || slices.Contains(f, "command") {
			continue
		}
		count++
		args := slices.DeleteFunc(slices.Clone(f[i+1:]), func(s string) bool { return strings.Contains(s, ">") })
		if len(args) == 0 || args[0] != "-w" {
			t.Errorf("iptables without -w: %q", part)
			continue
		}
		// Trailing shell keywords ("then", "do") end the command.
		rest := args[1:]
		if j := slices.IndexFunc(rest, func(s string) bool { return s == "then" || s == "do" || s == "fi" }); j >= 0 {
			rest = rest[:j]
		}
		if cmd := strings.Join(rest, " "); !allowed.MatchString(cmd) {
			t.Errorf("iptables command outside faultline's chain: %q", cmd)
		}
	}
	return count
}

// next draws the first lane's next step, as its loop would.
func (k *Nuker) next() *step {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lanes[0].next(k)[0]
}
