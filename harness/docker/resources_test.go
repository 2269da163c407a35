package docker

import (
	"encoding/json"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/faultline/faultline/models/resources"
)

func TestSampleOf(t *testing.T) {
	for _, tc := range []struct {
		name, stats string
		want        resources.Sample
	}{{
		name: "cgroup v1, two networks, two devices",
		stats: `{"read":"2026-12-07T15:00:00Z","pids_stats":{"current":12},
			"cpu_stats":{"cpu_usage":{"total_usage":5000000000},"online_cpus":2,"throttling_data":{"throttled_time":7}},
			"memory_stats":{"usage":104857600,"limit":2147483648,"stats":{"total_inactive_file":4857600}},
			"networks":{"eth0":{"rx_bytes":100,"tx_bytes":200,"rx_packets":3,"tx_packets":4,"rx_errors":1,"tx_dropped":2},
			            "eth1":{"rx_bytes":1,"tx_bytes":2,"rx_packets":1,"tx_packets":1}},
			"blkio_stats":{"io_service_bytes_recursive":[{"major":8,"op":"Read","value":4096},{"major":8,"op":"Write","value":8192},
			  {"major":9,"op":"Read","value":1},{"major":8,"op":"Total","value":12288}]}}`,
		want: resources.Sample{Node: "n1", CPUNS: 5e9, CPUs: 2, ThrottledNS: 7, Mem: 100e6, MemLimit: 2 << 30, Procs: 12,
			NetRxBytes: 101, NetTxBytes: 202, NetRxPackets: 4, NetTxPackets: 5, NetErrors: 1, NetDropped: 2,
			BlkRead: 4097, BlkWrite: 8192},
	}, {
		name: "cgroup v2: inactive_file, lower-case ops, cores from per-CPU usage",
		stats: `{"cpu_stats":{"cpu_usage":{"total_usage":10,"percpu_usage":[5,5,0,0]}},
			"memory_stats":{"usage":300,"stats":{"inactive_file":100}},
			"blkio_stats":{"io_service_bytes_recursive":[{"op":"read","value":5},{"op":"write","value":6}]}}`,
		want: resources.Sample{Node: "n1", CPUNS: 10, CPUs: 4, Mem: 200, BlkRead: 5, BlkWrite: 6},
	}, {
		name:  "cache above usage",
		stats: `{"memory_stats":{"usage":10,"stats":{"total_inactive_file":20}}}`,
		want:  resources.Sample{Node: "n1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var st container.StatsResponse
			if err := json.Unmarshal([]byte(tc.stats), &st); err != nil {
				t.Fatal(err)
			}
			if got := sampleOf("n1", st); got != tc.want {
				t.Errorf("sample\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
