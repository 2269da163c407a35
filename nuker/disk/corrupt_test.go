package disk

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestCorrupt corrupts a mounted directory through the control socket and
// reads every reported change back through the mount: exactly the bytes
// reported differ, and in the region the mode names.
func TestCorrupt(t *testing.T) {
	cases := []struct {
		mode string
		n    int
	}{
		{CorruptFlipTail, 8},
		{CorruptFlipRandom, 8},
		{CorruptTruncate, 100},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			d, mnt := mountTest(t, false)
			send := control(t, d)
			// old.dat is older; new.dat is the newest file: 10000 bytes of
			// data, then 20000 zero bytes (preallocated space).
			const dataEnd = 10000
			newDat := append(bytes.Repeat([]byte{0x5a}, dataEnd), make([]byte, 20000)...)
			before := map[string][]byte{"old.dat": bytes.Repeat([]byte("o"), 300), "sub/new.dat": newDat}
			if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, "empty"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"old.dat", "sub/new.dat"} {
				if err := os.WriteFile(filepath.Join(mnt, name), before[name], 0o644); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // distinct mtimes
			}
			var changes []Change
			if err := json.Unmarshal([]byte(send("corrupt "+c.mode+" "+strconv.Itoa(c.n)+" 42")), &changes); err != nil {
				t.Fatal(err)
			}
			if len(changes) == 0 {
				t.Fatal("no changes")
			}
			want := map[string][]byte{}
			for name, b := range before {
				want[name] = bytes.Clone(b)
			}
			for _, ch := range changes {
				b, ok := want[ch.File]
				if !ok {
					t.Fatalf("change in %q, not a non-empty file", ch.File)
				}
				if c.mode != CorruptFlipRandom && ch.File != "sub/new.dat" {
					t.Errorf("%s changed %s, not the newest file", c.mode, ch.File)
				}
				if ch.Cut > 0 {
					if ch.Offset < dataEnd-int64(c.n) || ch.Offset >= dataEnd || ch.Offset+ch.Cut != int64(len(b)) {
						t.Errorf("truncation %+v of a %d-byte file whose data ends at %d, want at most %d bytes of data cut", ch, len(b), dataEnd, c.n)
					}
					want[ch.File] = b[:ch.Offset]
					continue
				}
				if c.mode == CorruptFlipTail && (ch.Offset < dataEnd-TailSpan || ch.Offset >= dataEnd) {
					t.Errorf("flip-tail changed offset %d, outside the last %d bytes of data before %d", ch.Offset, TailSpan, dataEnd)
				}
				old, _ := hex.DecodeString(ch.Old)
				nw, _ := hex.DecodeString(ch.New)
				if len(old) != 1 || len(nw) != 1 || old[0] != b[ch.Offset] || bits.OnesCount8(old[0]^nw[0]) != 1 {
					t.Errorf("change %+v: old byte %#x, or not one bit flipped", ch, b[ch.Offset])
					continue
				}
				b[ch.Offset] = nw[0]
			}
			for name, w := range want {
				got, err := os.ReadFile(filepath.Join(mnt, name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, w) {
					t.Errorf("%s read back differs from what the changes say (%d vs %d bytes)", name, len(got), len(w))
				}
			}
			if c.mode != CorruptTruncate && len(changes) != c.n {
				t.Errorf("%d changes, want %d", len(changes), c.n)
			}
		})
	}
}

func TestCorruptSameSeedSameChanges(t *testing.T) {
	var answers []string
	for range 2 {
		d, mnt := mountTest(t, false)
		for i, name := range []string{"a", "b", "c"} {
			if err := os.WriteFile(filepath.Join(mnt, name), bytes.Repeat([]byte{byte(i)}, 1000*(i+1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ch, err := d.Corrupt(CorruptFlipRandom, 5, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ch)
		answers = append(answers, string(b))
	}
	if answers[0] != answers[1] {
		t.Errorf("seed 7 twice on the same files: %s and %s", answers[0], answers[1])
	}
}

func TestCorruptRefuses(t *testing.T) {
	d, _ := mountTest(t, false)
	for _, cmd := range []string{"corrupt", "corrupt flip-tail 1", "corrupt melt 1 1", "corrupt flip-tail 0 1", "corrupt flip-tail x 1", "corrupt flip-tail 1 -1"} {
		if out, err := d.Control(cmd); err == nil {
			t.Errorf("%q answered %q, want an error", cmd, out)
		}
	}
	// An empty directory has nothing to corrupt: an error, not a silent no-op.
	if out, err := d.Control("corrupt flip-random 1 1"); err == nil {
		t.Errorf("corrupt of an empty directory answered %q", out)
	}
}
