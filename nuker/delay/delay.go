// Package delay is faultline's user-space packet delayer, for kernels
// without netem: iptables rules send the chosen traffic to an nfnetlink
// queue (-j NFQUEUE --queue-bypass), and the delayer bound to that queue
// holds each packet for its drawn time before accepting it.
//
// Each packet's hold is drawn independently: with probability Reorder% it
// is sent on at once (so it overtakes the packets held before it: the
// receiver sees them out of order), else it is held Delay plus a uniform
// draw from [-Jitter, +Jitter], never less than zero. Independent draws
// reorder packets also through jitter alone, when packets come closer
// together than the jitter's spread, as netem does without a rate.
//
// The delayer runs as "faultline __packet-delayer" (Main) in a helper
// container that shares only the node's network namespace, with
// CAP_NET_ADMIN. When it stops it accepts every packet it holds at once;
// when it dies, the kernel drops what it held and --queue-bypass lets
// later packets through undelayed, so traffic is never black-holed.
package delay

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Config is what the delayer does to each packet.
type Config struct {
	// Delay is the mean hold.
	Delay time.Duration
	// Jitter is the half-width of the uniform spread around Delay.
	Jitter time.Duration
	// Reorder is the percentage of packets sent on at once, unheld.
	Reorder int
}

// Check refuses a config the delayer cannot apply.
func (c Config) Check() error {
	switch {
	case c.Delay < 0 || c.Jitter < 0:
		return fmt.Errorf("delay %v and jitter %v must not be negative", c.Delay, c.Jitter)
	case c.Reorder < 0 || c.Reorder > 100:
		return fmt.Errorf("reorder %d%% is not in 0..100", c.Reorder)
	case c.Delay == 0 && c.Jitter == 0:
		return fmt.Errorf("no delay and no jitter: nothing to do")
	}
	return nil
}

// Hold draws how long to hold one packet, from r alone.
func (c Config) Hold(r *rand.Rand) time.Duration {
	if c.Reorder > 0 && r.IntN(100) < c.Reorder {
		return 0
	}
	d := c.Delay
	if c.Jitter > 0 {
		d += time.Duration(r.Int64N(2*int64(c.Jitter)+1)) - c.Jitter
	}
	return max(d, 0)
}

// Stats count what Run did.
type Stats struct {
	Packets, Held, AtOnce int
}

// Run delays the packets of q as cfg says until ctx ends, then accepts
// every packet still held and returns. Errors of single verdicts are
// written to log (the kernel gives up on such a packet by itself when
// the queue is unbound).
//
// One goroutine accepts held packets in order of their due time (ties in
// arrival order), so a constant delay never reorders: a timer per packet
// would let two packets due close together race each other's goroutine
// on a loaded machine.
func Run(ctx context.Context, q *Queue, cfg Config, r *rand.Rand, log io.Writer) (Stats, error) {
	var (
		mu      sync.Mutex
		st      Stats
		held    holdQueue
		seq     uint64
		stopped bool
		wake    = make(chan struct{}, 1)
	)
	accept := func(id uint32) {
		if err := q.Accept(id); err != nil {
			fmt.Fprintf(log, "accept packet %d: %v\n", id, err)
		}
	}
	recvErr := make(chan error, 1)
	go func() {
		for {
			ids, err := q.Receive()
			if err != nil {
				recvErr <- err
				return
			}
			now := time.Now()
			mu.Lock()
			for _, id := range ids {
				st.Packets++
				h := cfg.Hold(r)
				if h == 0 || stopped {
					st.AtOnce++
					accept(id)
					continue
				}
				st.Held++
				seq++
				heap.Push(&held, heldPacket{due: now.Add(h), seq: seq, id: id})
			}
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	releaserDone := make(chan struct{})
	releaseCtx, stopReleaser := context.WithCancel(context.Background())
	go func() {
		defer close(releaserDone)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			mu.Lock()
			now := time.Now()
			for held.Len() > 0 && !held[0].due.After(now) {
				accept(heap.Pop(&held).(heldPacket).id)
			}
			next := time.Hour
			if held.Len() > 0 {
				next = held[0].due.Sub(now)
			}
			mu.Unlock()
			timer.Reset(next)
			select {
			case <-releaseCtx.Done():
				return
			case <-wake:
			case <-timer.C:
			}
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-recvErr:
		err = fmt.Errorf("nfqueue %d: receive: %w", q.num, err)
	}
	stopReleaser()
	<-releaserDone
	mu.Lock()
	stopped = true
	for held.Len() > 0 {
		accept(heap.Pop(&held).(heldPacket).id)
	}
	out := st
	mu.Unlock()
	return out, err
}

// heldPacket is a packet waiting for its due time.
type heldPacket struct {
	due time.Time
	seq uint64 // arrival order, for equal due times
	id  uint32
}

// holdQueue is a min-heap of held packets by due time, then arrival.
type holdQueue []heldPacket

func (h holdQueue) Len() int { return len(h) }
func (h holdQueue) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h holdQueue) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *holdQueue) Push(x any)   { *h = append(*h, x.(heldPacket)) }
func (h *holdQueue) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
