package nuker

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/models/history"
)

// primaryTarget is a fakeTarget with one primary that fails over to the
// next node in name order, and rejoins the old primary on EndFailover.
type primaryTarget struct {
	*fakeTarget
	mu       sync.Mutex
	primary  string
	deposed  string
	names    []string
	lookups  int
	failErr  error
	rejoined []string
}

func (t *primaryTarget) Primaries(context.Context) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lookups++
	if t.primary == "" {
		return nil, errors.New("no primary elected")
	}
	return []string{t.primary}, nil
}

func (t *primaryTarget) Failover(context.Context) ([]string, string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failErr != nil {
		return nil, "", t.failErr
	}
	old := t.primary
	i := slices.Index(t.names, old)
	t.primary = t.names[(i+1)%len(t.names)]
	t.deposed = old
	return []string{t.primary, old}, "promoted " + t.primary + ", deposed " + old, nil
}

func (t *primaryTarget) EndFailover(context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deposed == "" {
		return "nothing to rejoin", nil
	}
	t.rejoined = append(t.rejoined, t.deposed)
	what := t.deposed + " rejoined as a replica of " + t.primary
	t.deposed = ""
	return what, nil
}

// runOne runs a nuker until its first fault has started and stopped, and
// returns the history.
func runOne(t *testing.T, cfg Config) []history.Op {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	rec.hook = func(op history.Op) {
		if op.Type == history.Info && strings.HasPrefix(op.F, history.StopPrefix) {
			cancel()
		}
	}
	cfg.Record = rec.record
	cfg.Interval = time.Millisecond
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rec.history()
}

func TestFailoverFault(t *testing.T) {
	fakes := fakeNodes(3)
	target := &primaryTarget{fakeTarget: newFakeTarget(), primary: "n1", names: []string{"n1", "n2", "n3"}}
	ops := runOne(t, Config{Faults: []string{FaultFailover}, Nodes: asNodes(fakes), Target: target})
	if len(ops) < 4 {
		t.Fatalf("%d ops, want at least 4: %v", len(ops), ops)
	}
	start, stop := ops[1], ops[3]
	if start.F != "start-failover" || !reflect.DeepEqual(start.Nodes, []string{"n1", "n2"}) || start.Value != "promoted n2, deposed n1" || start.Error != "" {
		t.Errorf("start: %+v", start)
	}
	if stop.F != "stop-failover" || stop.Value != "n1 rejoined as a replica of n2" || stop.Error != "" {
		t.Errorf("stop: %+v", stop)
	}
	if !reflect.DeepEqual(target.rejoined, []string{"n1"}) {
		t.Errorf("rejoined %v, want [n1]", target.rejoined)
	}
	// The recorded schedule replays as a failover again.
	steps, err := ScheduleFromHistory(ops)
	if err != nil || len(steps) != 1 || steps[0].Fault != FaultFailover {
		t.Errorf("schedule %v, %v", steps, err)
	}
}

func TestFailoverFaultErrorRecorded(t *testing.T) {
	fakes := fakeNodes(3)
	target := &primaryTarget{fakeTarget: newFakeTarget(), primary: "n1", names: []string{"n1", "n2", "n3"}, failErr: errors.New("no standby caught up")}
	ops := runOne(t, Config{Faults: []string{FaultFailover}, Nodes: asNodes(fakes), Target: target})
	if ops[1].Error != "no standby caught up" {
		t.Errorf("start info %+v, want the error recorded", ops[1])
	}
}

func TestPrimariesPartition(t *testing.T) {
	tests := []struct {
		name    string
		primary string
		want    Grudge
		wantErr string
	}{
		{"isolates the primary", "n2", Complete([]string{"n2"}, []string{"n1", "n3"}), ""},
		{"no primary known", "", nil, "no primary elected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := fakeNodes(3)
			target := &primaryTarget{fakeTarget: newFakeTarget(), primary: tt.primary, names: []string{"n1", "n2", "n3"}}
			ops := runOne(t, Config{Faults: []string{FaultPartition}, Partitions: []string{PartitionPrimaries}, Nodes: asNodes(fakes), Target: target})
			inv, info := ops[0], ops[1]
			if tt.wantErr != "" {
				if !strings.Contains(info.Error, tt.wantErr) {
					t.Fatalf("start info error %q, want %q", info.Error, tt.wantErr)
				}
				return
			}
			d := inv.Value.(map[string]any)
			if d["partition"] != PartitionPrimaries || !reflect.DeepEqual(d["grudge"], tt.want) {
				t.Errorf("invoke value %v, want grudge %v", d, tt.want)
			}
			if !reflect.DeepEqual(info.Value, tt.want) || info.Error != "" {
				t.Errorf("info %v %q, want %v", info.Value, info.Error, tt.want)
			}
			for _, f := range fakes {
				if d := f.dropping(); len(d) > 0 {
					t.Errorf("%s still drops %v after the heal", f.name, d)
				}
			}
		})
	}
}
