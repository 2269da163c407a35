package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// Whose objects are these? Every container and network of a run records
// the process that made it (its controller): the machine (host name and
// machine id), the boot (the kernel's boot id), the pid namespace, the pid
// and the pid's start time (so a reused pid is not mistaken for the
// controller). `faultline clean` removes a run only when its controller is
// known to be gone, so runs in other terminals and CI jobs on the same
// engine are left alone.
const (
	LabelHost     = "io.faultline.host"
	LabelMachine  = "io.faultline.machine"
	LabelBoot     = "io.faultline.boot"
	LabelPIDNS    = "io.faultline.pidns"
	LabelPID      = "io.faultline.pid"
	LabelPIDStart = "io.faultline.pidstart"
)

// Controller identifies a process that makes Docker objects for a run.
type Controller struct {
	Host    string // os.Hostname
	Machine string // /etc/machine-id ("" when the machine has none)
	Boot    string // /proc/sys/kernel/random/boot_id
	PIDNS   string // readlink /proc/self/ns/pid, e.g. pid:[4026531836]
	PID     int
	// PIDStart is field 22 of /proc/<pid>/stat: clock ticks after boot.
	PIDStart uint64
}

// Self describes this process. The error says what could not be read; the
// fields that could are filled in all the same.
func Self() (Controller, error) {
	var errs []error
	c := Controller{PID: os.Getpid()}
	var err error
	if c.Host, err = os.Hostname(); err != nil {
		errs = append(errs, fmt.Errorf("host name: %w", err))
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			c.Machine = strings.TrimSpace(string(b))
			break
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err != nil {
		errs = append(errs, fmt.Errorf("boot id: %w", err))
	} else {
		c.Boot = strings.TrimSpace(string(b))
	}
	if c.PIDNS, err = os.Readlink("/proc/self/ns/pid"); err != nil {
		errs = append(errs, fmt.Errorf("pid namespace: %w", err))
	}
	st, err := readProcStat(c.PID)
	if err != nil {
		errs = append(errs, err)
	}
	c.PIDStart = st.start
	return c, errors.Join(errs...)
}

// Labels are the labels that record c on an object.
func (c Controller) Labels() map[string]string {
	m := map[string]string{LabelHost: c.Host, LabelPID: strconv.Itoa(c.PID)}
	if c.Machine != "" {
		m[LabelMachine] = c.Machine
	}
	if c.Boot != "" {
		m[LabelBoot] = c.Boot
	}
	if c.PIDNS != "" {
		m[LabelPIDNS] = c.PIDNS
	}
	if c.PIDStart != 0 {
		m[LabelPIDStart] = strconv.FormatUint(c.PIDStart, 10)
	}
	return m
}

// RunLabels returns the labels of every Docker object of run runID made by
// this process: LabelRun plus the controller's labels. What cannot be read
// about this process is left out, which makes clean keep the run as
// "unknown" rather than remove it while it runs.
func RunLabels(runID string) map[string]string {
	self, _ := Self()
	m := self.Labels()
	m[LabelRun] = runID
	return m
}

// State is what clean knows about a run's controller.
type State int

const (
	// Stale: the controller is gone; clean removes the run.
	Stale State = iota
	// Live: the controller runs on this machine; clean keeps the run.
	Live
	// Unknown: the run was made elsewhere (another machine, pid namespace
	// or an older faultline that recorded too little); clean keeps it
	// unless forced.
	Unknown
)

// String implements fmt.Stringer.
func (s State) String() string {
	switch s {
	case Stale:
		return "stale"
	case Live:
		return "live"
	default:
		return "unknown"
	}
}

// Liveness is a State with the reason for it, for people.
type Liveness struct {
	State  State
	Reason string
}

// procStat is what clean reads of a process.
type procStat struct {
	start uint64 // field 22
	state byte   // field 3: R, S, Z (zombie), X (dead), ...
}

// probe reads /proc/<pid>/stat; fs.ErrNotExist when no such process.
type probe func(pid int) (procStat, error)

// readProcStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errors.New("malformed /proc stat: too few fields")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return procStat{start: start, state: f[0][0]}, nil
}

