package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/reports"
)

// corpusDir finds ../shared/corpus next to the repository, or
// FAULTLINE_CORPUS; "" when absent.
func corpusDir(t *testing.T) string {
	if d := os.Getenv("FAULTLINE_CORPUS"); d != "" {
		return d
	}
	dir, _ := filepath.Abs(".")
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpus")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
	}
	return ""
}

// registerEDN writes two tiny Jepsen register histories and returns their
// paths: a write of 1 then a read of 1 (valid), and the same with a read of
// the never-written 2 (invalid).
func registerEDN(t *testing.T) (good, bad string) {
	t.Helper()
	dir := t.TempDir()
	good, bad = filepath.Join(dir, "good.edn"), filepath.Join(dir, "bad.edn")
	for path, read := range map[string]int{good: 1, bad: 2} {
		h := fmt.Sprintf(`[{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value %d}]`, read)
		if err := os.WriteFile(path, []byte(h), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return good, bad
}

// TestExitCodes runs the CLI in-process on inputs with known outcomes.
func TestExitCodes(t *testing.T) {
	good, bad := registerEDN(t)
	// Elle's list-append shape: a write skew (each txn misses the other's append).
	skew := filepath.Join(t.TempDir(), "skew.edn")
	os.WriteFile(skew, []byte(`[{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:r :x []] [:append :y 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :y []] [:append :x 1]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1]] [:r :y [1]]]}]`), 0o644)
	// A grow-only set whose final read lost an acknowledged add.
	lost := filepath.Join(t.TempDir(), "lost.edn")
	os.WriteFile(lost, []byte(`[{:process 0, :type :invoke, :f :add, :value 1}
{:process 0, :type :ok, :f :add, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value [1]}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value []}]`), 0o644)
	garbage := filepath.Join(t.TempDir(), "garbage.txt")
	os.WriteFile(garbage, []byte("this is not a history\n"), 0o644)

	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{"no args prints help", nil, 0, "USAGE"},
		{"list", []string{"list"}, 0, "etcd"},
		{"unknown command", []string{"frobnicate"}, 64, "unknown command"},
		{"unknown flag", []string{"run", "--no-such-flag"}, 64, "no-such-flag"},
		{"bad nodes", []string{"run", "--nodes", "0"}, 64, "nodes must be"},
		{"bad nemesis", []string{"run", "--nemesis", "meteor"}, 64, "unknown fault"},
		{"bad target", []string{"run", "--target", "oracle"}, 64, "unknown target"},
		{"bad schedule", []string{"run", "--schedule", "sometimes"}, 64, `unknown lane "sometimes"`},
		{"schedule variant", []string{"run", "--schedule", "seq:kill/everyone"}, 64, `fault kill has no variant "everyone"`},
		{"delay variant", []string{"run", "--faults", "delay", "--schedule", "seq:delay/wobble"}, 64, `fault delay has no variant "wobble" (known: [jitter reorder])`},
		{"list says what delays packets here", []string{"list"}, 0, "this machine: nfqueue delayer"},
		{"schedule outside --faults", []string{"run", "--faults", "partition", "--schedule", "seq:partition,kill"}, 64, "uses kill, which --faults partition leaves out"},
		{"schedule fault the target lacks", []string{"run", "--schedule", "mix:failover"}, 64, "failover"},
		{"schedule primaries on a leaderless target", []string{"run", "--target", "minio", "--schedule", "seq:kill/primaries"}, 64, "primaries"},
		{"bad target opt", []string{"run", "--target-opt", "read=sometimes"}, 64, "read"},
		{"bad workload", []string{"run", "--workload", "ledger"}, 64, "unknown workload"},
		{"workload not served", []string{"run", "--workload", "bank"}, 64, "does not serve workload bank"},
		{"cluster size the target cannot form", []string{"run", "--target", "minio", "--nodes", "1"}, 64, "runs on 2 to 16 nodes"},
		{"primaries partition on a leaderless target", []string{"run", "--target", "minio", "--partitions", "primaries"}, 64, "names no primaries"},
		{"fault the target lacks", []string{"run", "--target", "zookeeper", "--nemesis", "failover"}, 64, "does not support fault failover"},
		{"upgrade on a target without a second release", []string{"run", "--target", "redis", "--nemesis", "upgrade"}, 64, "does not support fault upgrade"},
		{"upgrade two minor versions away", []string{"run", "--nemesis", "upgrade", "--target-opt", "upgrade-to=v3.8.0"}, 64, "one minor version at a time"},
		{"run with args", []string{"run", "extra"}, 64, "no arguments"},
		{"bad slo name", []string{"run", "--slo", "latency=5ms"}, 64, "--slo"},
		{"bad slo value", []string{"run", "--fail-on-slo", "--slo", "availability=99.5,p99=250ms"}, 64, "percentage"},
		{"bad slo percentile", []string{"run", "--slo", "p99=fast"}, 64, "positive duration"},
		{"check missing file", []string{"check", "/nonexistent/history.edn"}, 64, "no such file"},
		{"check needs model", []string{"check", good}, 64, "--model"},
		{"check unknown model", []string{"check", "--model", "teapot", good}, 64, "unknown model"},
		{"check garbage", []string{"check", "--model", "cas-register", garbage}, 64, ""},
		{"check good", []string{"check", "--model", "cas-register", good}, 0, "VALID"},
		{"flags after the argument", []string{"check", good, "--model", "cas-register", "--format=jepsen-edn"}, 0, "VALID"},
		{"check bad", []string{"check", "--model", "cas-register", bad}, 1, "INVALID"},
		{"check elle write skew", []string{"check", "--model", "list-append", skew}, 1, "G2-item"},
		{"check set lost element", []string{"check", "--model", "set", lost}, 1, "lost"},
		{"check set as a session", []string{"check", "--model", "monotonic-reads", lost}, 1, "monotonic"},
		{"check wrong format", []string{"check", "--format", "faultline", "--model", "cas-register", good}, 64, "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"faultline"}, tt.args...), &out, &errb)
			all := out.String() + errb.String()
			if code != tt.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, all)
			}
			if !strings.Contains(all, tt.out) {
				t.Errorf("output lacks %q:\n%s", tt.out, all)
			}
			if tt.code == 64 && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 && !strings.Contains(errb.String(), "USAGE") {
				t.Errorf("usage error should be one line, got:\n%s", errb.String())
			}
		})
	}
}

