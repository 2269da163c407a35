package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/models/resources"
)

var _ node.ResourceReader = (*Cluster)(nil)

// ResourceSource names where ReadResources' counters come from.
func (c *Cluster) ResourceSource() string { return "docker stats (one-shot)" }

// ReadResources reads every node container's counters from the engine's
// stats API, all nodes at once. One-shot stats return at once (plain
// stats wait a second to prime CPU deltas, which Sample does not need).
func (c *Cluster) ReadResources(ctx context.Context) []resources.Sample {
	out := make([]resources.Sample, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before := time.Now()
			st, err := c.stats(ctx, n.id)
			after := time.Now()
			out[i] = sampleOf(n.name, st)
			if err != nil {
				out[i] = resources.Sample{Node: n.name, Error: err.Error()}
			}
			// When the engine stamped its read within the request (its
			// clock agrees with ours: a local engine), that is when the
			// counters were read; a busy engine answers a second late.
			out[i].At = after
			if st.Read.After(before) && st.Read.Before(after) {
				out[i].At = st.Read
			}
		}()
	}
	wg.Wait()
	return out
}

func (c *Cluster) stats(ctx context.Context, id string) (container.StatsResponse, error) {
	var st container.StatsResponse
	r, err := c.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return st, fmt.Errorf("container stats: %w", err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decode container stats: %w", err)
	}
	if st.Read.IsZero() || st.Read.Year() < 2000 {
		// A stopped container's stats are all zero, its time too.
		return st, fmt.Errorf("container %s is not running", id[:min(12, len(id))])
	}
	return st, nil
}

// sampleOf turns the engine's stats into a sample.
func sampleOf(name string, st container.StatsResponse) resources.Sample {
	s := resources.Sample{
		Node:        name,
		CPUNS:       st.CPUStats.CPUUsage.TotalUsage,
		CPUs:        float64(st.CPUStats.OnlineCPUs),
		ThrottledNS: st.CPUStats.ThrottlingData.ThrottledTime,
		MemLimit:    st.MemoryStats.Limit,
		Procs:       st.PidsStats.Current,
	}
	if s.CPUs == 0 {
		s.CPUs = float64(len(st.CPUStats.CPUUsage.PercpuUsage))
	}
	// As docker stats does: page cache the kernel can drop is not in use
	// (cgroup v1 calls it total_inactive_file, v2 inactive_file).
	inactive := st.MemoryStats.Stats["total_inactive_file"]
	if v, ok := st.MemoryStats.Stats["inactive_file"]; ok && inactive == 0 {
		inactive = v
	}
	if st.MemoryStats.Usage > inactive {
		s.Mem = st.MemoryStats.Usage - inactive
	}
	for _, n := range st.Networks {
		s.NetRxBytes += n.RxBytes
		s.NetTxBytes += n.TxBytes
		s.NetRxPackets += n.RxPackets
		s.NetTxPackets += n.TxPackets
		s.NetErrors += n.RxErrors + n.TxErrors
		s.NetDropped += n.RxDropped + n.TxDropped
	}
	for _, e := range st.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			s.BlkRead += e.Value
		case "write":
			s.BlkWrite += e.Value
		}
	}
	return s
}
