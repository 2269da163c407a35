package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models"
)

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"etcd", "etcd", 0},
		{"etdc", "etcd", 1}, // one swap
		{"targte", "target", 1},
		{"registr", "register", 1},
		{"halfs", "halves", 2},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"oracle", "etcd", 5}, // the c lines up
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	targets := []string{"etcd", "maelstrom", "minio", "nats", "postgres", "redis", "zookeeper"}
	tests := []struct {
		name   string
		known  []string
		want   string
		wantOK bool
	}{
		{"etdc", targets, "etcd", true},
		{"ETCD2", targets, "etcd", true},
		{"postgresql", targets, "postgres", true},
		{"zoo", targets, "zookeeper", true}, // the start of one name
		{"etcd", targets, "", false},        // known: not a typo
		{"oracle", targets, "", false},      // nothing near
		{"x", targets, "", false},
		{"halfs", []string{"halves", "one", "bridge"}, "halves", true},
		{"rw", []string{"rw-register", "register"}, "", false}, // too short for a prefix
		{"anything", nil, "", false},
	}
	for _, tt := range tests {
		got, ok := closest(tt.name, tt.known)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("closest(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSuggestNames(t *testing.T) {
	tests := []struct{ in, want string }{
		{`unknown target "etdc" (known: [etcd maelstrom minio])`, `unknown target "etdc"; did you mean "etcd"? (known: [etcd maelstrom minio])`},
		{`unknown fault "kil" (known: partition, kill, pause)`, `unknown fault "kil"; did you mean "kill"? (known: partition, kill, pause)`},
		{`etcd: unknown option "raed" (known: read)`, `etcd: unknown option "raed"; did you mean "read"? (known: read)`},
		{`unknown target "oracle" (known: [etcd minio])`, `unknown target "oracle" (known: [etcd minio])`},
		{`a line without a name`, `a line without a name`},
		{"unknown workload \"registr\" (known: [register set])\nunknown fault \"x\" (known: kill)",
			"unknown workload \"registr\"; did you mean \"register\"? (known: [register set])\nunknown fault \"x\" (known: kill)"},
	}
	for _, tt := range tests {
		if got := suggestNames(tt.in); got != tt.want {
			t.Errorf("suggestNames(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestSeconds(t *testing.T) {
	tests := []struct{ in, want string }{
		{"60", "60s"}, {"0.5", "0.5s"}, {"0", "0s"}, {"90s", "90s"}, {"1m30s", "1m30s"},
		{"-5", "-5"}, {"1e3", "1e3"}, {"Inf", "Inf"}, {"NaN", "NaN"}, {"0x10", "0x10"}, {"soon", "soon"},
	}
	for _, tt := range tests {
		if got := seconds(tt.in); got != tt.want {
			t.Errorf("seconds(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// specOf parses run's flags as the CLI does (flags moved first, bare
// seconds) and returns the spec, without running anything.
func specOf(t *testing.T, args ...string) (harness.Spec, error) {
	t.Helper()
	code := -1
	cmd := runCommand(&code)
	var spec harness.Spec
	var err error
	cmd.Action = func(c *cli.Context) error {
		spec, err = specFromFlags(c)
		return nil
	}
	var out bytes.Buffer
	app := &cli.App{Name: "faultline", Writer: &out, ErrWriter: &out, Commands: []*cli.Command{cmd}}
	app.OnUsageError = func(c *cli.Context, e error, _ bool) error { return e }
	cmd.OnUsageError = app.OnUsageError
	if rerr := app.Run(flagsFirst(app.Commands, append([]string{"faultline", "run"}, args...))); rerr != nil {
		return spec, rerr
	}
	return spec, err
}

// TestForgivingValues: --time-limit takes bare seconds as Jepsen does and
// --concurrency takes workers per node; bad values are still refused.
func TestForgivingValues(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		timeLimit   time.Duration
		concurrency int
		wantErr     string
	}{
		{"bare seconds", []string{"--time-limit", "60"}, 60 * time.Second, 10, ""},
		{"bare seconds with =", []string{"--time-limit=45"}, 45 * time.Second, 10, ""},
		{"fraction of a second", []string{"-t", "0.5"}, 500 * time.Millisecond, 10, ""},
		{"duration still works", []string{"--time-limit", "1m30s"}, 90 * time.Second, 10, ""},
		{"other duration flags too", []string{"--op-timeout", "3", "--time-limit", "20"}, 20 * time.Second, 10, ""},
		{"per node", []string{"--nodes", "3", "--concurrency", "2n"}, time.Minute, 6, ""},
		{"per node, nodes after", []string{"-c", "4n", "-n", "5"}, time.Minute, 20, ""},
		{"n alone is one per node", []string{"--nodes", "3", "--concurrency", "n"}, time.Minute, 3, ""},
		{"plain int", []string{"--concurrency", "7"}, time.Minute, 7, ""},
		{"bad duration", []string{"--time-limit", "soon"}, 0, 0, "time-limit"},
		{"negative seconds", []string{"--time-limit", "-5"}, 0, 0, "time-limit"},
		{"zero per node", []string{"--concurrency", "0n"}, 0, 0, "2n"},
		{"bad concurrency", []string{"--concurrency", "2x"}, 0, 0, "2n"},
		{"negative concurrency", []string{"--concurrency", "-1"}, 0, 0, "concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := specOf(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.TimeLimit.D() != tt.timeLimit || spec.Concurrency != tt.concurrency {
				t.Errorf("time limit %s, concurrency %d; want %s, %d", spec.TimeLimit.D(), spec.Concurrency, tt.timeLimit, tt.concurrency)
			}
		})
	}
	t.Run("env var per node", func(t *testing.T) {
		t.Setenv("FAULTLINE_CONCURRENCY", "3n")
		spec, err := specOf(t, "--nodes", "4")
		if err != nil || spec.Concurrency != 12 {
			t.Errorf("concurrency %d, err %v; want 12", spec.Concurrency, err)
		}
	})
}

// TestForgivingCLI: usage errors are one line on stderr (nothing on
// stdout), exit 64, with the closest known flag, command or name.
func TestForgivingCLI(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string // the whole of stderr, without the newline
	}{
		{"mistyped flag", []string{"run", "--targte", "etcd"}, "faultline: unknown flag --targte; did you mean --target?"},
		{"mistyped flag of check", []string{"check", "--modle", "x", "y"}, "faultline: unknown flag --modle; did you mean --model?"},
		{"unknown flag, nothing near", []string{"run", "--frobnicate"}, "faultline: unknown flag --frobnicate (see --help)"},
		{"mistyped global flag", []string{"--versoin"}, "faultline: unknown flag --versoin; did you mean --version?"},
		{"subcommand flag (once, on stderr)", []string{"images", "save", "--prnue", "dir"}, "faultline: unknown flag --prnue; did you mean --prune?"},
		{"mistyped target", []string{"run", "--target", "etdc"}, `faultline: unknown target "etdc"; did you mean "etcd"? (known: [etcd maelstrom minio nats postgres redis zookeeper])`},
		{"mistyped fault", []string{"run", "--nemesis", "partition,kil"}, `faultline: unknown fault "kil"; did you mean "kill"? (known: partition, kill, pause, failover, clock, packet, member, power, delay, upgrade, disk-full, disk-error, slow-disk, corrupt)`},
		{"mistyped command", []string{"rnu"}, `faultline: unknown command "rnu"; did you mean "run"? (see faultline --help)`},
		{"help of a mistyped command", []string{"help", "chekc"}, `faultline: help: no command "chekc"; did you mean "check"?`},
		{"help of a mistyped subcommand", []string{"help", "images", "sav"}, `faultline: help: no command "images sav"; did you mean "save"?`},
		{"unknown shell", []string{"completion", "bahs"}, `faultline: completion: unknown shell "bahs"; did you mean "bash"? (bash, zsh or fish)`},
		{"leave running with repeats", []string{"run", "--leave-db-running", "--test-count", "2"}, "faultline: --leave-db-running keeps one run's cluster: use it with --test-count 1, not 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"faultline"}, tt.args...), &out, &errb)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if out.Len() != 0 {
				t.Errorf("stdout should be empty, got:\n%s", out.String())
			}
			if got := strings.TrimSuffix(errb.String(), "\n"); got != tt.stderr {
				t.Errorf("stderr:\n got %q\nwant %q", got, tt.stderr)
			}
		})
	}
}

// TestHelpAndCompletion: `faultline help CMD` is CMD's --help; completion
// scripts exist for the three shells.
func TestHelpAndCompletion(t *testing.T) {
	tests := []struct {
		args []string
		want []string // substrings of stdout
	}{
		{[]string{"help"}, []string{"USAGE", "COMMANDS", "completion"}},
		{[]string{"help", "run"}, []string{"faultline run - run a test", "--time-limit", "--leave-db-running", "2n: 2 per node"}},
		{[]string{"help", "images", "save"}, []string{"faultline images save", "--prune"}},
		{[]string{"h", "check"}, []string{"faultline check", "--json"}},
		{[]string{"completion", "bash"}, []string{"complete -o default -F _faultline_complete faultline", "--generate-bash-completion"}},
		{[]string{"completion", "zsh"}, []string{"#compdef faultline", "bashcompinit", "_faultline_complete"}},
		{[]string{"completion", "fish"}, []string{"complete -c faultline", "time-limit"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(append([]string{"faultline"}, tt.args...), &out, &errb); code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestCheckJSON: check --json prints the shape run --json prints.
func TestCheckJSON(t *testing.T) {
	good, bad := registerEDN(t)
	tests := []struct {
		name    string
		args    []string
		code    int
		verdict models.Verdict
		passed  bool
	}{
		{"valid", []string{"check", "--json", "--model", "cas-register", good}, 0, models.Valid, true},
		{"invalid", []string{"check", "--model", "cas-register", bad, "--json"}, 1, models.Invalid, false},
		{"as a workload", []string{"check", "--json", "--workload", "register", bad}, 1, models.Invalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"faultline"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errb.String())
			}
			var got jsonRun
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdout is not one run's JSON: %v", err)
			}
			if got.Results.Verdict != tt.verdict || got.Passed != tt.passed || got.Expected != models.Valid {
				t.Errorf("verdict %s passed %v expected %s; want %s %v valid", got.Results.Verdict, got.Passed, got.Expected, tt.verdict, tt.passed)
			}
			if dec.More() {
				t.Error("more than one JSON value on stdout")
			}
		})
	}
}

// TestREADMEEnvVars: every flag of run has its environment variable
// (FAULTLINE_ and the name in upper snake case), as the README says, and
// every flag the README's run table lists exists.
func TestREADMEEnvVars(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "Main `run` flags (each has an environment variable")
	if !ok {
		t.Fatal("README has no run flag table")
	}
	_, table, _ = strings.Cut(table, "\n\n") // the table follows its heading line
	table, _, _ = strings.Cut(table, "\n\n")
	env := map[string][]string{}
	code := -1
	for _, f := range runCommand(&code).Flags {
		var vars []string
		if e, ok := f.(interface{ GetEnvVars() []string }); ok {
			vars = e.GetEnvVars()
		}
		env[f.Names()[0]] = vars
	}
	listed := regexp.MustCompile("(?m)^\\| `--([a-z-]+)").FindAllStringSubmatch(table, -1)
	listed = append(listed, regexp.MustCompile(" / `--([a-z-]+)").FindAllStringSubmatch(table, -1)...)
	if len(listed) < 10 {
		t.Fatalf("found %d flags in the README's table", len(listed))
	}
	for _, m := range listed {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("README lists --%s, which run lacks", m[1])
		}
	}
	for name, vars := range env {
		want := "FAULTLINE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if name == "target-opt" {
			want = "FAULTLINE_TARGET_OPTS" // a list
		}
		if len(vars) != 1 || vars[0] != want {
			t.Errorf("--%s: env vars %v, want [%s]", name, vars, want)
		}
	}
}