// maxPID bounds the pids an older faultline's run id can end in
// (PID_MAX_LIMIT on 64-bit Linux); longer numbers are timestamps.
const maxPID = 1 << 22

// classify decides from an object's labels whether its controller is gone,
// seen from self. A process that exists with the recorded start time and
// is not a zombie is the controller.
func classify(labels map[string]string, self Controller, read probe) Liveness {
	pidLabel, ok := labels[LabelPID]
	if !ok {
		return classifyLegacy(labels[LabelRun], self, read)
	}
	host := labels[LabelHost]
	if host != self.Host || labels[LabelMachine] != self.Machine {
		return Liveness{Unknown, fmt.Sprintf("made on another machine (host %q)", host)}
	}
	boot := labels[LabelBoot]
	if boot == "" || self.Boot == "" {
		return Liveness{Unknown, "no boot id recorded or readable here"}
	}
	if boot != self.Boot {
		return Liveness{Stale, "made before this machine last booted"}
	}
	if labels[LabelPIDNS] == "" || labels[LabelPIDNS] != self.PIDNS {
		return Liveness{Unknown, fmt.Sprintf("made in another pid namespace (%s)", labels[LabelPIDNS])}
	}
	pid, err := strconv.Atoi(pidLabel)
	if err != nil || pid <= 0 {
		return Liveness{Unknown, fmt.Sprintf("unreadable controller pid %q", pidLabel)}
	}
	start, err := strconv.ParseUint(labels[LabelPIDStart], 10, 64)
	if err != nil {
		return Liveness{Unknown, fmt.Sprintf("unreadable controller start time %q", labels[LabelPIDStart])}
	}
	st, err := read(pid)
	switch {
	case gone(err):
		return Liveness{Stale, fmt.Sprintf("controller pid %d is gone", pid)}
	case err != nil:
		return Liveness{Unknown, fmt.Sprintf("controller pid %d: %v", pid, err)}
	case st.start != start:
		return Liveness{Stale, fmt.Sprintf("controller pid %d is gone (the pid now belongs to another process)", pid)}
	case st.state == 'Z' || st.state == 'X':
		return Liveness{Stale, fmt.Sprintf("controller pid %d has exited", pid)}
	}
	return Liveness{Live, fmt.Sprintf("controller pid %d runs on this machine", pid)}
}

// classifyLegacy judges objects of an older faultline, which recorded only
// the run id. Its run ids end in the controller's pid: while a process
// with that pid runs here the run may be live and is kept; when none does,
// the run is stale. Run ids that end in no pid are unknown. (An older
// faultline on another machine sharing this engine cannot be told apart
// from a dead one here; `faultline clean` says so in its help.)
func classifyLegacy(runID string, self Controller, read probe) Liveness {
	i := strings.LastIndexByte(runID, '-')
	pid, err := strconv.Atoi(runID[i+1:])
	if i < 0 || err != nil || pid <= 0 || pid > maxPID {
		return Liveness{Unknown, "made by an older faultline that recorded no controller"}
	}
	st, err := read(pid)
	switch {
	case gone(err):
		return Liveness{Stale, fmt.Sprintf("made by an older faultline; its pid %d is gone", pid)}
	case err != nil:
		return Liveness{Unknown, fmt.Sprintf("made by an older faultline; pid %d: %v", pid, err)}
	case st.state == 'Z' || st.state == 'X':
		return Liveness{Stale, fmt.Sprintf("made by an older faultline; its pid %d has exited", pid)}
	}
	return Liveness{Unknown, fmt.Sprintf("made by an older faultline whose pid %d may still run here", pid)}
}

