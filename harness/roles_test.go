package harness

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/models/history"
)

// withNodeInfo returns ops with the controller's node information ops
// (primaries answers and clock offsets, lone nuker info ops) inserted after
// every few ops, re-indexed.
func withNodeInfo(ops []history.Op) []history.Op {
	var out []history.Op
	add := func(op history.Op) {
		op.Index = int64(len(out))
		out = append(out, op)
	}
	info := func(t int64, i int) {
		add(history.Op{Time: t, Type: history.Info, Process: history.Nuker, F: history.PrimariesF, Value: []string{"n1"}[:i%2]})
		add(history.Op{Time: t, Type: history.Info, Process: history.Nuker, F: history.ClockOffsetsF,
			Value: map[string]any{"n1": float64(i), "n2": -i}})
	}
	info(0, 0)
	for i, op := range ops {
		add(op)
		if i%3 == 2 {
			info(op.Time, i)
		}
	}
	return out
}

// TestCheckersIgnoreNodeInfo: every checker of the catalog gives the same
// verdict and anomalies on the models' test histories with and without the
// primaries and clock-offsets ops the harness and the nuker record.
func TestCheckersIgnoreNodeInfo(t *testing.T) {
	files, err := filepath.Glob("../models/*/testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	reg := catalog.Default()
	names := reg.Names()
	slices.Sort(names)
	checked := 0
	for _, f := range files {
		ops, _, err := history.ReadAny(f)
		if err != nil || len(ops) == 0 {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, name := range names {
				e, err := reg.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				check := func(ops []history.Op) models.Result {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					return e.New().Check(ctx, ops, models.Options{})
				}
				plain, with := check(ops), check(withNodeInfo(ops))
				kinds := func(r models.Result) []string {
					var out []string
					for _, a := range r.Anomalies {
						out = append(out, a.Kind+" "+a.Key)
					}
					return out
				}
				if plain.Verdict != with.Verdict || !slices.Equal(kinds(plain), kinds(with)) {
					t.Errorf("%s: %s %v without node info ops, %s %v with them (%s)",
						name, plain.Verdict, kinds(plain), with.Verdict, kinds(with), with.Reason)
				}
				checked++
			}
		})
	}
	if checked == 0 {
		t.Fatal("no test history found under models/*/testdata")
	}
}
