package models

import (
	"encoding/json"
	"math"
	"testing"
)

func TestValueKey(t *testing.T) {
	tests := []struct {
		name string
		a, b any
		same bool
	}{
		{"int and its JSON number", int64(42), json.Number("42"), true},
		{"int and raw JSON", 42, json.RawMessage(`42`), true},
		{"integer and float of the same value", json.Number("1"), 1.0, true},
		{"integer and exponent", json.Number("1000"), json.Number("1e3"), true},
		{"float texts", json.Number("1.50"), 1.5, true},
		{"large integer and its exponent form", json.Number("1000000000000000000000"), json.Number("1e21"), true},
		{"2^53 as float and integer", float64(1 << 53), json.Number("9007199254740992"), true},
		{"zero and minus zero", json.Number("0"), json.Number("-0"), true},
		{"big integers exactly", json.Number("123456789012345678901234567890"), json.Number("123456789012345678901234567891"), false},
		{"different numbers", 1, 2, false},
		{"number and its string", 5, "5", false},
		{"strings exactly", "n1-0", "n1-0", true},
		{"strings differ in case", "n1-a", "n1-A", false},
		{"string and raw string", "a\"b\u00e9<", json.RawMessage(`"a\"b\u00e9\u003c"`), true},
		{"null", nil, json.RawMessage(`null`), true},
		{"null and empty string", nil, "", false},
		{"true and \"true\"", true, "true", false},
		{"arrays in order", []any{1, "a"}, json.RawMessage(`[1.0,"a"]`), true},
		{"arrays out of order", []any{1, "a"}, []any{"a", 1}, false},
		{"objects in any member order", json.RawMessage(`{"a":1,"b":[2]}`), map[string]any{"b": []int{2}, "a": 1}, true},
		{"objects differ", map[string]any{"a": 1}, map[string]any{"a": 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, err := ValueKey(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := ValueKey(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if (ka == kb) != tt.same {
				t.Errorf("keys %q and %q: same=%v, want %v", ka, kb, ka == kb, tt.same)
			}
		})
	}
	if _, err := ValueKey(make(chan int)); err == nil {
		t.Error("a channel has a key")
	}
}

// TestValueKeyFastPath: the scalars keyed directly get the key their JSON
// text gets through the general path.
func TestValueKeyFastPath(t *testing.T) {
	for _, v := range []any{nil, true, false, "", "n1-0", "a<b>&c\"\\\n\u2028é🐢", "bad \xff utf-8", 0, -7, int64(1) << 62,
		0.0, math.Copysign(0, -1), 1.5, 1e21, 1e300, -2.5e-7, float64(1 << 53), json.Number("12345678901234567890"),
		json.Number("1e3"), json.Number("-0.0")} {
		fast, err := ValueKey(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := ValueKey(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if fast != slow {
			t.Errorf("%#v: key %q directly, %q from its JSON %s", v, fast, slow, raw)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), json.Number("12x")} {
		if k, err := ValueKey(v); err == nil {
			t.Errorf("%#v is not JSON, got key %q", v, k)
		}
	}
}
