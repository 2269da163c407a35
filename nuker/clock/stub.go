package clock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"golang.org/x/arch/x86/x86asm"
)

// The stub is two pages mapped together: code (R-X) then data (RW).
const (
	pageSize  = 4096
	stubPages = 2
	// jmpLen is the length of the jmp rel32 written at each function entry.
	jmpLen = 5
	// maxPatch bounds the relocated prologue (whole instructions >= jmpLen).
	maxPatch = 16
	// codeSlot is the code page's room per function: stub, then trampoline.
	codeSlot  = 256
	trampSkip = 160
)

// Data page layout (little endian). The magic lets a second injector find
// the pages; the slots double-buffer the offset so a reader never sees half
// of an update written through /proc/PID/mem.
const (
	dataMagic     = "FLTCLK01"
	offMagic      = 0x00 // [8]byte
	offVersion    = 0x08 // uint32
	offCodeAddr   = 0x10 // uint64
	offVDSOBase   = 0x18 // uint64
	offIdx        = 0x20 // uint64: active slot, 0 or 1
	offNFuncs     = 0x28 // uint64
	offSlots      = 0x40 // two slots
	slotSize      = 0x20 // sec, nsec, usec, total ns (int64 each)
	slotSec       = 0x00
	slotNsec      = 0x08
	slotUsec      = 0x10
	slotTotal     = 0x18
	offFuncs      = 0x80 // records
	funcRecSize   = 0x40
	maxFuncs      = 3
	recName       = 0x00 // [16]byte
	recAddr       = 0x10 // uint64
	recLen        = 0x18 // uint32: bytes replaced
	recMode       = 0x1c // uint32: 1 trampoline, 2 syscall
	recOrig       = 0x20 // [16]byte original bytes
	recStub       = 0x30 // uint64 stub address
	layoutVersion = 1
)

// funcKind says which clock function a stub wraps.
type funcKind int

const (
	kindClockGettime funcKind = iota
	kindGettimeofday
	kindTime
)

// clockFuncs are the vDSO functions redirected, with their system call
// numbers on x86-64 for the syscall fallback.
var clockFuncs = [...]struct {
	name    string
	alias   string
	kind    funcKind
	syscall uint32
}{
	{"clock_gettime", "__vdso_clock_gettime", kindClockGettime, 228},
	{"gettimeofday", "__vdso_gettimeofday", kindGettimeofday, 96},
	{"time", "__vdso_time", kindTime, 201},
}

// Clock ids the stubs skew: CLOCK_REALTIME and CLOCK_REALTIME_COARSE.
const (
	clockRealtime       = 0
	clockRealtimeCoarse = 5
)

// asm is a tiny x86-64 assembler: bytes at a known address, short forward
// jumps patched when their label is bound.
type asm struct {
	base uint64
	buf  []byte
}

func (a *asm) pc() uint64     { return a.base + uint64(len(a.buf)) }
func (a *asm) emit(b ...byte) { a.buf = append(a.buf, b...) }
func (a *asm) u32(v uint32)   { a.buf = binary.LittleEndian.AppendUint32(a.buf, v) }
func (a *asm) imm32(v int32)  { a.u32(uint32(v)) }
func (a *asm) rel32(op byte, target uint64) error {
	a.emit(op)
	d := int64(target) - int64(a.pc()+4)
	if d < math.MinInt32 || d > math.MaxInt32 {
		return fmt.Errorf("target %#x out of rel32 reach from %#x", target, a.pc())
	}
	a.imm32(int32(d))
	return nil
}

// jcc8 emits a short conditional or unconditional jump to a label bound
// later and returns the position of its displacement byte.
func (a *asm) jcc8(op byte) int {
	a.emit(op, 0)
	return len(a.buf) - 1
}

// bind points the short jump at pos to the current position.
func (a *asm) bind(pos int) {
	a.buf[pos] = byte(int8(len(a.buf) - pos - 1))
}

// leaRcxData emits lea rcx, [rip+data].
func (a *asm) leaRcxData(data uint64) error {
	a.emit(0x48, 0x8d, 0x0d)
	d := int64(data) - int64(a.pc()+4)
	if d < math.MinInt32 || d > math.MaxInt32 {
		return errors.New("data page out of reach")
	}
	a.imm32(int32(d))
	return nil
}

// activeSlot emits rcx = address of the active offset slot (clobbers rdx).
func (a *asm) activeSlot(data uint64) error {
	if err := a.leaRcxData(data); err != nil {
		return err
	}
	a.emit(0x48, 0x8b, 0x51, offIdx)   // mov rdx, [rcx+idx]
	a.emit(0x48, 0xc1, 0xe2, 0x05)     // shl rdx, 5 (slotSize)
	a.emit(0x48, 0x01, 0xd1)           // add rcx, rdx
	a.emit(0x48, 0x83, 0xc1, offSlots) // add rcx, offSlots
	return nil
}

