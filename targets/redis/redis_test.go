package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/go-redsync/redsync/v4"
	goredis "github.com/redis/go-redis/v9"

	"github.com/faultline/faultline/targets/targettest"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]string
		want map[string]string // subset of Settings().Map()
		err  string
	}{
		{"defaults", nil, map[string]string{"mode": "sentinel", "failover": "sentinel", "wait": "0", "appendfsync": "everysec", "replica-reads": "false"}, ""},
		{"safe", map[string]string{"failover": "none", "appendfsync": "always"}, map[string]string{"failover": "none", "appendfsync": "always"}, ""},
		{"wait and min replicas", map[string]string{"wait": "2", "min-replicas-to-write": "1", "min-replicas-max-lag": "3"},
			map[string]string{"wait": "2", "min-replicas-to-write": "1", "min-replicas-max-lag": "3"}, ""},
		{"replica reads", map[string]string{"replica-reads": "true"}, map[string]string{"replica-reads": "true"}, ""},
		{"redlock", map[string]string{"mode": "redlock"}, map[string]string{"mode": "redlock", "failover": "none"}, ""},
		{"redlock with failover none", map[string]string{"mode": "redlock", "failover": "none"}, map[string]string{"mode": "redlock"}, ""},
		{"unknown knob", map[string]string{"durability": "yes"}, nil, `unknown option "durability"`},
		{"bad mode", map[string]string{"mode": "cluster"}, nil, "mode="},
		{"bad failover", map[string]string{"failover": "raft"}, nil, "failover="},
		{"negative wait", map[string]string{"wait": "-1"}, nil, "wait="},
		{"wait not a number", map[string]string{"wait": "all"}, nil, "wait="},
		{"bad fsync", map[string]string{"appendfsync": "sometimes"}, nil, "appendfsync="},
		{"bad bool", map[string]string{"replica-reads": "maybe"}, nil, "replica-reads="},
		{"redlock with sentinel", map[string]string{"mode": "redlock", "failover": "sentinel"}, nil, "failover=sentinel"},
		{"redlock with wait", map[string]string{"mode": "redlock", "wait": "1"}, nil, "wait does not apply"},
		{"redlock with replica reads", map[string]string{"mode": "redlock", "replica-reads": "true"}, nil, "replica-reads does not apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New("", tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("New(%v) err=%v, want %q", tt.opts, err, tt.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tg.Settings()
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			for k := range got {
				if _, ok := Options()[k]; !ok {
					t.Errorf("setting %s is not a documented option", k)
				}
			}
		})
	}
}

func TestVersionsFaultsWorkloads(t *testing.T) {
	if _, err := New("7.2", nil); err == nil {
		t.Error("New accepted version 7.2: only Debian's 7.0 exists here")
	}
	tests := []struct {
		opts      map[string]string
		faults    string
		workloads string
	}{
		{nil, "partition,kill,pause,clock,packet,power,delay,disk-full,disk-error,slow-disk,corrupt,failover", "counter,lock,register,set"},
		{map[string]string{"failover": "none"}, "partition,kill,pause,clock,packet,power,delay,disk-full,disk-error,slow-disk,corrupt", "counter,lock,register,set"},
		{map[string]string{"mode": "redlock"}, "partition,kill,pause,clock,packet,power,delay,disk-full,disk-error,slow-disk,corrupt", "lock"},
	}
	for _, tt := range tests {
		tg, err := New(DefaultVersion, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tg.Faults(), ","); got != tt.faults {
			t.Errorf("%v: faults %s, want %s", tt.opts, got, tt.faults)
		}
		if got := strings.Join(tg.Workloads(), ","); got != tt.workloads {
			t.Errorf("%v: workloads %s, want %s", tt.opts, got, tt.workloads)
		}
	}
	sw, err := Software("")
	if err != nil || strings.Join(sw.Packages, ",") != "redis-server,redis-sentinel" || len(sw.Binaries) != 0 {
		t.Errorf("Software = %+v, %v", sw, err)
	}
}

func TestRedisConfig(t *testing.T) {
	def, _ := ParseSettings(nil)
	strict, _ := ParseSettings(map[string]string{"appendfsync": "always", "min-replicas-to-write": "2", "min-replicas-max-lag": "1"})
	tests := []struct {
		name     string
		s        Settings
		primary  string
		want     []string
		wantNone []string
	}{
		{"primary", def, "", []string{"bind 0.0.0.0", "protected-mode no", "daemonize no", `logfile ""`, "appendonly yes",
			"appendfsync everysec", "repl-diskless-sync-delay 0", "replica-announce-ip 10.0.0.12", "min-replicas-to-write 0"},
			[]string{"replicaof"}},
		{"replica", def, "10.0.0.11", []string{"replicaof 10.0.0.11 6379"}, nil},
		{"strict", strict, "", []string{"appendfsync always", "min-replicas-to-write 2", "min-replicas-max-lag 1"}, nil},
	}
	for _, tt := range tests {
		conf := redisConfig(tt.s, "10.0.0.12", tt.primary)
		lines := strings.Split(conf, "\n")
		has := func(l string) bool {
			for _, x := range lines {
				if x == l || strings.HasPrefix(x, l+" ") {
					return true
				}
			}
			return false
		}
		for _, w := range tt.want {
			if !has(w) {
				t.Errorf("%s: config lacks %q:\n%s", tt.name, w, conf)
			}
		}
		for _, w := range tt.wantNone {
			if has(w) {
				t.Errorf("%s: config has %q:\n%s", tt.name, w, conf)
			}
		}
	}
}

