package zookeeper

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/harness/node"
)

// Ports a ZooKeeper server listens on.
const (
	ClientPort   = 2181
	QuorumPort   = 2888
	ElectionPort = 3888
)

// Paths on a node. The configuration lives in a directory of its own, not
// Debian's /etc/zookeeper/conf, whose log4j.properties writes to a rolling
// file instead of the daemon's log.
const (
	confDir   = "/etc/zookeeper/faultline"
	confPath  = confDir + "/zoo.cfg"
	log4jPath = confDir + "/log4j.properties"
	dataDir   = "/var/lib/zookeeper/faultline"
	myidPath  = dataDir + "/myid"
)

// Quorum timing: ticks of 500 ms; a follower that has not heard from its
// leader for syncLimit ticks (2.5 s) drops out and stops serving reads.
const (
	tickTime  = 500 * time.Millisecond
	initLimit = 10
	syncLimit = 5
)

// Values of the reads option.
const (
	ReadsPlain = "plain"
	ReadsSync  = "sync"
)

// settings are the target options, parsed.
type settings struct {
	reads string // plain or sync
}

func defaultSettings() settings { return settings{reads: ReadsPlain} }

// Options lists the target options, with their meaning, for `faultline
// list` and validation.
func Options() map[string]string {
	return map[string]string{
		"reads": "plain (default: the client's own server answers from its local state, sequentially consistent and possibly stale) or sync (sync(path) before every read, which ZooKeeper documents as nearly but not strictly linearizable)",
	}
}

// parseOptions validates opts into settings; an unknown option or a bad
// value is refused in one line.
func parseOptions(opts map[string]string) (settings, error) {
	s := defaultSettings()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same options
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "reads":
			if v != ReadsPlain && v != ReadsSync {
				return s, fmt.Errorf("zookeeper: option reads=%q: must be %s or %s", v, ReadsPlain, ReadsSync)
			}
			s.reads = v
		default:
			return s, fmt.Errorf("zookeeper: unknown option %q (known: reads)", k)
		}
	}
	return s, nil
}

// values returns the settings as option strings.
func (s settings) values() map[string]string {
	return map[string]string{"reads": s.reads}
}

// renderConfig writes zoo.cfg for an ensemble of servers at peers; server
// ids are positions in peers counted from 1. Addresses are IPs: a node's
// name may not resolve on every runtime.
func renderConfig(peers []netip.Addr) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `# written by faultline
tickTime=%d
initLimit=%d
syncLimit=%d
dataDir=%s
clientPort=%d
# Every worker, health check and final read of a run comes from one address.
maxClientCnxns=0
4lw.commands.whitelist=srvr,mntr,ruok,stat
admin.enableServer=false
`, tickTime.Milliseconds(), initLimit, syncLimit, dataDir, ClientPort)
	for i, p := range peers {
		fmt.Fprintf(&sb, "server.%d=%s:%d:%d\n", i+1, p, QuorumPort, ElectionPort)
	}
	return sb.String()
}

// log4jConfig sends everything at INFO and above to the console, that is
// the daemon's log file.
const log4jConfig = `# written by faultline
log4j.rootLogger=${zookeeper.root.logger}
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Threshold=INFO
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

// classpath is the configuration directory (for log4j.properties) and
// ZooKeeper's jar, whose manifest names its other libraries, plus the
// SLF4J binding to log4j 1.2: Debian's classpath has none, and without it
// the server logs nothing at all.
var classpath = strings.Join([]string{
	confDir,
	"/usr/share/java/zookeeper.jar",
	"/usr/share/java/slf4j-log4j12.jar",
	"/usr/share/java/log4j-1.2.jar",
}, ":")

// jvmFlags keep a server small enough for five on a 2-core machine: a
// small heap, the serial collector, the client compiler only, small thread
// stacks and a bounded metaspace.
var jvmFlags = []string{
	"-Xms64m", "-Xmx256m",
	"-XX:+UseSerialGC",
	"-XX:TieredStopAtLevel=1",
	"-Xss512k",
	"-XX:MaxMetaspaceSize=64m",
	"-XX:+ExitOnOutOfMemoryError",
	"-Djava.net.preferIPv4Stack=true",
	"-Dzookeeper.root.logger=INFO,CONSOLE",
}

// daemon is the ZooKeeper server on a node: QuorumPeerMain in the
// foreground (exec'd by the daemon's shell, so its pid file names the JVM
// itself, which kill, pause and clock faults then act on).
func daemon() node.Daemon {
	argv := append([]string{"/usr/bin/java"}, jvmFlags...)
	argv = append(argv, "-cp", classpath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", confPath)
	return node.Daemon{Name: "zookeeper", Dir: dataDir, Argv: argv}
}
