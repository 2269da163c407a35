package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// chunkJSByMarshal is what chunkJS writes, by encoding/json: the reference
// its own encoder must match byte for byte.
func chunkJSByMarshal(c int, rows []historyRow) []byte {
	strs := []string{}
	pos := map[string]int{}
	intern := func(s string) int {
		if i, ok := pos[s]; ok {
			return i
		}
		pos[s] = len(strs)
		strs = append(strs, s)
		return len(strs) - 1
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = []any{r.inv, r.comp, r.t0, r.t1, intern(r.process), intern(r.f), r.key, r.value,
			intern(r.outcome), intern(r.node), intern(r.err)}
	}
	body, err := json.Marshal(map[string]any{"s": strs, "r": out})
	if err != nil {
		panic(err)
	}
	return fmt.Appendf(nil, "faultlineHistory.chunk(%d,%s);\n", c, body)
}

func TestChunkJSAsEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", `q"uote`, `back\slash`, "<script>", "a&b", "tab\there", "nl\n", "\x00\x1f\x7f",
		"é", "\u2028\u2029", "\xff\xfe", "→ 3", "[1 2]", "nuker"}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func() string { return odd[rng.IntN(len(odd))] }
	for c := range 50 {
		rows := make([]historyRow, rng.IntN(40))
		for i := range rows {
			rows[i] = historyRow{inv: rng.Int64N(1e6) - 5, comp: rng.Int64N(1e6) - 1, t0: rng.Int64(), t1: -1,
				process: pick(), f: pick(), key: pick(), value: pick(), outcome: pick(), node: pick(), err: pick()}
		}
		got, err := chunkJS(c, rows)
		if err != nil {
			t.Fatal(err)
		}
		if want := chunkJSByMarshal(c, rows); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d:\n got %s\nwant %s", c, got, want)
		}
	}
}