// genStub writes the stub of kind at addr: it calls tramp (the original
// function; for time, the clock_gettime stub) and adds the active offset to
// the result. Only rax, rcx, rdx,
// rsi, rdi and r8-r11 are touched, the registers a C call may clobber; Go
// keeps its stack pointer in r12 and its M in rbx across vDSO calls.
func genStub(kind funcKind, addr, tramp, data uint64) ([]byte, error) {
	a := &asm{base: addr}
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	switch kind {
	case kindClockGettime:
		// rdi = clock id, rsi = struct timespec *
		a.emit(0x83, 0xff, clockRealtime) // cmp edi, 0
		toAdjust := a.jcc8(0x74)          // je adjust
		a.emit(0x83, 0xff, clockRealtimeCoarse)
		toAdjust2 := a.jcc8(0x74)
		must(a.rel32(0xe9, tramp)) // jmp tramp: other clocks untouched
		a.bind(toAdjust)
		a.bind(toAdjust2)
		a.emit(0x56) // push rsi (also aligns the stack for the call)
		must(a.rel32(0xe8, tramp))
		a.emit(0x5e)       // pop rsi
		a.emit(0x85, 0xc0) // test eax, eax
		fail := a.jcc8(0x75)
		a.emit(0x48, 0x85, 0xf6) // test rsi, rsi
		null := a.jcc8(0x74)
		must(a.activeSlot(data))
		a.emit(0x4c, 0x8b, 0x41, slotSec)  // mov r8, [rcx+sec]
		a.emit(0x4c, 0x8b, 0x49, slotNsec) // mov r9, [rcx+nsec]
		a.emit(0x4c, 0x01, 0x06)           // add [rsi], r8
		a.emit(0x48, 0x8b, 0x56, 0x08)     // mov rdx, [rsi+8]
		a.emit(0x4c, 0x01, 0xca)           // add rdx, r9
		a.emit(0x48, 0x81, 0xfa)           // cmp rdx, 1e9
		a.imm32(1e9)
		store := a.jcc8(0x7c)          // jl store
		a.emit(0x48, 0x81, 0xea)       // sub rdx, 1e9
		a.imm32(1e9)                   //
		a.emit(0x48, 0x83, 0x06, 0x01) // add qword [rsi], 1
		a.bind(store)
		a.emit(0x48, 0x89, 0x56, 0x08) // mov [rsi+8], rdx
		a.bind(fail)
		a.bind(null)
		a.emit(0xc3)
	case kindGettimeofday:
		// rdi = struct timeval *, rsi = struct timezone *
		a.emit(0x57) // push rdi
		must(a.rel32(0xe8, tramp))
		a.emit(0x5f)       // pop rdi
		a.emit(0x85, 0xc0) // test eax, eax
		fail := a.jcc8(0x75)
		a.emit(0x48, 0x85, 0xff) // test rdi, rdi
		null := a.jcc8(0x74)
		must(a.activeSlot(data))
		a.emit(0x4c, 0x8b, 0x41, slotSec)  // mov r8, [rcx+sec]
		a.emit(0x4c, 0x8b, 0x49, slotUsec) // mov r9, [rcx+usec]
		a.emit(0x4c, 0x01, 0x07)           // add [rdi], r8
		a.emit(0x48, 0x8b, 0x57, 0x08)     // mov rdx, [rdi+8]
		a.emit(0x4c, 0x01, 0xca)           // add rdx, r9
		a.emit(0x48, 0x81, 0xfa)           // cmp rdx, 1e6
		a.imm32(1e6)
		store := a.jcc8(0x7c)
		a.emit(0x48, 0x81, 0xea) // sub rdx, 1e6
		a.imm32(1e6)
		a.emit(0x48, 0x83, 0x07, 0x01) // add qword [rdi], 1
		a.bind(store)
		a.emit(0x48, 0x89, 0x57, 0x08) // mov [rdi+8], rdx
		a.bind(fail)
		a.bind(null)
		a.emit(0xc3)
	case kindTime:
		// rdi = time_t * (may be NULL); seconds returned in rax. time is
		// the coarse realtime clock's seconds, so it asks the clock_gettime
		// stub (tramp here) for CLOCK_REALTIME_COARSE: the offset's
		// sub-second part then carries into the seconds correctly.
		a.emit(0x57)                   // push rdi
		a.emit(0x48, 0x83, 0xec, 0x10) // sub rsp, 16: a struct timespec
		a.emit(0xbf)                   // mov edi, CLOCK_REALTIME_COARSE
		a.u32(clockRealtimeCoarse)
		a.emit(0x48, 0x89, 0xe6) // mov rsi, rsp
		must(a.rel32(0xe8, tramp))
		a.emit(0x48, 0x8b, 0x04, 0x24) // mov rax, [rsp]
		a.emit(0x48, 0x83, 0xc4, 0x10) // add rsp, 16
		a.emit(0x5f)                   // pop rdi
		a.emit(0x48, 0x85, 0xff)       // test rdi, rdi
		null := a.jcc8(0x74)
		a.emit(0x48, 0x89, 0x07) // mov [rdi], rax
		a.bind(null)
		a.emit(0xc3)
	default:
		return nil, fmt.Errorf("unknown function kind %d", kind)
	}
	if err != nil {
		return nil, err
	}
	if len(a.buf) > trampSkip {
		return nil, fmt.Errorf("stub too long: %d bytes", len(a.buf))
	}
	return a.buf, nil
}

