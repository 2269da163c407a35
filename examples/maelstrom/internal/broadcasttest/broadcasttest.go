// Package broadcasttest holds the partition scenario that the broadcast
// example nodes are tested against, so both face exactly the same faults.
package broadcasttest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"example.com/maelstrom-examples/internal/sim"
)

// Result is what each node held at the end of the scenario.
type Result struct {
	Want    []string            // every acknowledged message
	Missing map[string][]string // node -> acknowledged messages it lacks
	Sent    int                 // node-to-node messages delivered
	Dropped int                 // node-to-node messages lost on cut links
}

// Partitioned starts five nodes, isolates n1, broadcasts 1-5 at n1 and 6-10
// at n2, checks that n2 cannot see n1's messages during the partition,
// heals, and gives the cluster settle to converge. It returns what is
// missing where once settle has passed (or as soon as nothing is).
func Partitioned(ctx context.Context, setup sim.Setup, logw io.Writer, settle time.Duration) (*Result, *sim.Cluster, error) {
	ids := []string{"n1", "n2", "n3", "n4", "n5"}
	c, err := sim.Start(ctx, ids, setup, logw)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Topology(ctx); err != nil {
		c.Close()
		return nil, nil, err
	}
	c.Isolate("n1")
	res := &Result{}
	for v := 1; v <= 10; v++ {
		at := "n1"
		if v > 5 {
			at = "n2"
		}
		reply, err := c.Call(ctx, at, map[string]any{"type": "broadcast", "message": v})
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		if reply.Type() != "broadcast_ok" {
			c.Close()
			return nil, nil, fmt.Errorf("broadcast %d at %s: %s", v, at, reply.Body)
		}
		res.Want = append(res.Want, fmt.Sprint(v))
	}
	time.Sleep(100 * time.Millisecond)
	during, err := c.ReadSet(ctx, "n2")
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if during["1"] {
		c.Close()
		return nil, nil, fmt.Errorf("n2 saw n1's message 1 while n1 was isolated: the simulated partition leaks")
	}
	c.Heal()
	res.Missing, err = WaitConverged(ctx, c, ids, res.Want, settle)
	res.Sent, res.Dropped = c.Stats()
	return res, c, err
}

// WaitConverged polls every node until each holds all of want or settle
// passes, and returns what each node still lacks.
func WaitConverged(ctx context.Context, c *sim.Cluster, ids, want []string, settle time.Duration) (map[string][]string, error) {
	deadline := time.Now().Add(settle)
	for {
		missing := map[string][]string{}
		for _, id := range ids {
			got, err := c.ReadSet(ctx, id)
			if err != nil {
				return nil, err
			}
			for _, w := range want {
				if !got[w] {
					missing[id] = append(missing[id], w)
				}
			}
			sort.Strings(missing[id])
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
