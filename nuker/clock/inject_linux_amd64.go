package clock

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// reach is how far the stub may lie from the vDSO: rel32 jumps and the
	// relocated RIP-relative operands, with a margin for the vDSO's size.
	reach = 1<<31 - 16<<20
	// stackRoom is kept free below the main thread's stack for its growth.
	stackRoom = 256 << 20
	// userTop is the end of the 47-bit user address space mmap uses.
	userTop = 0x7ffffffff000
)

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uint64
	perms      string
	path       string
}

// readMaps parses /proc/PID/maps.
func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(lo, 16, 64)
		e, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		m := mapping{start: s, end: e, perms: fs[1]}
		if len(fs) >= 6 {
			m.path = fs[5]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

func findMapping(maps []mapping, path string) (mapping, bool) {
	for _, m := range maps {
		if m.path == path {
			return m, true
		}
	}
	return mapping{}, false
}

// vdsoFunc is one clock function in the target's vDSO.
type vdsoFunc struct {
	idx  int // into clockFuncs
	addr uint64
	code []byte // the whole function
}

// vdsoFuncs reads the vDSO image from the target and finds the clock
// functions in its dynamic symbol table.
func vdsoFuncs(mem *os.File, vdso mapping) ([]vdsoFunc, error) {
	img, err := readVDSO(mem, vdso)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("parse vDSO: %w", err)
	}
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("vDSO is for %v: %w", f.Machine, ErrUnsupported)
	}
	var bias uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			bias = vdso.start - (p.Vaddr &^ (pageSize - 1))
			break
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("vDSO symbols: %w", err)
	}
	var out []vdsoFunc
	for i, cf := range clockFuncs {
		for _, s := range syms {
			if (s.Name != cf.name && s.Name != cf.alias) || s.Value == 0 || s.Size == 0 {
				continue
			}
			addr := s.Value + bias
			off := addr - vdso.start
			if off+s.Size > uint64(len(img)) {
				return nil, fmt.Errorf("vDSO symbol %s out of the image", s.Name)
			}
			out = append(out, vdsoFunc{idx: i, addr: addr, code: img[off : off+s.Size]})
			break
		}
	}
	if len(out) == 0 || out[0].idx != int(kindClockGettime) {
		return nil, errors.New("vDSO has no clock_gettime")
	}
	return out, nil
}

// syscallInsn finds a syscall instruction (0f 05) in the vDSO's executable
// image, where an injected system call can be stepped through.
func syscallInsn(mem *os.File, vdso mapping) (uint64, error) {
	img, err := readVDSO(mem, vdso)
	if err != nil {
		return 0, err
	}
	i := bytes.Index(img[64:], []byte{0x0f, 0x05}) // skip the ELF header
	if i < 0 {
		return 0, errors.New("no syscall instruction in the vDSO")
	}
	return vdso.start + 64 + uint64(i), nil
}

