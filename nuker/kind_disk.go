package nuker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/faultline/faultline/harness/node"
)

// Disk fault names besides power: each acts through the faultline
// filesystem mounted over the target's data directory (docs/disk.md), so
// nodes must implement node.Disker and the target declare its data
// directory; none is in "all".
const (
	// FaultDiskFull makes writes, creates and growing truncates fail with
	// ENOSPC on some nodes until the stop.
	FaultDiskFull = "disk-full"
	// FaultDiskError makes fsync (variant fsync) or reads (variant read)
	// fail with EIO on some nodes until the stop.
	FaultDiskError = "disk-error"
	// FaultSlowDisk adds a delay to every read, write, fsync and directory
	// operation on some nodes until the stop.
	FaultSlowDisk = "slow-disk"
	// FaultCorrupt flips bits in or truncates the target's files on a
	// minority of nodes; the stop restarts the target's process there so
	// it reads its files again. Nothing restores the bytes.
	FaultCorrupt = "corrupt"
)

// Disk modes: DiskPlan.Mode, the filesystem's switch or corruption.
const (
	DiskENOSPC   = "enospc"
	DiskEIOFsync = "eio-fsync"
	DiskEIORead  = "eio-read"
	DiskDelay    = "delay"
	// The corruption modes are nuker/disk's: flip-tail, flip-random,
	// truncate (see corruptModes).
)

// corruptModes are nuker/disk's corruption modes (this package does not
// import the filesystem), in draw order.
func corruptModes() []string { return []string{"flip-tail", "flip-random", "truncate"} }

// allSuffix pins a corruption to every node: corrupt/flip-tail-all.
const allSuffix = "-all"

// DiskPlan is what a disk step does, as its start invocation records it.
type DiskPlan struct {
	// Mode is a filesystem switch (enospc, eio-fsync, eio-read, delay) or
	// a corruption mode (flip-tail, flip-random, truncate).
	Mode string `json:"mode"`
	// DelayMs is the delay per operation (delay).
	DelayMs int `json:"delay_ms,omitempty"`
	// Bytes is how many bytes a corruption flips, or at most cuts.
	Bytes int `json:"bytes,omitempty"`
	// Seed draws the corruption's files and offsets in the filesystem: on
	// the same files it makes the same changes. Below 2^32, so it
	// survives JSON as a number.
	Seed uint32 `json:"seed,omitempty"`
}

// String is the plan for the log: "eio-fsync", "delay 100ms",
// "flip-tail 8 bytes, seed 42".
func (p *DiskPlan) String() string {
	switch {
	case p.Mode == DiskDelay:
		return fmt.Sprintf("delay %dms", p.DelayMs)
	case p.Bytes > 0:
		return fmt.Sprintf("%s %d bytes, seed %d", p.Mode, p.Bytes, p.Seed)
	}
	return p.Mode
}

// on is the control command that starts the plan.
func (p *DiskPlan) on() string {
	switch p.Mode {
	case DiskDelay:
		return fmt.Sprintf("delay %dms", p.DelayMs)
	case DiskENOSPC, DiskEIOFsync, DiskEIORead:
		return p.Mode + " on"
	}
	return fmt.Sprintf("corrupt %s %d %d", p.Mode, p.Bytes, p.Seed)
}

// off is the control command that undoes a switch.
func (p *DiskPlan) off() string {
	if p.Mode == DiskDelay {
		return "delay 0s"
	}
	return p.Mode + " off"
}

// Describe says in a few words what the plan does on nodes, for the
// report: "eio-fsync on n1,n3", "delay 100ms on n2".
func (p *DiskPlan) Describe(nodes []string) string {
	return p.String() + " on " + strings.Join(nodes, ",")
}

// check refuses a plan the kind named fault cannot apply.
func (p *DiskPlan) check(fault string) error {
	if p == nil {
		return errors.New("no disk plan")
	}
	ok := false
	switch fault {
	case FaultDiskFull:
		ok = p.Mode == DiskENOSPC
	case FaultDiskError:
		ok = p.Mode == DiskEIOFsync || p.Mode == DiskEIORead
	case FaultSlowDisk:
		ok = p.Mode == DiskDelay && p.DelayMs > 0
	case FaultCorrupt:
		ok = slices.Contains(corruptModes(), p.Mode) && p.Bytes > 0
	}
	if !ok {
		return fmt.Errorf("%s cannot do disk plan %+v", fault, *p)
	}
	return nil
}

