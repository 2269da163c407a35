package minio

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Port is the S3 API port of every node (its inter-node traffic too).
const Port = 9000

// Paths on a node.
const (
	dataDir = "/data"
	binPath = "/usr/local/bin/minio"
)

// Root credentials of the test cluster (MinIO wants a password of 8 or
// more characters).
const (
	rootUser     = "faultline"
	rootPassword = "faultline-secret"
)

// Bucket is the bucket Setup creates; every workload's objects live in it.
const Bucket = "faultline"

// Node counts MinIO's one erasure set takes (one drive per node).
const (
	minNodes = 2
	maxNodes = 16
)

// settings are the target options, parsed.
type settings struct {
	parity int // EC parity of the standard storage class; 0 = MinIO's default for the set size
}

// Options lists the target options, with their meaning, for `faultline
// list` and validation.
func Options() map[string]string {
	return map[string]string{
		"parity": "default (MinIO's: EC:1 for 2-3 nodes, EC:2 for 4-5, EC:3 for 6-7, else EC:4) or a number 1..nodes/2: erasure parity, via MINIO_STORAGE_CLASS_STANDARD",
	}
}

// parseOptions validates opts into settings; an unknown option or a bad
// value is refused in one line. Whether parity fits the cluster is checked
// in Setup, which knows the node count.
func parseOptions(opts map[string]string) (settings, error) {
	var s settings
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same options
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "parity":
			if v == "default" {
				s.parity = 0
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxNodes/2 {
				return s, fmt.Errorf("minio: option parity=%q: must be default or a number from 1 to nodes/2", v)
			}
			s.parity = n
		default:
			return s, fmt.Errorf("minio: unknown option %q (known: parity)", k)
		}
	}
	return s, nil
}

// values returns the settings as option strings.
func (s settings) values() map[string]string {
	p := "default"
	if s.parity > 0 {
		p = strconv.Itoa(s.parity)
	}
	return map[string]string{"parity": p}
}

// checkCluster refuses, in one line, a cluster MinIO cannot form with
// these settings: one erasure set of 2 to 16 drives, parity at most half.
func (s settings) checkCluster(nodes int) error {
	if nodes < minNodes || nodes > maxNodes {
		return fmt.Errorf("minio: runs on %d to %d nodes (one erasure set, one drive per node), not %d", minNodes, maxNodes, nodes)
	}
	if s.parity > nodes/2 {
		return fmt.Errorf("minio: parity=%d needs at least %d nodes, the cluster has %d", s.parity, 2*s.parity, nodes)
	}
	return nil
}

// DefaultParity is MinIO's own parity for an erasure set of n drives.
func DefaultParity(n int) int {
	switch {
	case n <= 1:
		return 0
	case n <= 3:
		return 1
	case n <= 5:
		return 2
	case n <= 7:
		return 3
	}
	return 4
}

// Quorums are the read and write quorums, in drives, of an erasure set of
// n drives with the given parity (0 = MinIO's default), as MinIO computes
// them: reads need the data drives, writes one more when data equals parity.
func Quorums(n, parity int) (read, write int) {
	if parity == 0 {
		parity = DefaultParity(n)
	}
	data := n - parity
	write = data
	if data == parity {
		write++
	}
	return data, write
}

// argv is the command line of the server on the node at self: every
// node's drive by IP, in the same order everywhere (MinIO checks that all
// nodes were given the same endpoints).
func argv(self netip.Addr, peers []netip.Addr) []string {
	out := []string{binPath, "server", "--address", netip.AddrPortFrom(self, Port).String()}
	for _, p := range peers {
		out = append(out, "http://"+netip.AddrPortFrom(p, Port).String()+dataDir)
	}
	return out
}

// env is the server's environment: root credentials; MINIO_CI_CD so that
// a drive on the container's root file system is accepted; no console, no
// update checks (there is no network beyond the cluster); the parity.
func (s settings) env() []string {
	out := []string{
		"MINIO_ROOT_USER=" + rootUser,
		"MINIO_ROOT_PASSWORD=" + rootPassword,
		"MINIO_CI_CD=1",
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	}
	if s.parity > 0 {
		out = append(out, "MINIO_STORAGE_CLASS_STANDARD=EC:"+strconv.Itoa(s.parity))
	}
	return out
}

// objectName is the object holding register key k; setPrefix is the
// prefix of set key k's elements, one object each.
func objectName(k string) string { return "register/" + k }

func setPrefix(k string) string { return "set/" + k + "/" }

// elementName is the object of one set element.
func elementName(k string, elem int64) string {
	return setPrefix(k) + strconv.FormatInt(elem, 10)
}

// parseElement returns the element an object name under prefix holds.
func parseElement(prefix, name string) (int64, error) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, fmt.Errorf("object %q is not under %q", name, prefix)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("object %q does not name an element", name)
	}
	return n, nil
}