// stubAddr picks a free, page-aligned place for the stub pages within reach
// of the vDSO, as close to it as possible, never just below the stack.
func stubAddr(maps []mapping, vdso mapping) (uint64, error) {
	sorted := slices.Clone(maps)
	slices.SortFunc(sorted, func(a, b mapping) int { return cmpU64(a.start, b.start) })
	const size = stubPages * pageSize
	best, bestDist := uint64(0), uint64(1<<63)
	prevEnd := uint64(1 << 20)
	consider := func(lo, hi uint64) {
		if hi > userTop {
			hi = userTop
		}
		if hi < lo+size {
			return
		}
		cand := hi - size // nearest when the gap is below the vDSO
		if lo >= vdso.end {
			cand = lo
		}
		d := absDiff(cand, vdso.start)
		if d < reach && d < bestDist {
			best, bestDist = cand, d
		}
	}
	for _, m := range sorted {
		hi := m.start
		if m.path == "[stack]" {
			if hi < stackRoom {
				hi = 0
			} else {
				hi -= stackRoom
			}
		}
		if hi > prevEnd {
			consider(prevEnd, hi)
		}
		prevEnd = max(prevEnd, m.end)
	}
	consider(prevEnd, userTop)
	if best == 0 {
		return 0, fmt.Errorf("no free address within 2 GiB of the vDSO at %#x", vdso.start)
	}
	return best, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// patchRec is one redirected function as recorded in the data page.
type patchRec struct {
	name string
	addr uint64
	n    int
	mode Mode
	orig []byte
	stub uint64
}

// Handle is a process carrying our stub.
type Handle struct {
	pid   int
	code  uint64
	data  uint64
	vdso  uint64
	funcs []patchRec
}

// PID is the process.
func (h *Handle) PID() int { return h.pid }

// openMem opens /proc/PID/mem.
func openMem(pid int, flag int) (*os.File, error) {
	f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/mem", flag, 0)
	if err != nil {
		return nil, fmt.Errorf("open memory: %w", err)
	}
	return f, nil
}

// Find returns the stub already in pid (put there by this or another
// injector process), or an error wrapping ErrNotInjected.
func Find(pid int) (*Handle, error) {
	maps, err := readMaps(pid)
	if err != nil {
		return nil, pidError(pid, "read maps", err)
	}
	mem, err := openMem(pid, os.O_RDONLY)
	if err != nil {
		return nil, pidError(pid, "find stub", err)
	}
	defer mem.Close()
	h, err := findStub(pid, maps, mem)
	if err != nil {
		return nil, pidError(pid, "find stub", err)
	}
	return h, nil
}

// findStub looks for our code page followed by a data page with the magic
// header made for the process's current vDSO.
func findStub(pid int, maps []mapping, mem *os.File) (*Handle, error) {
	vdso, ok := findMapping(maps, "[vdso]")
	if !ok {
		return nil, errors.New("process has no vDSO")
	}
	for i, m := range maps {
		if m.perms != "r-xp" || m.path != "" || m.end-m.start != pageSize || i+1 >= len(maps) {
			continue
		}
		d := maps[i+1]
		if d.start != m.end || d.perms != "rw-p" || d.path != "" || d.end-d.start < pageSize {
			continue
		}
		hdr := make([]byte, offFuncs+maxFuncs*funcRecSize)
		if _, err := mem.ReadAt(hdr, int64(d.start)); err != nil {
			continue
		}
		if string(hdr[offMagic:offMagic+8]) != dataMagic ||
			binary.LittleEndian.Uint32(hdr[offVersion:]) != layoutVersion ||
			binary.LittleEndian.Uint64(hdr[offCodeAddr:]) != m.start ||
			binary.LittleEndian.Uint64(hdr[offVDSOBase:]) != vdso.start {
			continue
		}
		h := &Handle{pid: pid, code: m.start, data: d.start, vdso: vdso.start}
		n := int(binary.LittleEndian.Uint64(hdr[offNFuncs:]))
		for j := 0; j < n && j < maxFuncs; j++ {
			r := hdr[offFuncs+j*funcRecSize:]
			rec := patchRec{
				name: strings.TrimRight(string(r[recName:recName+16]), "\x00"),
				addr: binary.LittleEndian.Uint64(r[recAddr:]),
				n:    int(binary.LittleEndian.Uint32(r[recLen:])),
				mode: ModeTrampoline,
				stub: binary.LittleEndian.Uint64(r[recStub:]),
			}
			if binary.LittleEndian.Uint32(r[recMode:]) == 2 {
				rec.mode = ModeSyscall
			}
			if rec.n < jmpLen || rec.n > maxPatch {
				return nil, fmt.Errorf("corrupt stub record %d", j)
			}
			rec.orig = slices.Clone(r[recOrig : recOrig+rec.n])
			h.funcs = append(h.funcs, rec)
		}
		return h, nil
	}
	return nil, ErrNotInjected
}

// errExecRace marks what an exec (or the dynamic loader after it) racing
// the injector causes before anything in the process is changed: the
// vDSO the maps named is gone from the memory (EOF, or EIO where nothing
// is mapped there now), or the address picked for the stub has been mapped
// since (EEXIST). Inject looks again.
var errExecRace = errors.New("the process changed while the injector looked (an exec?)")

// readVDSO reads the vDSO's image from the process's memory.
func readVDSO(mem *os.File, vdso mapping) ([]byte, error) {
	img := make([]byte, vdso.end-vdso.start)
	if _, err := mem.ReadAt(img, int64(vdso.start)); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, unix.EIO) {
			err = fmt.Errorf("%w: %w", errExecRace, err)
		}
		return nil, fmt.Errorf("read vDSO: %w", err)
	}
	return img, nil
}