// TestCheckKnossosCorpus: `faultline check` gives Knossos's verdict on every
// history of the corpus (good/ valid, bad/ invalid).
func TestCheckKnossosCorpus(t *testing.T) {
	dir := corpusDir(t)
	if dir == "" {
		t.Skip("Knossos corpus not found (set FAULTLINE_CORPUS or keep ../shared/corpus next to the repository)")
	}
	for _, want := range []struct {
		sub  string
		code int
	}{{"good", 0}, {"bad", 1}} {
		files, _ := filepath.Glob(filepath.Join(dir, "knossos", "cas-register", want.sub, "*.edn"))
		if len(files) == 0 {
			t.Fatalf("no histories in %s/knossos/cas-register/%s", dir, want.sub)
		}
		for _, f := range files {
			var out, errb bytes.Buffer
			code := run([]string{"faultline", "check", "--format", "jepsen-edn", "--model", "cas-register", f}, &out, &errb)
			if code != want.code {
				t.Errorf("%s/%s: exit %d, want %d\n%s%s", want.sub, filepath.Base(f), code, want.code, out.String(), errb.String())
			}
		}
	}
}

// TestNoDockerEngine: a run that cannot reach Docker exits 3 with a
// one-line reason and stores nothing.
func TestNoDockerEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	store := t.TempDir()
	for _, args := range [][]string{{"run", "--store", store}, {"clean"}, {"images", "--list"}} {
		var out, errb bytes.Buffer
		code := run(append([]string{"faultline"}, args...), &out, &errb)
		if code != 3 || !strings.Contains(errb.String(), "docker engine unreachable") {
			t.Errorf("%v: exit %d, stderr %q; want 3 and the reason", args, code, errb.String())
		}
	}
	if entries, _ := os.ReadDir(store); len(entries) > 0 {
		t.Errorf("a run that never started stored %v", entries)
	}
}