// genSyscallTramp is the fallback trampoline: the system call itself.
func genSyscallTramp(nr uint32) []byte {
	a := &asm{}
	a.emit(0xb8) // mov eax, nr
	a.u32(nr)
	a.emit(0x0f, 0x05, 0xc3) // syscall; ret
	return a.buf
}

// endbr64 is decoded by x86asm as a 1-byte instruction: handled here.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// decodeLen returns the length of the instruction at code[0:] and the
// decoded instruction (zero for endbr64).
func decodeLen(code []byte) (int, x86asm.Inst, error) {
	if bytes.HasPrefix(code, endbr64) {
		return len(endbr64), x86asm.Inst{}, nil
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		return 0, inst, err
	}
	return inst.Len, inst, nil
}

// patchLen returns how many bytes at the start of fn (the function's code,
// loaded at addr) must be replaced for a jmp rel32: whole instructions
// covering jmpLen bytes. It refuses when the function is shorter or when
// any branch inside the function lands inside the replaced bytes (other
// than at its first byte): such a branch would jump into the middle of our
// jmp.
func patchLen(fn []byte, addr uint64) (int, error) {
	n := 0
	for n < jmpLen {
		l, _, err := decodeLen(fn[n:])
		if err != nil {
			return 0, fmt.Errorf("decode at +%d: %w", n, err)
		}
		n += l
	}
	if n > maxPatch || n > len(fn) {
		return 0, fmt.Errorf("prologue of %d bytes does not fit (function %d bytes)", n, len(fn))
	}
	for off := 0; off < len(fn); {
		l, inst, err := decodeLen(fn[off:])
		if err != nil {
			// Padding or data after the last instruction: stop scanning.
			break
		}
		for _, arg := range inst.Args {
			if rel, ok := arg.(x86asm.Rel); ok {
				target := int64(off+l) + int64(rel)
				if target > 0 && target < int64(n) {
					return 0, fmt.Errorf("a branch at +%d lands at +%d, inside the %d bytes to replace", off, target, n)
				}
			}
		}
		off += l
	}
	return n, nil
}

// relocate copies the instructions of code (loaded at from) so that they
// run at to, followed by a jmp back to from+len(code). RIP-relative memory
// operands and rel32 branches are adjusted; short branches cannot be.
func relocate(code []byte, from, to uint64) ([]byte, error) {
	var out []byte
	for off := 0; off < len(code); {
		l, inst, err := decodeLen(code[off:])
		if err != nil {
			return nil, fmt.Errorf("decode at +%d: %w", off, err)
		}
		ins := bytes.Clone(code[off : off+l])
		if inst.PCRel > 0 {
			if inst.PCRel != 4 {
				return nil, fmt.Errorf("%d-byte relative operand at +%d cannot be relocated", inst.PCRel, off)
			}
			p := inst.PCRelOff
			old := int64(int32(binary.LittleEndian.Uint32(ins[p:])))
			// The displacement is relative to the instruction's end, which
			// moves by (to+len(out)) - (from+off).
			d := old + int64(from+uint64(off)) - int64(to+uint64(len(out)))
			if d < math.MinInt32 || d > math.MaxInt32 {
				return nil, fmt.Errorf("relative operand at +%d out of reach after relocation", off)
			}
			binary.LittleEndian.PutUint32(ins[p:], uint32(int32(d)))
		}
		out = append(out, ins...)
		off += l
	}
	a := &asm{base: to + uint64(len(out)), buf: nil}
	if err := a.rel32(0xe9, from+uint64(len(code))); err != nil {
		return nil, err
	}
	return append(out, a.buf...), nil
}

// jmpTo is the jmp rel32 at from to target.
func jmpTo(from, target uint64) ([]byte, error) {
	a := &asm{base: from}
	if err := a.rel32(0xe9, target); err != nil {
		return nil, err
	}
	return a.buf, nil
}

// slotBytes encodes one offset slot.
func slotBytes(sec, nsec, usec, total int64) []byte {
	b := make([]byte, slotSize)
	binary.LittleEndian.PutUint64(b[slotSec:], uint64(sec))
	binary.LittleEndian.PutUint64(b[slotNsec:], uint64(nsec))
	binary.LittleEndian.PutUint64(b[slotUsec:], uint64(usec))
	binary.LittleEndian.PutUint64(b[slotTotal:], uint64(total))
	return b
}