// canDisk is whether t declares a data directory to mount over.
func canDisk(t any) bool {
	d, ok := t.(dataDirer)
	return ok && len(d.DataDirs()) > 0
}

// diskKind is a disk fault: a filesystem switch turned on for the step
// (disk-full, disk-error, slow-disk) or a corruption (corrupt).
type diskKind struct {
	name, summary string
	// variants are the ways to pin the step; modes pins the plan, else
	// the variants are node subsets.
	variants []string
	modes    bool
	// plan draws the step's plan from r; variant is "" or a mode.
	plan func(r *rand.Rand, variant string) *DiskPlan
	// drawAll puts all nodes among the drawn subsets (disk-full).
	drawAll bool
}

// diskKinds are the disk faults besides power, in Kinds order.
func diskKinds() []Kind {
	return []Kind{
		diskKind{
			name:     FaultDiskFull,
			summary:  "disk full: writes, creates and growing truncates fail with ENOSPC on one node, a minority, a majority, all or the primaries; undo switches it off",
			variants: processVariants(),
			drawAll:  true,
			plan:     func(*rand.Rand, string) *DiskPlan { return &DiskPlan{Mode: DiskENOSPC} },
		},
		diskKind{
			name:     FaultDiskError,
			summary:  "I/O errors: fsync (variant fsync) or reads (variant read) fail with EIO on one node, a minority or a majority; undo switches it off",
			variants: []string{"fsync", "read"},
			modes:    true,
			plan: func(r *rand.Rand, v string) *DiskPlan {
				if v == "" {
					v = []string{"fsync", "read"}[r.IntN(2)]
				}
				return &DiskPlan{Mode: "eio-" + v}
			},
		},
		diskKind{
			name:     FaultSlowDisk,
			summary:  "slow disk: every read, write, fsync and directory operation waits 10ms or 100ms on one node, a minority or a majority; undo removes the delay",
			variants: []string{"10ms", "100ms"},
			modes:    true,
			plan: func(r *rand.Rand, v string) *DiskPlan {
				ms := map[string]int{"10ms": 10, "100ms": 100}[v]
				if ms == 0 {
					ms = []int{10, 100}[r.IntN(2)]
				}
				return &DiskPlan{Mode: DiskDelay, DelayMs: ms}
			},
		},
		corruptKind(),
	}
}

// corruptKind flips bits or truncates files on one node or a minority,
// never on all unless a -all variant pins it (as Jepsen's file corruption
// keeps a majority intact).
func corruptKind() Kind {
	variants := corruptModes()
	for _, m := range corruptModes() {
		variants = append(variants, m+allSuffix)
	}
	return diskKind{
		name: FaultCorrupt,
		summary: "corrupt the target's files on one node or a minority (all: the -all variants): flip-tail (bits in the last 4 KiB of the newest file's data), " +
			"flip-random (bits in random files), truncate (the end of the newest file's data); the changes are recorded; the stop restarts the process, nothing restores the bytes",
		variants: variants,
		modes:    true,
		plan: func(r *rand.Rand, v string) *DiskPlan {
			mode := strings.TrimSuffix(v, allSuffix)
			if mode == "" {
				mode = corruptModes()[r.IntN(len(corruptModes()))]
			}
			p := &DiskPlan{Mode: mode, Bytes: []int{1, 8, 64}[r.IntN(3)]}
			if mode == "truncate" {
				p.Bytes = []int{16, 512, 4096}[r.IntN(3)]
			}
			p.Seed = r.Uint32()
			return p
		},
	}
}

func (d diskKind) corrupts() bool { return d.name == FaultCorrupt }

func (d diskKind) Name() string         { return d.name }
func (d diskKind) Summary() string      { return d.summary }
func (d diskKind) Variants() []string   { return d.variants }
func (d diskKind) Needs() node.Needs    { return node.Needs{Disk: true} }
func (d diskKind) targetCan(t any) bool { return canDisk(t) }

func (d diskKind) prepare(_ *Nuker, cfg Config) error {
	if !canDisk(cfg.Target) {
		return fmt.Errorf("nuker: fault %s needs a target with DataDirer (its data directories declared)", d.name)
	}
	return nil
}

