package delay

import (
	"bufio"
	"compress/gzip"
	"os"
	"strings"
)

// Support is what this machine's kernel offers for delaying packets.
type Support struct {
	// NFQueue: nfnetlink_queue and the iptables NFQUEUE target, which the
	// delayer needs.
	NFQueue bool
	// Netem: the netem qdisc, which the delayer does without.
	Netem bool
	// From says where the answer comes from.
	From string
}

// Detect reads the running kernel's configuration (/proc/config.gz), or,
// without one, the netfilter and module entries that show loaded or
// built-in parts. For a Docker engine on this machine, that is the
// nodes' kernel.
func Detect() Support {
	if s, ok := fromConfig("/proc/config.gz"); ok {
		return s
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	return Support{
		NFQueue: exists("/proc/net/netfilter/nfnetlink_queue") || exists("/sys/module/nfnetlink_queue"),
		Netem:   exists("/sys/module/sch_netem"),
		From:    "loaded modules",
	}
}

// fromConfig reads Support from a gzipped kernel config.
func fromConfig(path string) (Support, bool) {
	f, err := os.Open(path)
	if err != nil {
		return Support{}, false
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return Support{}, false
	}
	set := map[string]bool{}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && (v == "y" || v == "m") {
			set[k] = true
		}
	}
	if sc.Err() != nil {
		return Support{}, false
	}
	return Support{
		NFQueue: set["CONFIG_NETFILTER_NETLINK_QUEUE"] && set["CONFIG_NETFILTER_XT_TARGET_NFQUEUE"],
		Netem:   set["CONFIG_NET_SCH_NETEM"],
		From:    path,
	}, true
}

// String says it in a few words, for `faultline list`.
func (s Support) String() string {
	yes := map[bool]string{true: "yes", false: "no"}
	return "nfqueue delayer " + yes[s.NFQueue] + ", netem " + yes[s.Netem] + " (from " + s.From + ")"
}
