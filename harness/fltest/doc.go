// Package fltest runs faultline tests from Go's testing package, so a Go
// project can keep its fault-injection tests next to its other tests and
// run them with `go test`:
//
//	func TestMyStoreUnderPartitions(t *testing.T) {
//		res := fltest.Run(t, fltest.Test{
//			Target:    mystore.Target{Replicas: 3}, // the user's own type
//			Workload:  workloads.Register{},
//			Nemesis:   []string{"partition"},
//			TimeLimit: 20 * time.Second,
//		})
//		if res.Stats.Ops < 100 {
//			t.Errorf("only %d ops", res.Stats.Ops)
//		}
//	}
//
// Target is any value that implements targets.Target, so a system from
// the user's own module runs exactly like the shipped ones; a shipped one
// can also be named (TargetName: "etcd"). Run starts the cluster in Docker, drives the workload while injecting the
// faults, checks the history and stores the run like `faultline run` does
// (spec.json, history.jsonl, results.json, report.html, node logs). Progress
// goes to t.Logf, so `go test -v` shows it as it happens.
//
// The Go test fails with t.Errorf when the verdict is not the one expected:
// for an invalid history the message names each anomaly (kind, key and a
// sentence a person can follow, at most ten) and the path of the report;
// for an unknown verdict it gives the reason (set [Test.AllowUnknown] to
// accept it). When the harness itself could not run the test (setup
// failure, interrupted) the Go test fails with t.Fatalf. A system with a
// known weakness can be tested for it with [Test.Expect] set to
// [models.Invalid].
//
// # Docker
//
// Without a reachable Docker engine the test is skipped with a loud
// message, and with the environment variable CI=true it fails instead: in
// CI a fault-injection test must not silently vanish. The same rule is
// available to other tests as [NeedDocker]. With `go test -short` (and CI
// unset) the runs are skipped too. Docker is found the way the docker CLI
// finds it (DOCKER_HOST and friends). The images faultline needs are built
// on first use, without a registry (about 3.5 minutes on 2 cores); later
// runs reuse them.
//
// # Where runs are stored
//
// Runs go to [Test.Store] when set, else to $FAULTLINE_STORE when set, else
// to a directory under t.TempDir(), which Go removes when the test ends. To
// keep the reports, e.g. in CI to upload them, set FAULTLINE_STORE to an
// absolute path (a relative one is relative to the package directory `go
// test` runs in). Each run is stored as <store>/<test name>/<UTC time>/; the
// test name defaults to the Go test's name.
//
// # Time
//
// A run takes its time limit plus about 15 to 45 s for cluster start,
// recovery wait, final reads and teardown (more on a busy machine). Run stops the run phase early and tears
// the cluster down when the Go test's deadline (go test -timeout) is less
// than a minute away, or on Ctrl-C (a second Ctrl-C kills the test binary
// at once; `faultline clean` then removes what is left).
package fltest
