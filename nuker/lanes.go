package nuker

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// lane is a Plan's Lane while it runs: its own random source (so lanes
// running at once draw reproducibly) and the recorded steps it still
// replays.
type lane struct {
	Lane
	index  int
	rand   *rand.Rand
	kinds  map[string]Kind
	replay []Step
	total  int // sum of the mix's weights
}

// wait is d moved by the lane's jitter.
func (l *lane) wait(d time.Duration) time.Duration {
	if l.Jitter <= 0 {
		return d
	}
	d += time.Duration(l.rand.Int64N(int64(2*l.Jitter)+1)) - l.Jitter
	return max(d, 0)
}

// next draws the round's steps: one from the mix, or one per pick of the
// sequence; recorded steps are played first.
func (l *lane) next(k *Nuker) []*step {
	picks := l.Seq
	if len(picks) == 0 {
		picks = []Pick{l.drawPick()}
	}
	out := make([]*step, 0, len(picks))
	for _, pk := range picks {
		var s Step
		if len(l.replay) > 0 {
			s, l.replay = l.replay[0], l.replay[1:]
		} else {
			s = l.kinds[pk.Fault].draw(k, l.rand, pk.Variant)
		}
		s.Lane = l.index
		out = append(out, &step{Step: s, kind: l.kinds[s.Fault]})
	}
	return out
}

// drawPick draws one pick of the mix by weight. With equal weights it
// draws as the one-fault-at-a-time schedule always has (IntN over the
// kinds), so seeds keep their meaning.
func (l *lane) drawPick() Pick {
	n := l.rand.IntN(l.total)
	for _, pk := range l.Mix {
		if n < pk.weight() {
			return pk
		}
		n -= pk.weight()
	}
	return l.Mix[len(l.Mix)-1]
}

// run loops the lane until ctx is done; the faults it leaves active are
// healed by the caller.
func (l *lane) run(ctx context.Context, k *Nuker) {
	if !sleep(ctx, l.After) {
		return
	}
	for {
		if !sleep(ctx, l.wait(l.Quiet)) {
			return
		}
		// The draw happens under k.mu only to read the nuker's state
		// consistently; the lane's source is its own.
		k.mu.Lock()
		steps := l.next(k)
		k.mu.Unlock()
		var started []*step
		for i, s := range steps {
			if i > 0 && !sleep(ctx, l.wait(l.Interval)) {
				return
			}
			k.start(ctx, s)
			started = append(started, s)
		}
		if !sleep(ctx, l.wait(l.Interval)) {
			return
		}
		// Stopping must finish even if ctx ends meanwhile.
		hctx, cancel := k.healContext(ctx)
		for i := len(started) - 1; i >= 0; i-- {
			_ = k.stop(hctx, started[i]) // recorded and logged; the schedule goes on
		}
		cancel()
	}
}

// runLanes runs every lane at once until ctx is done.
func (k *Nuker) runLanes(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range k.lanes {
		wg.Go(func() { l.run(ctx, k) })
	}
	wg.Wait()
}
