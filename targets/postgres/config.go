package postgres

import (
	"fmt"
	"sort"
	"strings"
)

// Target option names and values (--target-opt name=value).
const (
	OptReplication = "replication"
	OptSyncCommit  = "synchronous-commit"
	OptIsolation   = "isolation"
	OptReadFrom    = "read-from"

	ReplicationAsync = "async"
	ReplicationSync  = "sync"

	IsolationReadCommitted  = "read-committed"
	IsolationRepeatableRead = "repeatable-read"
	IsolationSerializable   = "serializable"

	ReadFromPrimary = "primary"
	ReadFromStandby = "standby"
)

// optionValues lists the accepted values of each option, the default first.
func optionValues() map[string][]string {
	return map[string][]string{
		OptReplication: {ReplicationSync, ReplicationAsync},
		OptSyncCommit:  {"on", "off", "local", "remote_write", "remote_apply"},
		OptIsolation:   {IsolationSerializable, IsolationRepeatableRead, IsolationReadCommitted},
		OptReadFrom:    {ReadFromPrimary, ReadFromStandby},
	}
}

// Options lists the target options PostgreSQL takes, with their meaning,
// for `faultline list` and validation.
func Options() map[string]string {
	return map[string]string{
		OptReplication: "sync (default: every commit waits for ANY 1 standby) or async (commits acknowledged before any standby has them: a failover loses them)",
		OptSyncCommit:  "synchronous_commit: on (default), remote_apply, remote_write, local or off (local and off do not wait for standbys even with replication=sync)",
		OptIsolation:   "serializable (default), repeatable-read (snapshot isolation: write skew, G2-item) or read-committed (lost updates), for bank and list-append transactions (register and set run single read-committed statements)",
		OptReadFrom:    "primary (default) or standby: reads go to the client's own node, which is usually a lagging standby (stale reads; serializable is capped at repeatable read there)",
	}
}

// config is the parsed set of options.
type config struct {
	replication string
	syncCommit  string
	isolation   string
	readFrom    string
}

// parseOptions checks opts against optionValues and fills in defaults.
func parseOptions(opts map[string]string) (config, error) {
	vals := optionValues()
	got := map[string]string{}
	for k, v := range vals {
		got[k] = v[0]
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same error for the same options
	for _, k := range keys {
		v := opts[k]
		allowed, ok := vals[k]
		if !ok {
			known := make([]string, 0, len(vals))
			for n := range vals {
				known = append(known, n)
			}
			sort.Strings(known)
			return config{}, fmt.Errorf("postgres: unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
		if !contains(allowed, v) {
			return config{}, fmt.Errorf("postgres: option %s=%q: must be one of %s", k, v, strings.Join(allowed, ", "))
		}
		got[k] = v
	}
	return config{
		replication: got[OptReplication],
		syncCommit:  got[OptSyncCommit],
		isolation:   got[OptIsolation],
		readFrom:    got[OptReadFrom],
	}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// settings renders c as the effective option map.
func (c config) settings() map[string]string {
	return map[string]string{
		OptReplication: c.replication,
		OptSyncCommit:  c.syncCommit,
		OptIsolation:   c.isolation,
		OptReadFrom:    c.readFrom,
	}
}

// Port is the port PostgreSQL listens on.
const Port = 5432

// Paths on every node.
const (
	dataDir   = "/var/lib/postgresql/data"
	socketDir = "/tmp"
	osUser    = "postgres"
)

// serverConf renders postgresql.conf, the same on every node so that any
// node can be promoted without a configuration change: the synchronous
// standby list names every node (a primary is never its own standby, so
// naming itself is harmless), which keeps sync replication in force after a
// failover and counts the rebuilt old primary as a candidate.
func serverConf(c config, nodeNames []string) string {
	syncNames := ""
	if c.replication == ReplicationSync {
		syncNames = fmt.Sprintf("ANY 1 (%s)", strings.Join(nodeNames, ", "))
	}
	lines := []string{
		"# written by faultline",
		"listen_addresses = '*'",
		fmt.Sprintf("port = %d", Port),
		fmt.Sprintf("unix_socket_directories = '%s'", socketDir),
		"max_connections = 300",
		"shared_buffers = 32MB",
		"wal_level = replica",
		"max_wal_senders = 16",
		// No replication slots: a slot lives on one primary only and would
		// have to be recreated on every promotion; keeping recent WAL is
		// enough for runs of minutes, and a standby that still falls behind
		// is rebuilt.
		"max_replication_slots = 16",
		"wal_keep_size = 1GB",
		"hot_standby = on",
		"hot_standby_feedback = on",
		// pg_rewind needs hint bits in the WAL.
		"wal_log_hints = on",
		fmt.Sprintf("synchronous_standby_names = '%s'", syncNames),
		fmt.Sprintf("synchronous_commit = %s", c.syncCommit),
		// Notice lost peers within seconds, not the default minute, so roles
		// and health settle quickly after partitions; not much less, or a
		// base backup on a loaded 2-core machine is cut off.
		"wal_sender_timeout = 15s",
		"wal_receiver_timeout = 15s",
		"wal_retrieve_retry_interval = 1s",
		"wal_receiver_status_interval = 1s",
		// No client_connection_check_interval: a backend waiting for a
		// synchronous standby that notices its client left ends the wait
		// and makes its commit visible though no standby has it. Waiting
		// backends pile up instead (hence max_connections) until a standby
		// returns or the primary dies.
		"logging_collector = off",
		"log_destination = 'stderr'",
		"log_line_prefix = '%m [%p] %a '",
		"log_min_messages = warning",
		"log_checkpoints = off",
		"datestyle = 'iso, mdy'",
		"timezone = 'UTC'",
	}
	return strings.Join(lines, "\n") + "\n"
}

// hbaConf renders pg_hba.conf: trust for everyone on the test network, for
// sessions and replication alike.
func hbaConf() string {
	return strings.Join([]string{
		"# written by faultline",
		"local all         all             trust",
		"local replication all             trust",
		"host  all         all 0.0.0.0/0   trust",
		"host  replication all 0.0.0.0/0   trust",
	}, "\n") + "\n"
}

// conninfo is the libpq connection string a standby named name uses to
// stream from the primary at host.
func conninfo(host, name string) string {
	return fmt.Sprintf("host=%s port=%d user=%s application_name=%s connect_timeout=2", host, Port, osUser, name)
}

// standbyAutoConf renders postgresql.auto.conf for a standby: where it
// streams from. faultline writes this file instead of ALTER SYSTEM so a
// standby can be repointed while it is down or paused.
func standbyAutoConf(primaryHost, name string) string {
	return fmt.Sprintf("# written by faultline\nprimary_conninfo = '%s'\nrecovery_target_timeline = 'latest'\n", conninfo(primaryHost, name))
}
