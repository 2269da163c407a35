package ssh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
)

// A machine records the run that holds it in runDir: run.json (who) and
// before.txt (the paths that existed when the run began). Both go at
// teardown; a machine with run.json is in use.
const (
	runDir    = StateDir + "/run"
	runRecord = runDir + "/run.json"
	runBefore = runDir + "/before.txt"
)

// watchedRoots are where targets keep data and configuration; teardown
// removes the paths under them (three levels deep) that the run created.
// Paths the system changes by itself are left out.
func watchedRoots() []string { return []string{"/var/lib", "/etc", "/srv", "/opt", "/data"} }

func skippedPaths() []string {
	return []string{StateDir, "/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd", "/var/lib/ucf", "/var/lib/dhcp", "/var/lib/private", "/etc/ssh"}
}

// RunRecord says which run holds a machine and which controller runs it.
type RunRecord struct {
	RunID      string    `json:"run_id"`
	Controller string    `json:"controller"` // host name
	PID        int       `json:"pid"`
	PIDStart   uint64    `json:"pid_start"` // field 22 of /proc/<pid>/stat
	Started    time.Time `json:"started"`
}

func newRunRecord(runID string) (RunRecord, error) {
	host, err := os.Hostname()
	if err != nil {
		return RunRecord{}, fmt.Errorf("host name: %w", err)
	}
	start, _ := pidStart(os.Getpid())
	return RunRecord{RunID: runID, Controller: host, PID: os.Getpid(), PIDStart: start, Started: time.Now().UTC()}, nil
}

// pidStart reads field 22 (start time) of /proc/<pid>/stat.
func pidStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, errors.New("bad stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// findScript prints the paths under the watched roots, sorted.
func findScript() string {
	var prune []string
	for _, p := range skippedPaths() {
		prune = append(prune, "-path "+shq(p))
	}
	return fmt.Sprintf("{ find %s -xdev -maxdepth 3 \\( %s \\) -prune -o -print 2>/dev/null || true; } | LC_ALL=C sort",
		strings.Join(watchedRoots(), " "), strings.Join(prune, " -o "))
}

// claim records rec on n, refusing when another run holds it, then the
// paths that exist, and clears faultline's pid and log directories.
func claim(ctx context.Context, n *Node, rec RunRecord) error {
	data, _ := json.Marshal(rec)
	script := fmt.Sprintf(`set -e
mkdir -p %[1]s
if ! ( set -C; printf '%%s\n' %[2]s > %[3]s ) 2>/dev/null; then
  echo "in use: $(cat %[3]s)"; exit 3
fi
%[4]s > %[5]s
rm -rf %[6]s %[7]s
`, runDir, shq(string(data)), runRecord, findScript(), runBefore, node.RunDir, node.LogDir)
	res, err := n.execUnmarked(ctx, "sh", "-c", script)
	if err != nil {
		var ee *node.ExitError
		if errors.As(err, &ee) && ee.ExitCode == 3 {
			var other RunRecord
			_ = json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(string(res.Stdout)), "in use: ")), &other)
			return fmt.Errorf("%s (%s) is in use by run %s of %s (pid %d): `faultline clean --runtime ssh` frees it once that run is gone",
				n.name, n.host, other.RunID, other.Controller, other.PID)
		}
		return fmt.Errorf("%s (%s): claim for the run: %w", n.name, n.host, err)
	}
	return nil
}