// errNoVDSO is injectOnce's error for a process without a vDSO, which may
// only be in the middle of an exec (its new mappings not all there yet).
var errNoVDSO = errors.New("process has no vDSO (static binary without one, or not x86-64)")

// execTries is how many times Inject looks again at a process that seems
// to have no vDSO, a millisecond apart, before it believes it.
const execTries = 20

// Inject redirects pid's clock functions to our stub with opts.Offset (nil
// opts: offset zero), creating the stub or re-using one already there, and
// returns its handle. Either every function is redirected or, on error,
// none is: patching happens in one stop of all threads.
func Inject(ctx context.Context, pid int, opts *Options) (*Handle, error) {
	if opts == nil {
		opts = &Options{}
	}
	retries := opts.Retries
	if retries <= 0 {
		retries = 200
	}
	var h *Handle
	noVDSO := 0
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, pidError(pid, "inject", err)
		}
		var busy bool
		var err error
		h, busy, err = injectOnce(ctx, pid, h, opts)
		if errors.Is(err, errNoVDSO) && noVDSO < execTries {
			noVDSO++
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return nil, pidError(pid, "inject", err)
		}
		if !busy {
			return h, nil
		}
		if attempt >= retries {
			return nil, pidError(pid, "inject", errors.New("a thread stayed inside the bytes to patch"))
		}
		// Let the thread move on; a little jitter avoids lockstep with a
		// thread calling the clock at a fixed period.
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Microsecond)
	}
}

// injectOnce is one attempt: stop all threads, create the stub when h is
// nil, patch unless a thread is inside the bytes to replace (busy).
func injectOnce(ctx context.Context, pid int, h *Handle, opts *Options) (_ *Handle, busy bool, err error) {
	maps, err := readMaps(pid)
	if err != nil {
		return h, false, fmt.Errorf("read maps: %w", err)
	}
	vdso, ok := findMapping(maps, "[vdso]")
	if !ok {
		return h, false, errNoVDSO
	}
	mem, err := openMem(pid, os.O_RDWR)
	if err != nil {
		return h, false, err
	}
	defer mem.Close()
	if h == nil {
		h, err = findStub(pid, maps, mem)
		if errors.Is(err, ErrNotInjected) {
			h, err = nil, nil
		} else if err != nil {
			return nil, false, err
		}
	}
	if h != nil {
		// Offset first, then the jump: the process never sees the old one
		// after the patch.
		if err := h.set(mem, opts.Offset); err != nil {
			return h, false, err
		}
		if patched, err := h.patched(mem); err != nil {
			return h, false, err
		} else if patched {
			return h, false, nil
		}
	}
	var funcs []vdsoFunc
	if h == nil {
		if funcs, err = vdsoFuncs(mem, vdso); err != nil {
			if errors.Is(err, errExecRace) {
				return nil, true, nil
			}
			return nil, false, err
		}
	}
	s, err := newSession(ctx, pid)
	if err != nil {
		return h, false, err
	}
	defer s.detach()
	if h == nil {
		if h, err = createStub(ctx, s, mem, maps, vdso, funcs, opts); err != nil {
			if errors.Is(err, errExecRace) {
				return nil, true, nil
			}
			return nil, false, err
		}
	}
	var spans [][2]uint64
	for _, r := range h.funcs {
		spans = append(spans, [2]uint64{r.addr, uint64(r.n)})
	}
	if _, ok := s.busy(spans); ok {
		return h, true, nil
	}
	for _, r := range h.funcs {
		cur := make([]byte, r.n)
		if _, err := mem.ReadAt(cur, int64(r.addr)); err != nil {
			return h, false, fmt.Errorf("read %s: %w", r.name, err)
		}
		patch, err := r.patch()
		if err != nil {
			return h, false, err
		}
		if bytes.Equal(cur, patch) {
			continue
		}
		if !bytes.Equal(cur, r.orig) {
			return h, false, fmt.Errorf("vDSO %s at %#x was changed by someone else (% x)", r.name, r.addr, cur)
		}
		if _, err := mem.WriteAt(patch, int64(r.addr)); err != nil {
			return h, false, fmt.Errorf("patch %s: %w", r.name, err)
		}
	}
	return h, false, nil
}