func TestSentinelConfig(t *testing.T) {
	peers := []peer{{"n1", "10.0.0.11"}, {"n2", "10.0.0.12"}, {"n3", "10.0.0.13"}, {"n4", "10.0.0.14"}, {"n5", "10.0.0.15"}}
	conf := sentinelConfig("tok", peers[1], peers[0], peers)
	for _, w := range []string{
		"sentinel monitor mymaster 10.0.0.11 6379 3", // a majority of 5
		"sentinel announce-ip 10.0.0.12",
		"sentinel down-after-milliseconds mymaster 2000",
		"sentinel failover-timeout mymaster 10000",
		"sentinel myid " + sentinelID("tok", "n2"),
		"sentinel known-replica mymaster 10.0.0.13 6379",
		"sentinel known-sentinel mymaster 10.0.0.11 26379 " + sentinelID("tok", "n1"),
		"daemonize no",
	} {
		if !strings.Contains(conf, w+"\n") {
			t.Errorf("sentinel.conf lacks %q:\n%s", w, conf)
		}
	}
	for _, w := range []string{"known-replica mymaster 10.0.0.11 ", "known-sentinel mymaster 10.0.0.12 "} {
		if strings.Contains(conf, w) {
			t.Errorf("sentinel.conf has %q (the primary is no replica, a Sentinel no peer of itself)", w)
		}
	}
	if id := sentinelID("tok", "n1"); len(id) != 40 || id == sentinelID("tok2", "n1") {
		t.Errorf("sentinel id %q: want 40 hex digits, different per run", id)
	}
	three := sentinelConfig("tok", peers[0], peers[0], peers[:3])
	if !strings.Contains(three, "sentinel monitor mymaster 10.0.0.11 6379 2\n") {
		t.Errorf("3 nodes: quorum should be 2:\n%s", three)
	}
}

// TestClassify: only errors after which Redis certainly did nothing are
// definite (facts file); a timeout or a lost connection must stay
// indeterminate, or the checker raises false alarms.
func TestClassify(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}
	readReset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name     string
		err      error
		definite bool
	}{
		{"READONLY", serverError(t, "READONLY You can't write against a read only replica."), true},
		{"NOREPLICAS", serverError(t, "NOREPLICAS Not enough good replicas to write."), true},
		{"MASTERDOWN", serverError(t, "MASTERDOWN Link with MASTER is down"), true},
		{"LOADING", serverError(t, "LOADING Redis is loading the dataset in memory"), true},
		{"WRONGTYPE", serverError(t, "WRONGTYPE Operation against a key holding the wrong kind of value"), true},
		{"dial refused", dialRefused, true},
		{"dial timeout", fmt.Errorf("wrapped: %w", dialTimeout), true},
		{"no sentinel", errors.New("redis: all sentinels specified in configuration are unreachable: dial tcp: i/o timeout"), true},
		{"pool timeout", goredis.ErrPoolTimeout, true},
		{"closed", goredis.ErrClosed, true},
		{"EOF", io.EOF, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, false},
		{"reset after send", readReset, false},
		{"read timeout", readTimeout, false},
		{"short WAIT", errShortWait{2, 1}, false},
		{"other", errors.New("something odd"), false},
	}
	var cases []targettest.ClassCase
	for _, tt := range tests {
		want := targettest.Indeterminate
		if tt.definite {
			want = targettest.Definite
		}
		cases = append(cases, targettest.ClassCase{Name: tt.name, Err: tt.err, Want: want})
	}
	// The kit adds the rules every target shares (timeouts and
	// cancellations stay indeterminate, causes are kept, nil is nil).
	targettest.Classify(t, classify, cases)
}

// serverError is a real go-redis error reply, made by parsing one.
func serverError(t *testing.T, msg string) error {
	t.Helper()
	srv, cli := net.Pipe()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := srv.Read(buf); err != nil {
				return
			}
			fmt.Fprintf(srv, "-%s\r\n", msg)
		}
	}()
	c := goredis.NewClient(&goredis.Options{
		Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return cli, nil },
	})
	defer c.Close()
	err := c.Get(context.Background(), "k").Err()
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		t.Fatalf("fake server: got %v, not a Redis error reply", err)
	}
	return err
}

// TestRedlockUnanswered: a Redlock refusal where every master answered is
// definite; one where a master's reply was lost is not.
func TestRedlockUnanswered(t *testing.T) {
	taken := &redsync.ErrNodeTaken{Node: 1}
	lost := &redsync.RedisError{Node: 2, Err: io.EOF}
	refused := &redsync.RedisError{Node: 3, Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"taken everywhere", &redsync.ErrTaken{Nodes: []int{0, 1, 2}}, false},
		{"failed", redsync.ErrFailed, false},
		{"taken and refused", errors.Join(taken, refused), false},
		{"taken and lost", errors.Join(taken, lost), true},
		{"lost alone", lost, true},
		{"expired", redsync.ErrLockAlreadyExpired, false},
	}
	for _, tt := range tests {
		if got := unanswered(tt.err); got != tt.want {
			t.Errorf("%s: unanswered=%v, want %v", tt.name, got, tt.want)
		}
	}
}
