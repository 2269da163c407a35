package disk

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// The control protocol is one command per line, answered by one line that
// starts with "ok" or "error":
//
//	power-fail                 drop everything not durable
//	pending                    what power-fail would drop now
//	enospc on|off              ENOSPC on writes and creates
//	eio-read on|off            EIO on reads
//	eio-fsync on|off           EIO on fsync
//	delay DURATION             added to every operation (0 for none)
//	corrupt MODE N SEED        damage the files (see Corrupt); answers the
//	                           changes as one JSON array
//	clear                      all switchable faults off: passthrough
//	faults                     the switchable faults in force

// Control runs one control command and returns its answer (without "ok").
func (d *FS) Control(line string) (string, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", errors.New("empty command")
	}
	arg := ""
	if len(f) > 1 {
		arg = f[1]
	}
	if f[0] == "corrupt" {
		return d.controlCorrupt(f[1:])
	}
	if len(f) > 2 {
		return "", fmt.Errorf("%s: too many arguments", f[0])
	}
	faults := d.Faults()
	switch f[0] {
	case "power-fail":
		out, err := d.PowerFail()
		return formatDropped(out), err
	case "pending":
		return formatDropped(d.Pending()), nil
	case "clear":
		faults = Faults{}
	case "faults":
		return formatFaults(faults), nil
	case "enospc", "eio-read", "eio-fsync":
		on, err := onOff(arg)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f[0], err)
		}
		switch f[0] {
		case "enospc":
			faults.ENOSPC = on
		case "eio-read":
			faults.EIORead = on
		default:
			faults.EIOFsync = on
		}
	case "delay":
		dur, err := time.ParseDuration(arg)
		if err != nil || dur < 0 {
			return "", fmt.Errorf("delay: want a duration like 20ms, got %q", arg)
		}
		faults.Delay = dur
	default:
		return "", fmt.Errorf("unknown command %q", f[0])
	}
	d.SetFaults(faults)
	return formatFaults(faults), nil
}

// controlCorrupt runs "corrupt MODE N SEED" and answers its changes.
func (d *FS) controlCorrupt(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("corrupt: want MODE BYTES SEED")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return "", fmt.Errorf("corrupt: bytes %q: %w", args[1], err)
	}
	seed, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return "", fmt.Errorf("corrupt: seed %q: %w", args[2], err)
	}
	changes, err := d.Corrupt(args[0], n, seed)
	b, jerr := json.Marshal(nonNilChanges(changes))
	if jerr != nil {
		return "", fmt.Errorf("corrupt: %w", jerr)
	}
	if err != nil {
		// What was changed before the error still counts.
		return "", fmt.Errorf("%w (changed %s)", err, b)
	}
	return string(b), nil
}

func nonNilChanges(c []Change) []Change {
	if c == nil {
		return []Change{}
	}
	return c
}

func onOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("want on or off, got %q", s)
}

func formatDropped(p Dropped) string {
	return fmt.Sprintf("files=%d bytes=%d entries=%d", p.Files, p.Bytes, p.Entries)
}

func formatFaults(f Faults) string {
	return fmt.Sprintf("enospc=%t eio-read=%t eio-fsync=%t delay=%s", f.ENOSPC, f.EIORead, f.EIOFsync, f.Delay)
}

// ServeControl answers control connections on ln until ctx is done.
func (d *FS) ServeControl(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("disk: control: %w", err)
		}
		go d.serveConn(c)
	}
}

func (d *FS) serveConn(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		out, err := d.Control(sc.Text())
		reply := "ok " + out
		if err != nil {
			reply = "error " + err.Error()
			slog.Warn("disk control", "command", sc.Text(), "err", err)
		}
		if _, err := fmt.Fprintln(c, strings.TrimSpace(reply)); err != nil {
			return
		}
	}
}

// Send sends one command to the control socket at path and returns the
// answer after "ok"; an "error" answer is an error.
func Send(ctx context.Context, path, command string) (string, error) {
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "unix", path)
	if err != nil {
		return "", fmt.Errorf("disk control %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(c, command); err != nil {
		return "", fmt.Errorf("disk control %s: send: %w", path, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("disk control %s: %q: no answer: %w", path, command, err)
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("disk control: %s: %s", command, rest)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "ok")), nil
}