// patch is the bytes written over r's prologue: a jmp to the stub, the rest
// filled with int3 (never executed: no branch lands there).
func (r patchRec) patch() ([]byte, error) {
	j, err := jmpTo(r.addr, r.stub)
	if err != nil {
		return nil, err
	}
	return append(j, bytes.Repeat([]byte{0xcc}, r.n-len(j))...), nil
}

// createStub maps the two pages in the stopped process (R-X, then the data
// page RW, so a W^X policy never sees a writable page become executable),
// writes code and data through /proc/PID/mem and returns the handle.
func createStub(ctx context.Context, s *session, mem *os.File, maps []mapping, vdso mapping, funcs []vdsoFunc, opts *Options) (*Handle, error) {
	insn, err := syscallInsn(mem, vdso)
	if err != nil {
		return nil, err
	}
	want, err := stubAddr(maps, vdso)
	if err != nil {
		return nil, err
	}
	ret, err := s.syscall(ctx, insn, unix.SYS_MMAP, want, stubPages*pageSize,
		unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	if int64(ret) < 0 && int64(ret) > -4096 {
		err := unix.Errno(-int64(ret))
		if err == unix.EEXIST {
			return nil, fmt.Errorf("mmap at %#x in the target: %w: %w", want, errExecRace, err)
		}
		return nil, fmt.Errorf("mmap at %#x in the target: %w", want, err)
	}
	if ret != want {
		return nil, fmt.Errorf("mmap in the target returned %#x, asked for %#x", ret, want)
	}
	code, data := ret, ret+pageSize
	if r, err := s.syscall(ctx, insn, unix.SYS_MPROTECT, data, pageSize, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		return nil, fmt.Errorf("mprotect: %w", err)
	} else if r != 0 {
		return nil, fmt.Errorf("mprotect in the target: %w", unix.Errno(-int64(r)))
	}
	h := &Handle{pid: s.pid, code: code, data: data, vdso: vdso.start}
	codePage := make([]byte, pageSize)
	for i := range codePage {
		codePage[i] = 0xcc
	}
	for i, f := range funcs {
		cf := clockFuncs[f.idx]
		n, err := patchLen(f.code, f.addr)
		if err != nil {
			if cf.kind == kindClockGettime {
				return nil, fmt.Errorf("%s: %w", cf.name, err)
			}
			continue // gettimeofday and time are optional
		}
		stub := code + uint64(i*codeSlot)
		tramp := stub + trampSkip
		rec := patchRec{name: cf.name, addr: f.addr, n: n, mode: ModeTrampoline, orig: slices.Clone(f.code[:n]), stub: stub}
		var tcode []byte
		switch {
		case cf.kind == kindTime:
			// time goes through the clock_gettime stub (slot 0).
			tramp, rec.mode = code, h.funcs[0].mode
		case !opts.Syscall:
			if tcode, err = relocate(f.code[:n], f.addr, tramp); err != nil {
				tcode = nil
			}
		}
		if tcode == nil && cf.kind != kindTime {
			rec.mode, tcode = ModeSyscall, genSyscallTramp(cf.syscall)
		}
		scode, err := genStub(cf.kind, stub, tramp, data)
		if err != nil {
			return nil, fmt.Errorf("%s stub: %w", cf.name, err)
		}
		copy(codePage[stub-code:], scode)
		if tcode != nil {
			copy(codePage[tramp-code:], tcode)
		}
		h.funcs = append(h.funcs, rec)
	}
	// Data before code: a page found by its magic is always complete.
	sec, nsec, usec := splitOffset(opts.Offset)
	d := make([]byte, offFuncs+maxFuncs*funcRecSize)
	binary.LittleEndian.PutUint32(d[offVersion:], layoutVersion)
	binary.LittleEndian.PutUint64(d[offCodeAddr:], code)
	binary.LittleEndian.PutUint64(d[offVDSOBase:], vdso.start)
	binary.LittleEndian.PutUint64(d[offNFuncs:], uint64(len(h.funcs)))
	copy(d[offSlots:], slotBytes(sec, nsec, usec, int64(opts.Offset)))
	for j, r := range h.funcs {
		rb := d[offFuncs+j*funcRecSize:]
		copy(rb[recName:recName+16], r.name)
		binary.LittleEndian.PutUint64(rb[recAddr:], r.addr)
		binary.LittleEndian.PutUint32(rb[recLen:], uint32(r.n))
		mode := uint32(1)
		if r.mode == ModeSyscall {
			mode = 2
		}
		binary.LittleEndian.PutUint32(rb[recMode:], mode)
		copy(rb[recOrig:recOrig+16], r.orig)
		binary.LittleEndian.PutUint64(rb[recStub:], r.stub)
	}
	if _, err := mem.WriteAt(d, int64(data)); err != nil {
		return nil, fmt.Errorf("write data page: %w", err)
	}
	if _, err := mem.WriteAt(codePage, int64(code)); err != nil {
		return nil, fmt.Errorf("write code page: %w", err)
	}
	if _, err := mem.WriteAt([]byte(dataMagic), int64(data+offMagic)); err != nil {
		return nil, fmt.Errorf("write data page: %w", err)
	}
	return h, nil
}

// patched reports whether the vDSO jumps to the stub (all functions).
func (h *Handle) patched(mem *os.File) (bool, error) {
	all := true
	for _, r := range h.funcs {
		cur := make([]byte, r.n)
		if _, err := mem.ReadAt(cur, int64(r.addr)); err != nil {
			return false, fmt.Errorf("read %s: %w", r.name, err)
		}
		p, err := r.patch()
		if err != nil {
			return false, err
		}
		all = all && bytes.Equal(cur, p)
	}
	return all && len(h.funcs) > 0, nil
}

// checkMagic guards against a pid reused by another process.
func (h *Handle) checkMagic(mem *os.File) error {
	hdr := make([]byte, 0x18)
	if _, err := mem.ReadAt(hdr, int64(h.data)); err != nil {
		return fmt.Errorf("read data page: %w", err)
	}
	if string(hdr[:8]) != dataMagic || binary.LittleEndian.Uint64(hdr[offCodeAddr:]) != h.code {
		return fmt.Errorf("stub at %#x is gone (process restarted?): %w", h.data, ErrNotInjected)
	}
	return nil
}

// Set changes the offset the process sees. No thread is stopped: the new
// offset goes into the inactive slot, then the slot index flips.
func (h *Handle) Set(offset time.Duration) error {
	mem, err := openMem(h.pid, os.O_RDWR)
	if err != nil {
		return pidError(h.pid, "set offset", err)
	}
	defer mem.Close()
	if err := h.set(mem, offset); err != nil {
		return pidError(h.pid, "set offset", err)
	}
	return nil
}

func (h *Handle) set(mem *os.File, offset time.Duration) error {
	if err := h.checkMagic(mem); err != nil {
		return err
	}
	b := make([]byte, 8)
	if _, err := mem.ReadAt(b, int64(h.data+offIdx)); err != nil {
		return fmt.Errorf("read slot index: %w", err)
	}
	next := 1 - binary.LittleEndian.Uint64(b)&1
	sec, nsec, usec := splitOffset(offset)
	if _, err := mem.WriteAt(slotBytes(sec, nsec, usec, int64(offset)), int64(h.data+offSlots+next*slotSize)); err != nil {
		return fmt.Errorf("write offset: %w", err)
	}
	binary.LittleEndian.PutUint64(b, next)
	if _, err := mem.WriteAt(b, int64(h.data+offIdx)); err != nil {
		return fmt.Errorf("write slot index: %w", err)
	}
	return nil
}

// Offset returns the offset in the data page.
func (h *Handle) Offset() (time.Duration, error) {
	mem, err := openMem(h.pid, os.O_RDONLY)
	if err != nil {
		return 0, pidError(h.pid, "read offset", err)
	}
	defer mem.Close()
	d, err := h.offset(mem)
	if err != nil {
		return 0, pidError(h.pid, "read offset", err)
	}
	return d, nil
}

func (h *Handle) offset(mem *os.File) (time.Duration, error) {
	if err := h.checkMagic(mem); err != nil {
		return 0, err
	}
	b := make([]byte, 8)
	if _, err := mem.ReadAt(b, int64(h.data+offIdx)); err != nil {
		return 0, err
	}
	idx := binary.LittleEndian.Uint64(b) & 1
	if _, err := mem.ReadAt(b, int64(h.data+offSlots+idx*slotSize+slotTotal)); err != nil {
		return 0, err
	}
	return time.Duration(int64(binary.LittleEndian.Uint64(b))), nil
}

// Undo gives the process back its true clock: the offset is set to zero and
// the original vDSO bytes are written back, in one stop of all threads. The
// pages stay mapped for a later Inject.
func (h *Handle) Undo(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		busy, err := h.undoOnce(ctx)
		if err != nil {
			return pidError(h.pid, "undo", err)
		}
		if !busy {
			return nil
		}
		if attempt >= 200 {
			return pidError(h.pid, "undo", errors.New("a thread stayed inside the patched bytes"))
		}
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Microsecond)
	}
}

