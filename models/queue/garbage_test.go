package queue

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// TestGarbage feeds ops with values of every odd shape: the checker must
// neither panic nor answer anything but a verdict.
func TestGarbage(t *testing.T) {
	values := []any{
		nil, int64(1), int64(-3), "7", "x", json.Number("2"), json.Number("2.5"), 1.5, true,
		[]any{}, []any{int64(1), "a"}, []any{[]any{int64(0), int64(5)}}, []any{nil},
		map[string]any{}, map[string]any{"0": int64(5), "1": nil}, map[string]any{"from": int64(0), "to": "1", "amount": int64(2)},
		map[string]any{"id": int64(3), "key": "k"}, map[string]any{"token": "t"}, map[int]int{1: 2}, struct{}{},
	}
	fs := []string{"enqueue", "dequeue", "drain", "ack"}
	types := []history.Type{history.Invoke, history.OK, history.Fail, history.Info, "bogus"}
	rng := rand.New(rand.NewPCG(5, 5))
	for range 300 {
		n := rng.IntN(40)
		ops := make([]history.Op, n)
		for i := range ops {
			ops[i] = history.Op{
				Index: int64(i), Time: int64(rng.IntN(100)), Type: types[rng.IntN(len(types))],
				Process: history.Process(rng.IntN(4) - 1), F: fs[rng.IntN(len(fs))], Value: values[rng.IntN(len(values))],
			}
			if rng.IntN(3) == 0 {
				ops[i].Key = "k"
			}
		}
		res := New().Check(context.Background(), ops, models.Options{})
		switch res.Verdict {
		case models.Valid, models.Invalid, models.Unknown:
		default:
			t.Fatalf("verdict %q", res.Verdict)
		}
		if res.Verdict == models.Invalid && len(res.Anomalies) == 0 {
			t.Fatalf("invalid without anomalies: %s", res.Reason)
		}
	}
}
