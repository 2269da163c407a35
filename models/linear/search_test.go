package linear

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// mediumHistory simulates workers on one register: each op takes effect
// at a random moment between its invocation and its completion, so the
// history is linearizable, unless corrupt is positive: then about one read
// in corrupt returns a value written a little earlier (stale) or one never
// written. Values come from a small range so that several writes write the
// same value; one write or cas in info ends info (taking effect or not),
// and some cas fail.
func mediumHistory(rng *rand.Rand, n, workers, vals, corrupt, info int) []history.Op {
	type pending struct {
		inv     history.Op
		applied bool
		res     history.Op
	}
	ws := make([]*pending, workers)
	procs := make([]history.Process, workers)
	for i := range procs {
		procs[i] = history.Process(i)
	}
	var out []history.Op
	emit := func(o history.Op) {
		o.Index = int64(len(out))
		o.Time = o.Index * 10
		out = append(out, o)
	}
	var cur *int64
	var old []int64
	for len(out) < n {
		w := rng.IntN(workers)
		p := ws[w]
		switch {
		case p == nil:
			o := history.Op{Process: procs[w], Type: history.Invoke}
			switch r := rng.IntN(10); {
			case r < 5:
				o.F = "read"
			case r < 8:
				o.F, o.Value = "write", int64(rng.IntN(vals))
			default:
				o.F, o.Value = "cas", []any{int64(rng.IntN(vals)), int64(rng.IntN(vals))}
			}
			ws[w] = &pending{inv: o}
			emit(o)
		case !p.applied:
			p.applied = true
			res := p.inv
			res.Type = history.OK
			info := p.inv.F != "read" && rng.IntN(info) == 0
			skip := info && rng.IntN(2) == 0
			switch p.inv.F {
			case "read":
				res.Value = nil
				if cur != nil {
					res.Value = *cur
				}
				if corrupt > 0 && rng.IntN(corrupt) == 0 {
					if len(old) > 2 && rng.IntN(2) == 0 {
						res.Value = old[len(old)-2-rng.IntN(min(len(old)-1, 3))]
					} else {
						res.Value = int64(vals + rng.IntN(2))
					}
				}
			case "write":
				if !skip {
					v, _ := history.Int(p.inv.Value)
					cur = &v
					old = append(old, v)
				}
			case "cas":
				a, b, _ := history.IntPair(p.inv.Value)
				switch {
				case skip:
				case cur != nil && *cur == a:
					cur = &b
					old = append(old, b)
				default:
					res.Type = history.Fail
				}
			}
			if info {
				res.Type = history.Info
			}
			p.res = res
		default:
			emit(p.res)
			ws[w] = nil
			if p.res.Type == history.Info {
				procs[w] += history.Process(workers)
			}
		}
	}
	return out
}

// TestSearchAgreesWithPorcupine: the own search and porcupine give the
// same verdict on random small and medium histories, valid and invalid,
// for each register model; on the small ones, so does the brute-force
// reference.
func TestSearchAgreesWithPorcupine(t *testing.T) {
	scale := 1
	if testing.Short() {
		scale = 5
	}
	tests := []struct {
		name        string
		model       string
		n           int // histories
		gen         func(rng *rand.Rand) []history.Op
		reference   bool
		wantInvalid bool // the generator must yield invalid histories too
	}{
		{"small cas", CASRegister, 3000, randomHistory, true, true},
		{"small kv", KV, 1000, randomHistory, true, true},
		{"medium valid", CASRegister, 300, func(rng *rand.Rand) []history.Op {
			return mediumHistory(rng, 40+rng.IntN(200), 2+rng.IntN(5), 2+rng.IntN(4), 0, 33)
		}, false, false},
		{"medium corrupt", CASRegister, 600, func(rng *rand.Rand) []history.Op {
			return mediumHistory(rng, 40+rng.IntN(200), 2+rng.IntN(5), 2+rng.IntN(4), 10+rng.IntN(60), 33)
		}, false, true},
		{"medium info-heavy", CASRegister, 600, func(rng *rand.Rand) []history.Op {
			return mediumHistory(rng, 30+rng.IntN(90), 2+rng.IntN(5), 2+rng.IntN(5), rng.IntN(60), 2+rng.IntN(4))
		}, false, true},
		{"medium register", Register, 300, func(rng *rand.Rand) []history.Op {
			ops := mediumHistory(rng, 40+rng.IntN(150), 2+rng.IntN(4), 3, 30, 33)
			for i := range ops {
				if ops[i].F == "cas" { // the register has no cas: make them reads
					ops[i].F, ops[i].Value = "read", nil
					if ops[i].Type == history.OK {
						ops[i].Value = nil
					}
				}
			}
			return ops
		}, false, false},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ti), 17))
			// Many ops of unknown outcome can make porcupine's search
			// exponential: such a history is skipped, and counted, when
			// porcupine runs out of time; the own search must decide every
			// history porcupine decides.
			own := &Checker{Model: tt.model, Parallelism: 1, Timeout: 10 * time.Second}
			por := &Checker{Model: tt.model, Parallelism: 1, Porcupine: true, Timeout: 2 * time.Second}
			var valid, invalid, skipped int
			for i := range tt.n / scale {
				ops := tt.gen(rng)
				a := own.Check(context.Background(), ops, models.Options{})
				b := por.Check(context.Background(), ops, models.Options{})
				if b.Verdict == models.Unknown && b.Stats["unknown_keys"] > 0 && a.Verdict != models.Unknown {
					skipped++
					continue
				}
				if a.Verdict != b.Verdict {
					t.Fatalf("history %d: own search says %s (%s), porcupine %s (%s):\n%s", i, a.Verdict, a.Reason, b.Verdict, b.Reason, dump(ops))
				}
				if tt.reference && a.Stats["keys"] > 0 {
					if want := referenceLinearizable(ops); want != (a.Verdict == models.Valid) {
						t.Fatalf("history %d: %s, reference says linearizable=%v:\n%s", i, a.Verdict, want, dump(ops))
					}
				}
				switch a.Verdict {
				case models.Valid:
					valid++
				case models.Invalid:
					invalid++
					if len(a.Anomalies) == 0 || a.Anomalies[0].Explanation == "" {
						t.Fatalf("history %d: invalid without an explained anomaly: %+v", i, a.Anomalies)
					}
				}
			}
			t.Logf("%d valid, %d invalid, %d skipped (porcupine ran out of time)", valid, invalid, skipped)
			if skipped > tt.n/scale/10 {
				t.Errorf("%d of %d histories skipped", skipped, tt.n/scale)
			}
			if valid == 0 || (tt.wantInvalid && invalid == 0) {
				t.Errorf("generator is lopsided: %d valid, %d invalid", valid, invalid)
			}
		})
	}
}