func (d diskKind) draw(k *Nuker, r *rand.Rand, variant string) Step {
	s := Step{Fault: d.name}
	switch {
	case !d.modes:
		drawTargets(k, r, &s, variant, d.drawAll)
		s.Disk = d.plan(r, "")
	case d.corrupts() && strings.HasSuffix(variant, allSuffix):
		s.Disk = d.plan(r, variant)
		s.Targets, s.Nodes = TargetsAll, slices.Clone(k.names)
	case d.corrupts():
		s.Disk = d.plan(r, variant)
		// One node or a minority: never a majority.
		choices := slices.DeleteFunc(subsetChoices(len(k.names), false), func(c subset) bool {
			return c.name != TargetsOne && c.name != TargetsMinority
		})
		c := choices[r.IntN(len(choices))]
		s.Targets = c.name
		s.Nodes = shuffled(r, k.names)[:c.size]
		sort.Strings(s.Nodes)
	default:
		s.Disk = d.plan(r, variant)
		drawTargets(k, r, &s, "", false)
	}
	return s
}

func (d diskKind) checkPin(variant string, target Target, _ []string) error {
	if !d.modes && variant == TargetsPrimaries {
		return needPrimaries(target)
	}
	return nil
}

func (d diskKind) resolve(ctx context.Context, k *Nuker, s *Step) error {
	return resolveTargets(ctx, k, s)
}

// start turns the switch on (or corrupts) on every node of s. A
// corruption's value maps each node to its changes as the filesystem
// answered them.
func (d diskKind) start(ctx context.Context, k *Nuker, s *Step) (any, []string, error) {
	var (
		mu      sync.Mutex
		changes = map[string]any{}
	)
	done, err := k.onNodes(ctx, s.Nodes, func(ctx context.Context, n node.Node) error {
		out, err := diskCommand(ctx, n, s.Disk.on())
		if err != nil || !d.corrupts() {
			return err
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			return fmt.Errorf("corrupt: answer %q: %w", out, err)
		}
		k.log.Info("nuker: corrupted files", "node", n.Name(), "changes", out)
		mu.Lock()
		changes[n.Name()] = v
		mu.Unlock()
		return nil
	})
	if d.corrupts() {
		return changes, missing(s.Nodes, done), err
	}
	return s.Disk.Describe(done), missing(s.Nodes, done), err
}

// stop switches the fault off, then starts the target's process where the
// fault made it exit (Start leaves a running one be: etcd, for one, exits
// on a failed fsync). After a corruption it restarts the process, which
// may need that to read the damaged files again.
func (d diskKind) stop(ctx context.Context, k *Nuker, s *Step) (any, error) {
	if !d.corrupts() {
		done, err := k.onNodes(ctx, s.Nodes, func(ctx context.Context, n node.Node) error {
			if _, err := diskCommand(ctx, n, s.Disk.off()); err != nil {
				return err
			}
			return k.target.Start(ctx, n)
		})
		return done, errors.Join(err, k.reapplyClocks(ctx, done))
	}
	done, err := k.onNodes(ctx, s.Nodes, func(ctx context.Context, n node.Node) error {
		// Start even when Kill fails: the process may have died of the
		// corruption already.
		if err := k.target.Kill(ctx, n); err != nil {
			k.log.Warn("nuker: kill before restart after corruption", "node", n.Name(), "err", err)
		}
		return k.target.Start(ctx, n)
	})
	return done, errors.Join(err, k.reapplyClocks(ctx, done))
}

// diskCommand sends one control command to n's disk filesystem.
func diskCommand(ctx context.Context, n node.Node, cmd string) (string, error) {
	dk, ok := n.(node.Disker)
	if !ok {
		return "", errors.New("this runtime cannot reach a node's disk")
	}
	return dk.Disk(ctx, cmd)
}

func (d diskKind) describe(s *Step) map[string]any {
	return map[string]any{"targets": s.Targets, "nodes": nonNil(s.Nodes), "disk": s.Disk}
}

func (d diskKind) about(s *Step) any { return nonNil(s.Nodes) }

func (d diskKind) restore(s *Step, opNodes []string) error {
	if err := s.Disk.check(d.name); err != nil {
		return err
	}
	if len(s.Nodes) == 0 && len(opNodes) > 0 {
		s.Nodes = slices.Clone(opNodes)
	}
	if len(s.Nodes) == 0 && s.Targets != TargetsPrimaries {
		return errors.New("no nodes to act on")
	}
	return nil
}