// gone reports whether err says the process does not exist (a process that
// exits while its stat file is read gives ESRCH).
func gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// CleanOptions says what `faultline clean` removes.
type CleanOptions struct {
	// RunID limits clean to one run ("" for every run).
	RunID string
	// Force removes live and unknown runs too.
	Force bool
	// DryRun removes nothing and reports what would be removed.
	DryRun bool
	// Label limits clean to objects that also carry this label (key or
	// key=value): tests use it to touch only what they made.
	Label string
}

// RunObjects are the objects of one run and what is known of its
// controller.
type RunObjects struct {
	RunID    string
	Liveness Liveness
	Objects  []Leftover
}

// CleanReport says what clean removed (or, in a dry run, would remove) and
// which runs it kept, and why.
type CleanReport struct {
	Removed []Leftover
	Kept    []RunObjects
}

// CleanRuns removes the containers and networks of runs whose controller
// is gone (every run with opt.Force) and reports the runs it kept.
func CleanRuns(ctx context.Context, cli *client.Client, opt CleanOptions) (CleanReport, error) {
	self, _ := Self() // what could not be read makes runs unknown, never stale
	return cleanRuns(ctx, cli, opt, self, readProcStat)
}

func cleanRuns(ctx context.Context, cli *client.Client, opt CleanOptions, self Controller, read probe) (CleanReport, error) {
	var rep CleanReport
	runs, err := listRuns(ctx, cli, opt, self, read)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, r := range runs {
		if r.Liveness.State != Stale && !opt.Force {
			rep.Kept = append(rep.Kept, r)
			continue
		}
		if opt.DryRun {
			rep.Removed = append(rep.Removed, r.Objects...)
			continue
		}
		removed, err := CleanList(ctx, cli, r.RunID)
		rep.Removed = append(rep.Removed, removed...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// ListRuns returns the runs that have containers or networks on the
// engine, each with what is known of its controller, in run id order.
func ListRuns(ctx context.Context, cli *client.Client, opt CleanOptions) ([]RunObjects, error) {
	self, _ := Self()
	return listRuns(ctx, cli, opt, self, readProcStat)
}

func listRuns(ctx context.Context, cli *client.Client, opt CleanOptions, self Controller, read probe) ([]RunObjects, error) {
	f := filters.NewArgs(filters.Arg("label", labelFilter(opt.RunID)))
	if opt.Label != "" {
		f.Add("label", opt.Label)
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	byRun := map[string]*RunObjects{}
	add := func(kind, name string, labels map[string]string) {
		id := labels[LabelRun]
		r := byRun[id]
		l := classify(labels, self, read)
		if r == nil {
			r = &RunObjects{RunID: id, Liveness: l}
			byRun[id] = r
		} else if rank(l.State) > rank(r.Liveness.State) {
			r.Liveness = l // the run is as live as its liveliest object
		}
		r.Objects = append(r.Objects, Leftover{kind, name, id})
	}
	for _, ct := range cs {
		name := ct.ID[:12]
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		add("container", name, ct.Labels)
	}
	for _, n := range ns {
		add("network", n.Name, n.Labels)
	}
	out := make([]RunObjects, 0, len(byRun))
	for _, r := range byRun {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RunObjects) int { return strings.Compare(a.RunID, b.RunID) })
	return out, nil
}

// rank orders states by how strongly they keep a run.
func rank(s State) int {
	switch s {
	case Live:
		return 2
	case Unknown:
		return 1
	default:
		return 0
	}
}

// helperLabels are the labels of a helper container of a node whose
// labels are node: the node's run and controller (so clean keeps or
// removes the helper with its node) and LabelRole=role.
func helperLabels(node map[string]string, role string) map[string]string {
	m := map[string]string{}
	for _, k := range []string{LabelRun, LabelHost, LabelMachine, LabelBoot, LabelPIDNS, LabelPID, LabelPIDStart} {
		if v, ok := node[k]; ok {
			m[k] = v
		}
	}
	m[LabelRole] = role
	return m
}