// TestSearchCorpus: on the Knossos corpus both searches give Knossos's
// verdict.
func TestSearchCorpus(t *testing.T) {
	root := filepath.Join(corpusDir(t), "knossos", "cas-register")
	files, err := filepath.Glob(filepath.Join(root, "*", "*.edn"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus histories under %s: %v", root, err)
	}
	for _, f := range files {
		want := models.Valid
		if filepath.Base(filepath.Dir(f)) == "bad" {
			want = models.Invalid
		}
		ops, _, err := history.ReadAny(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, porcupine := range []bool{false, true} {
			res := (&Checker{Model: CASRegister, Porcupine: porcupine}).Check(context.Background(), ops, models.Options{})
			if res.Verdict != want {
				t.Errorf("%s (porcupine %v): %s (%s), want %s", f, porcupine, res.Verdict, res.Reason, want)
			}
		}
	}
}

// TestSearchLarge: large generated histories, one key and many, valid
// and with one stale read, are judged right without porcupine.
func TestSearchLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, tt := range []struct {
		n, keys int
		stale   bool
	}{
		{100_000, 1, false}, {100_000, 1, true}, {100_000, 100, false}, {100_000, 100, true},
	} {
		t.Run(fmt.Sprintf("n=%d/keys=%d/stale=%v", tt.n, tt.keys, tt.stale), func(t *testing.T) {
			ops := kvHistory(tt.n, 10, tt.keys, 3)
			want := models.Valid
			if tt.stale {
				ops = staleAt(ops, tt.n*2/3)
				want = models.Invalid
			}
			res := NewKV().Check(context.Background(), ops, models.Options{})
			if res.Verdict != want {
				t.Fatalf("%s (%s), want %s", res.Verdict, res.Reason, want)
			}
			if want == models.Invalid && (len(res.Anomalies) != 1 || res.Anomalies[0].Explanation == "") {
				t.Errorf("anomalies %+v", res.Anomalies)
			}
		})
	}
}

// staleAt makes the first ok read completed at or after position at
// stale: of a value x whose ok write W completed before the read began, it
// returns instead the value of an ok write completed before W began. W
// then certainly overwrote it before the read, so the history is no longer
// linearizable (values are unique, as kvHistory writes them).
func staleAt(ops []history.Op, at int) []history.Op {
	ops = append([]history.Op(nil), ops...)
	type write struct {
		inv, done int
		val       any
	}
	inv := map[history.Process]int{}
	writes := map[string][]write{} // by key, in order of completion
	byVal := map[any]write{}
	for i, o := range ops {
		if o.Type == history.Invoke {
			inv[o.Process] = i
			continue
		}
		if o.Type != history.OK {
			continue
		}
		switch o.F {
		case "write":
			w := write{inv[o.Process], i, o.Value}
			writes[o.Key] = append(writes[o.Key], w)
			byVal[o.Value] = w
		case "read":
			w, ok := byVal[o.Value]
			if i < at || !ok || w.done > inv[o.Process] {
				continue
			}
			for j := len(writes[o.Key]) - 1; j >= 0; j-- {
				if old := writes[o.Key][j]; old.done < w.inv {
					ops[i].Value = old.val
					return ops
				}
			}
		}
	}
	panic("no read to make stale")
}

// TestSearchWindowVisualized: a key too large for porcupine to check
// again, found invalid by the own search, is still explained and drawn:
// porcupine draws the window around the violation.
func TestSearchWindowVisualized(t *testing.T) {
	ops := staleAt(kvHistory(60_000, 10, 1, 5), 40_000)
	dir := t.TempDir()
	res := NewKV().Check(context.Background(), ops, dirOptions(dir))
	if res.Verdict != models.Invalid || len(res.Anomalies) != 1 {
		t.Fatalf("%s (%s), anomalies %+v", res.Verdict, res.Reason, res.Anomalies)
	}
	if res.Stats["ops"] <= explainOps {
		t.Fatalf("%d ops: not more than porcupine's bound %d, so no window", res.Stats["ops"], explainOps)
	}
	if len(res.Artifacts) != 1 {
		t.Fatalf("artifacts %v (%s)", res.Artifacts, res.Reason)
	}
	html, err := os.ReadFile(filepath.Join(dir, VisualizationFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"anomalies", res.Anomalies[0].Kind, "linearized before this window"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
	t.Logf("%s; %d bytes of HTML", res.Anomalies[0].Explanation, len(html))
}