func (h *Handle) undoOnce(ctx context.Context) (bool, error) {
	mem, err := openMem(h.pid, os.O_RDWR)
	if err != nil {
		return false, err
	}
	defer mem.Close()
	if err := h.set(mem, 0); err != nil {
		return false, err
	}
	s, err := newSession(ctx, h.pid)
	if err != nil {
		return false, err
	}
	defer s.detach()
	var spans [][2]uint64
	for _, r := range h.funcs {
		spans = append(spans, [2]uint64{r.addr, uint64(r.n)})
	}
	if _, ok := s.busy(spans); ok {
		return true, nil
	}
	for _, r := range h.funcs {
		if _, err := mem.WriteAt(r.orig, int64(r.addr)); err != nil {
			return false, fmt.Errorf("restore %s: %w", r.name, err)
		}
	}
	return false, nil
}

// Read reports whether pid carries our stub, whether its vDSO jumps to it
// and the offset it holds: the offset the process sees now is Effective.
// It stops no thread.
func Read(pid int) (Status, error) {
	st := Status{PID: pid}
	h, err := Find(pid)
	if errors.Is(err, ErrNotInjected) {
		if _, serr := os.Stat("/proc/" + strconv.Itoa(pid)); serr != nil {
			return st, pidError(pid, "read", serr)
		}
		return st, nil
	}
	if err != nil {
		return st, err
	}
	mem, err := openMem(pid, os.O_RDONLY)
	if err != nil {
		return st, pidError(pid, "read", err)
	}
	defer mem.Close()
	st.Injected = true
	if st.Offset, err = h.offset(mem); err != nil {
		return st, pidError(pid, "read", err)
	}
	if st.Patched, err = h.patched(mem); err != nil {
		return st, pidError(pid, "read", err)
	}
	if st.Patched {
		st.Effective = st.Offset
	}
	st.Functions = map[string]Mode{}
	for _, r := range h.funcs {
		st.Functions[r.name] = r.mode
	}
	return st, nil
}

// Modes returns the mode of each redirected function.
func (h *Handle) Modes() map[string]Mode {
	out := map[string]Mode{}
	for _, r := range h.funcs {
		out[r.name] = r.mode
	}
	return out
}