// TestSLOExitCode: a missed SLO exits 4 only with --fail-on-slo and only
// when the runs otherwise passed.
func TestSLOExitCode(t *testing.T) {
	withSLOs := func(met ...bool) harness.SuiteRun {
		var r harness.SuiteRun
		for _, m := range met {
			r.Results.SLOs = append(r.Results.SLOs, reports.SLOResult{Name: "p99", Met: m})
		}
		return r
	}
	tests := []struct {
		name string
		code int
		runs []harness.SuiteRun
		fail bool
		want int
	}{
		{"met", ExitValid, []harness.SuiteRun{withSLOs(true, true)}, true, ExitValid},
		{"no SLOs", ExitValid, []harness.SuiteRun{withSLOs()}, true, ExitValid},
		{"missed", ExitValid, []harness.SuiteRun{withSLOs(true, false)}, true, ExitSLO},
		{"missed in a later run", ExitValid, []harness.SuiteRun{withSLOs(true), withSLOs(false)}, true, ExitSLO},
		{"missed, not asked", ExitValid, []harness.SuiteRun{withSLOs(false)}, false, ExitValid},
		{"invalid wins", ExitInvalid, []harness.SuiteRun{withSLOs(false)}, true, ExitInvalid},
		{"unknown wins", ExitUnknown, []harness.SuiteRun{withSLOs(false)}, true, ExitUnknown},
		{"harness error wins", ExitHarness, []harness.SuiteRun{withSLOs(false)}, true, ExitHarness},
		{"invalid unchanged, not asked", ExitInvalid, []harness.SuiteRun{withSLOs(true)}, false, ExitInvalid},
	}
	for _, tt := range tests {
		if got := sloExitCode(tt.code, tt.runs, tt.fail); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestCheckStoredRunSLO: re-checking a stored run whose spec has SLOs puts
// the SLO verdicts, the availability and the CAP profile into results.json
// and the report.
func TestCheckStoredRunSLO(t *testing.T) {
	spec := harness.DefaultSpec()
	spec.Test, spec.SLO = "slo", "availability=90%,p99=25ms"
	const ms = 1_000_000
	// A write ok (10ms), a partition [15ms, 30ms] in which a read times
	// out, then a read ok (10ms).
	dir := writeStoredRun(t, spec, []history.Op{
		{Time: 0, Type: history.Invoke, Process: 0, F: "write", Key: "1", Value: 1},
		{Time: 10 * ms, Type: history.OK, Process: 0, F: "write", Key: "1", Value: 1},
		{Time: 15 * ms, Type: history.Invoke, Process: history.Nuker, F: "start-partition"},
		{Time: 16 * ms, Type: history.Info, Process: history.Nuker, F: "start-partition", Nodes: []string{"n1", "n2", "n3"},
			Value: map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}},
		{Time: 17 * ms, Type: history.Invoke, Process: 1, F: "read", Key: "1", Node: "n1"},
		{Time: 27 * ms, Type: history.Info, Process: 1, F: "read", Key: "1", Node: "n1"},
		{Time: 29 * ms, Type: history.Invoke, Process: history.Nuker, F: "stop-partition"},
		{Time: 30 * ms, Type: history.Info, Process: history.Nuker, F: "stop-partition", Nodes: []string{"n1"}},
		{Time: 40 * ms, Type: history.Invoke, Process: 2, F: "read", Key: "1"},
		{Time: 50 * ms, Type: history.OK, Process: 2, F: "read", Key: "1", Value: 1},
	})
	var out, errb bytes.Buffer
	code := run([]string{"faultline", "check", dir}, &out, &errb)
	if code != ExitValid {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	// availability 2/3 misses 90% overall; p99 10ms meets 25ms.
	for _, want := range []string{"SLO availability 90%: MISSED (overall 66.67%, partition 0%)", "SLO p99 25ms: met", "PC/EC: under partition refused 100% of the ops sent to cut-off nodes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	res := readStoredResults(t, dir)
	if len(res.SLOs) != 2 || res.SLOs[0].Met || !res.SLOs[1].Met {
		t.Errorf("results.json SLOs: %+v", res.SLOs)
	}
	if res.Stats.Availability == nil || res.Stats.Availability.Overall.OK != 2 {
		t.Errorf("results.json availability: %+v", res.Stats.Availability)
	}
	if res.CAPProfile.Class != "PC/EC" {
		t.Errorf("results.json cap_profile: %+v", res.CAPProfile)
	}
	html, err := os.ReadFile(filepath.Join(dir, harness.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Availability under faults", "CAP/PACELC profile", "<h2>SLOs</h2>", "missed"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestCheckRunDirTwice: a second `faultline check DIR` with another model
// says where it wrote and leaves the run's record alone; a node log linked
// to /etc/passwd is not shown.
func TestCheckRunDirTwice(t *testing.T) {
	spec := harness.DefaultSpec()
	spec.Test = "twice"
	dir := writeStoredRun(t, spec, []history.Op{
		{Time: 0, Type: history.Invoke, Process: 0, F: "write", Key: "1", Value: 1},
		{Time: 10, Type: history.OK, Process: 0, F: "write", Key: "1", Value: 1},
		{Time: 20, Type: history.Invoke, Process: 1, F: "read", Key: "1"},
		{Time: 30, Type: history.OK, Process: 1, F: "read", Key: "1", Value: 2},
	})
	if err := os.MkdirAll(filepath.Join(dir, harness.NodesDir, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, harness.NodesDir, "n1", "passwd.log")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"faultline", "check", dir}, &out, &errb); code != ExitInvalid {
		t.Fatalf("first check: exit %d\n%s%s", code, out.String(), errb.String())
	}
	record, err := os.ReadFile(filepath.Join(dir, harness.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code := run([]string{"faultline", "check", "--model", "sequential", dir}, &out, &errb)
	if code == ExitUsage || code == ExitHarness {
		t.Fatalf("second check: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"the run's own record is unchanged", filepath.Join(dir, "checks") + "/", "-sequential/results.json"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	after, err := os.ReadFile(filepath.Join(dir, harness.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(record, after) {
		t.Error("the run's results.json changed")
	}
	for _, page := range []string{harness.ReportFile, "nodes.html"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("root:x:0:0")) {
			t.Errorf("%s shows /etc/passwd", page)
		}
		if !bytes.Contains(b, []byte("not a regular file")) {
			t.Errorf("%s does not say why passwd.log is not shown", page)
		}
	}
}