// teardownScript kills the run's processes (those whose environment holds
// EnvRun=runID, and what they forked), removes faultline's iptables chain,
// the paths the run created under the watched roots, faultline's pid and
// log directories and the run record. It is idempotent.
func teardownScript(runID string) string {
	return fmt.Sprintf(`marker=%[1]s
procs() {
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}; p=${p%%/environ}
    [ "$p" = "$$" ] && continue
    if tr '\0' '\n' < "$e" 2>/dev/null | grep -qxF "$marker"; then echo "$p"; fi
  done
}
for round in 1 2 3 4 5 6 7 8 9 10; do
  ps=$(procs)
  [ -z "$ps" ] && break
  kill -KILL $ps 2>/dev/null
  sleep 0.2
done
left=$(procs)
for t in iptables ip6tables; do
  if command -v $t >/dev/null && $t -w -n -L %[2]s >/dev/null 2>&1; then
    $t -w -F %[2]s
    while $t -w -D INPUT -j %[2]s 2>/dev/null; do :; done
    $t -w -X %[2]s
  fi
done
if [ -f %[3]s ]; then
  %[4]s > %[5]s.after
  LC_ALL=C comm -13 %[3]s %[5]s.after | %[9]s |
    while IFS= read -r p; do rm -rf -- "$p"; echo "removed $p"; done
  rm -f %[5]s.after
fi
rm -rf %[6]s %[7]s /run/faultline-clock
rm -rf %[8]s
if [ -n "$left" ]; then echo "processes of the run still alive: $left" >&2; exit 1; fi
`, shq(EnvRun+"="+runID), nuker.Chain, runBefore, findScript(), runRecord, node.RunDir, node.LogDir, runDir, topmostAwk)
}

// topmostAwk keeps, of a sorted list of new paths, those whose parent is
// not new: removing them removes the rest.
const topmostAwk = `awk '{ p = $0; keep = 1; while ((i = match(p, /\/[^\/]*$/)) > 1) { p = substr(p, 1, i - 1); if (p in top) { keep = 0; break } } if (keep) { top[$0] = 1; print } }'`

// teardown runs teardownScript on n.
func teardown(ctx context.Context, n *Node, runID string) error {
	if _, err := n.execUnmarked(ctx, "sh", "-c", teardownScript(runID)); err != nil {
		return fmt.Errorf("%s (%s): tear down run %s: %w", n.name, n.host, runID, err)
	}
	return nil
}

// Cleaned is what Clean did on one machine.
type Cleaned struct {
	Host   string
	Record RunRecord
	// Removed is true when the run's leftovers were removed, false when
	// the run was kept (Why says why).
	Removed bool
	Why     string
}

// Clean frees machines a killed controller left claimed: on each machine
// with a run record, it tears the run down when its controller is gone
// (the same host name, and no process with its pid and start time), or
// always with force. Machines without a record are not touched.
func (r *Runtime) Clean(ctx context.Context, force bool) ([]Cleaned, error) {
	nodes, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	self, _ := os.Hostname()
	out := make([]Cleaned, len(nodes))
	err = node.Each(asNodes(nodes), func(nn node.Node) error {
		n := nn.(*Node)
		i := indexOf(nodes, n)
		out[i].Host = n.host
		res, err := n.execUnmarked(ctx, "sh", "-c", "cat "+runRecord+" 2>/dev/null || true")
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(res.Stdout))) == 0 {
			return nil
		}
		var rec RunRecord
		if err := json.Unmarshal(res.Stdout, &rec); err != nil || rec.RunID == "" {
			return fmt.Errorf("%s (%s): unreadable %s: remove it by hand once no run uses the machine", n.name, n.host, runRecord)
		}
		out[i].Record = rec
		switch {
		case force:
		case rec.Controller != self:
			out[i].Why = "its controller runs on " + rec.Controller + ", which cannot be checked from here; --force removes it"
			return nil
		case alive(rec.PID, rec.PIDStart):
			out[i].Why = fmt.Sprintf("its controller (pid %d) is still running", rec.PID)
			return nil
		}
		if err := teardown(ctx, n, rec.RunID); err != nil {
			return err
		}
		out[i].Removed = true
		return nil
	})
	return out, err
}

func indexOf(ns []*Node, n *Node) int {
	for i, x := range ns {
		if x == n {
			return i
		}
	}
	return -1
}

// alive reports whether pid runs here with the start time start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	got, err := pidStart(pid)
	return err == nil && (start == 0 || got == start)
}
