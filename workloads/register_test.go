package workloads

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models/history"
)

// TestRegisterGeneratorKeys: groups of workers share a key for a bounded
// number of ops, then move to a fresh one; written values are unique per key.
func TestRegisterGeneratorKeys(t *testing.T) {
	g := Register{}.NewGenerator(Config{Concurrency: 6, ThreadsPerKey: 3, OpsPerKey: 10})
	rng := rand.New(rand.NewPCG(1, 2))
	perKey := map[string]int{}
	written := map[string]map[int64]bool{}
	groupsOfKey := map[string]map[int]bool{}
	for i := 0; i < 600; i++ {
		w := i % 6
		op := g.Next(w, rng)
		perKey[op.Key]++
		if groupsOfKey[op.Key] == nil {
			groupsOfKey[op.Key] = map[int]bool{}
			written[op.Key] = map[int64]bool{}
		}
		groupsOfKey[op.Key][w/3] = true
		var v int64
		switch op.F {
		case "read":
			continue
		case "write":
			v, _ = history.Int(op.Value)
		case "cas":
			_, v, _ = history.IntPair(op.Value)
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
		if written[op.Key][v] {
			t.Fatalf("value %d written twice to key %s", v, op.Key)
		}
		written[op.Key][v] = true
	}
	if len(perKey) != 60 {
		t.Errorf("%d keys used, want 60 (600 ops / 10 per key)", len(perKey))
	}
	for k, n := range perKey {
		if n != 10 {
			t.Errorf("key %s took %d ops, want 10", k, n)
		}
		if len(groupsOfKey[k]) != 1 {
			t.Errorf("key %s shared by worker groups %v", k, groupsOfKey[k])
		}
	}
	if len(g.Final()) != 60 {
		t.Errorf("final reads %d, want one per key", len(g.Final()))
	}
}

type fakeRegister struct {
	vals map[string]int64
	err  error
}

func (f *fakeRegister) Close() error { return nil }
func (f *fakeRegister) Read(ctx context.Context, k string) (int64, bool, error) {
	v, ok := f.vals[k]
	return v, ok, f.err
}
func (f *fakeRegister) Write(ctx context.Context, k string, v int64) error {
	if f.err == nil {
		f.vals[k] = v
	}
	return f.err
}
func (f *fakeRegister) CAS(ctx context.Context, k string, old, nw int64) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	if f.vals[k] != old {
		return false, nil
	}
	f.vals[k] = nw
	return true, nil
}

// TestRegisterInvokeOutcomes: the ok/fail/info rule.
func TestRegisterInvokeOutcomes(t *testing.T) {
	timeout := context.DeadlineExceeded
	refused := Definite(errors.New("refused"))
	tests := []struct {
		name  string
		op    history.Op
		vals  map[string]int64
		err   error
		want  history.Type
		value any
	}{
		{"read ok", history.Op{F: "read", Key: "k"}, map[string]int64{"k": 3}, nil, history.OK, int64(3)},
		{"read unset", history.Op{F: "read", Key: "k"}, map[string]int64{}, nil, history.OK, nil},
		{"read timeout is fail", history.Op{F: "read", Key: "k"}, map[string]int64{}, timeout, history.Fail, nil},
		{"write ok", history.Op{F: "write", Key: "k", Value: int64(4)}, map[string]int64{}, nil, history.OK, int64(4)},
		{"write timeout is info", history.Op{F: "write", Key: "k", Value: int64(4)}, map[string]int64{}, timeout, history.Info, int64(4)},
		{"write refused is fail", history.Op{F: "write", Key: "k", Value: int64(4)}, map[string]int64{}, refused, history.Fail, int64(4)},
		{"cas ok", history.Op{F: "cas", Key: "k", Value: []int64{1, 2}}, map[string]int64{"k": 1}, nil, history.OK, []int64{1, 2}},
		{"cas mismatch is fail", history.Op{F: "cas", Key: "k", Value: []int64{1, 2}}, map[string]int64{"k": 5}, nil, history.Fail, []int64{1, 2}},
		{"cas timeout is info", history.Op{F: "cas", Key: "k", Value: []int64{1, 2}}, map[string]int64{"k": 1}, timeout, history.Info, []int64{1, 2}},
	}
	for _, tt := range tests {
		c := &fakeRegister{vals: tt.vals, err: tt.err}
		tt.op.Type = history.Invoke
		got := Register{}.Invoke(context.Background(), c, tt.op)
		if got.Type != tt.want {
			t.Errorf("%s: type %s, want %s (err %q)", tt.name, got.Type, tt.want, got.Error)
		}
		if a, b := history.Int(got.Value); b {
			if w, _ := history.Int(tt.value); a != w {
				t.Errorf("%s: value %v, want %v", tt.name, got.Value, tt.value)
			}
		} else if tt.value == nil && got.Value != nil {
			t.Errorf("%s: value %v, want nil", tt.name, got.Value)
		}
		if got.Type != history.OK && got.Error == "" {
			t.Errorf("%s: no error text", tt.name)
		}
		// A failed comparison is an answer (served); a refusal is not.
		if wantAnswered := tt.name == "cas mismatch is fail"; got.Answered != wantAnswered {
			t.Errorf("%s: answered=%v, want %v", tt.name, got.Answered, wantAnswered)
		}
	}
}

func TestVersions(t *testing.T) {
	var vs Versions[uint64]
	vs.Remember("k", 7, 3)
	vs.Remember("k", 8, 4)
	vs.Remember("j", 7, 9)
	tests := []struct {
		key   string
		value int64
		want  uint64
		ok    bool
	}{
		{"k", 7, 3, true},
		{"k", 8, 4, true},
		{"j", 7, 9, true},
		{"k", 9, 0, false},
		{"x", 7, 0, false},
	}
	for _, tt := range tests {
		if got, ok := vs.Of(tt.key, tt.value); got != tt.want || ok != tt.ok {
			t.Errorf("Of(%q, %d) = %d, %v; want %d, %v", tt.key, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}
