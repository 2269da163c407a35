package clock

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/arch/x86/x86asm"
)

func TestSplitOffset(t *testing.T) {
	for _, tc := range []struct {
		d                time.Duration
		sec, nsec, usecs int64
	}{
		{0, 0, 0, 0},
		{time.Hour, 3600, 0, 0},
		{1500 * time.Millisecond, 1, 5e8, 5e5},
		{-time.Nanosecond, -1, 999999999, 999999},
		{-1500 * time.Millisecond, -2, 5e8, 5e5},
		{-30 * time.Second, -30, 0, 0},
	} {
		sec, nsec, usec := splitOffset(tc.d)
		if sec != tc.sec || nsec != tc.nsec || usec != tc.usecs {
			t.Errorf("splitOffset(%v) = %d, %d, %d; want %d, %d, %d", tc.d, sec, nsec, usec, tc.sec, tc.nsec, tc.usecs)
		}
		if time.Duration(sec*1e9+nsec) != tc.d {
			t.Errorf("splitOffset(%v) does not add up", tc.d)
		}
	}
}

// disasm decodes code fully and returns the instructions' text; it fails
// when any byte sequence does not decode (a wrong hand encoding).
func disasm(t *testing.T, code []byte, pc uint64) []string {
	t.Helper()
	var out []string
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			t.Fatalf("decode at +%d (% x): %v", off, code[off:], err)
		}
		out = append(out, x86asm.IntelSyntax(inst, pc+uint64(off), nil))
		off += inst.Len
	}
	return out
}

func TestGenStubDecodes(t *testing.T) {
	const code, data = 0x7f0000000000, 0x7f0000001000
	for _, tc := range []struct {
		kind funcKind
		want []string // instructions that must appear, in order
	}{
		{kindClockGettime, []string{"cmp edi, 0x0", "jz", "cmp edi, 0x5", "jz", "jmp 0x7f00000000a0", "push rsi",
			"call 0x7f00000000a0", "pop rsi", "test eax, eax", "jnz", "test rsi, rsi", "jz",
			"lea rcx, ptr [rip+", "mov rdx, qword ptr [rcx+0x20]", "shl rdx, 0x5", "add rcx, rdx", "add rcx, 0x40",
			"mov r8, qword ptr [rcx]", "mov r9, qword ptr [rcx+0x8]", "add qword ptr [rsi], r8",
			"mov rdx, qword ptr [rsi+0x8]", "add rdx, r9", "cmp rdx, 0x3b9aca00", "jl ", "sub rdx, 0x3b9aca00",
			"add qword ptr [rsi], 0x1", "mov qword ptr [rsi+0x8], rdx", "ret"}},
		{kindGettimeofday, []string{"push rdi", "call", "pop rdi", "test eax, eax", "test rdi, rdi",
			"mov r9, qword ptr [rcx+0x10]", "add qword ptr [rdi], r8", "cmp rdx, 0xf4240", "mov qword ptr [rdi+0x8], rdx", "ret"}},
		{kindTime, []string{"push rdi", "sub rsp, 0x10", "mov edi, 0x5", "mov rsi, rsp", "call", "mov rax, qword ptr [rsp]",
			"add rsp, 0x10", "pop rdi", "test rdi, rdi", "mov qword ptr [rdi], rax", "ret"}},
	} {
		b, err := genStub(tc.kind, code, code+trampSkip, data)
		if err != nil {
			t.Fatal(err)
		}
		got := disasm(t, b, code)
		i := 0
		for _, g := range got {
			if i < len(tc.want) && strings.HasPrefix(g, tc.want[i]) {
				i++
			}
		}
		if i != len(tc.want) {
			t.Errorf("kind %d: missing %q in\n%s", tc.kind, tc.want[i], strings.Join(got, "\n"))
		}
		// The lea must point at the data page.
		for off := 0; off < len(b); {
			inst, _ := x86asm.Decode(b[off:], 64)
			if inst.Op == x86asm.LEA {
				disp := int64(int32(binary.LittleEndian.Uint32(b[off+inst.PCRelOff:])))
				if got := uint64(int64(code) + int64(off+inst.Len) + disp); got != data {
					t.Errorf("kind %d: lea points at %#x, want %#x", tc.kind, got, data)
				}
			}
			off += inst.Len
		}
	}
}

func TestPatchLenAndRelocate(t *testing.T) {
	// Prologues as found in vDSOs: clock_gettime (push rbp; mov rbp,rsp;
	// push r14), gettimeofday (push rbp; lea r10,[rip+x]), time (cmp
	// [rip+x], imm32), and one with endbr64.
	pad := bytes.Repeat([]byte{0x90}, 32)
	cat := func(bs ...[]byte) []byte { return bytes.Join(append(bs, pad), nil) }
	for _, tc := range []struct {
		name    string
		fn      []byte
		n       int
		wantErr string // from patchLen or relocate
	}{
		{"clock_gettime", cat([]byte{0x55, 0x48, 0x89, 0xe5, 0x41, 0x56}), 6, ""},
		{"gettimeofday", cat([]byte{0x55, 0x4c, 0x8d, 0x15, 0xe8, 0x97, 0xff, 0xff}), 8, ""},
		{"time", cat([]byte{0x81, 0x3d, 0x3a, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}), 10, ""},
		{"endbr64", cat([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5}), 5, ""},
		{"short branch", cat([]byte{0x85, 0xff, 0x74, 0x10, 0x55}), 5, "cannot be relocated"},
		{"branch into patch", cat([]byte{0x55, 0x48, 0x89, 0xe5, 0x41, 0x56, 0xeb, 0xf9}), 0, "inside the"},
		{"too short", []byte{0x31, 0xc0, 0xc3}, 0, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const from, to = 0x7fff00000810, 0x7fff10000000
			n, err := patchLen(tc.fn, from)
			if err == nil && n != tc.n {
				t.Fatalf("patchLen = %d, want %d", n, tc.n)
			}
			var out []byte
			if err == nil {
				out, err = relocate(tc.fn[:n], from, to)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Every relocated RIP-relative operand still reaches the same
			// absolute address; the tail jumps back to from+n.
			for off, roff := 0, 0; off < n; {
				l, inst, _ := decodeLen(tc.fn[off:])
				if inst.PCRel == 4 {
					oldT := int64(from) + int64(off+l) + int64(int32(binary.LittleEndian.Uint32(tc.fn[off+inst.PCRelOff:])))
					newT := int64(to) + int64(roff+l) + int64(int32(binary.LittleEndian.Uint32(out[roff+inst.PCRelOff:])))
					if oldT != newT {
						t.Errorf("+%d: target %#x after relocation, was %#x", off, newT, oldT)
					}
				}
				off += l
				roff += l
			}
			tail := out[len(out)-5:]
			if tail[0] != 0xe9 || int64(to)+int64(len(out))+int64(int32(binary.LittleEndian.Uint32(tail[1:]))) != int64(from)+int64(n) {
				t.Errorf("tail % x does not jump back to %#x", tail, from+uint64(n))
			}
		})
	}
}
