package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faultline/faultline/workloads"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", opts: nil,
			want: config{replication: "sync", syncCommit: "on", isolation: "serializable", readFrom: "primary"}},
		{name: "weak", opts: map[string]string{"replication": "async", "synchronous-commit": "local", "isolation": "repeatable-read", "read-from": "standby"},
			want: config{replication: "async", syncCommit: "local", isolation: "repeatable-read", readFrom: "standby"}},
		{name: "remote_apply", opts: map[string]string{"synchronous-commit": "remote_apply"},
			want: config{replication: "sync", syncCommit: "remote_apply", isolation: "serializable", readFrom: "primary"}},
		{name: "unknown knob", opts: map[string]string{"fsync": "off"}, wantErr: `unknown option "fsync"`},
		{name: "bad value", opts: map[string]string{"isolation": "snapshot"}, wantErr: `isolation="snapshot": must be one of serializable, repeatable-read, read-committed`},
		{name: "bad replication", opts: map[string]string{"replication": "semi"}, wantErr: "replication="},
		{name: "case matters", opts: map[string]string{"read-from": "Standby"}, wantErr: "read-from="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOptionsDescribeEveryKnob(t *testing.T) {
	desc := Options()
	for k := range optionValues() {
		if d := desc[k]; d == "" || strings.Contains(d, "\n") {
			t.Errorf("option %s: description %q, want one line", k, d)
		}
	}
	if len(desc) != len(optionValues()) {
		t.Errorf("%d descriptions for %d options", len(desc), len(optionValues()))
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New("16", nil); err == nil {
		t.Error("version 16 accepted; only Debian bookworm's 15 is installable")
	}
	if _, err := New("", map[string]string{"wait": "1"}); err == nil {
		t.Error("unknown option accepted")
	}
	tg, err := New("", map[string]string{"isolation": "read-committed"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.Settings()["isolation"]; got != "read-committed" {
		t.Errorf("settings isolation = %q", got)
	}
}

func TestServerConf(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	tests := []struct {
		name      string
		cfg       config
		want, not []string
	}{
		{name: "sync serializable",
			cfg:  config{replication: "sync", syncCommit: "on", isolation: "serializable"},
			want: []string{"synchronous_standby_names = 'ANY 1 (n1, n2, n3)'", "synchronous_commit = on", "wal_log_hints = on", "listen_addresses = '*'"}},
		{name: "async repeatable read",
			cfg:  config{replication: "async", syncCommit: "local", isolation: "repeatable-read"},
			want: []string{"synchronous_standby_names = ''", "synchronous_commit = local"},
			not:  []string{"ANY 1"}},
		{name: "remote apply",
			cfg:  config{replication: "sync", syncCommit: "remote_apply", isolation: "read-committed"},
			want: []string{"synchronous_commit = remote_apply"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serverConf(tt.cfg, names)
			for _, w := range tt.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("config has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestStandbyConf(t *testing.T) {
	got := standbyAutoConf("10.0.0.2", "n3")
	for _, w := range []string{"primary_conninfo = 'host=10.0.0.2 port=5432 user=postgres application_name=n3 ", "recovery_target_timeline = 'latest'"} {
		if !strings.Contains(got, w) {
			t.Errorf("standby config lacks %q:\n%s", w, got)
		}
	}
	if hba := hbaConf(); !strings.Contains(hba, "host  replication all 0.0.0.0/0   trust") {
		t.Errorf("pg_hba lacks the replication line:\n%s", hba)
	}
}

type safeErr struct{}

func (safeErr) Error() string     { return "not sent" }
func (safeErr) SafeToRetry() bool { return true }

// closedErr is what pgx returns when the socket dies while it waits for an
// answer: SafeToRetry, though the request was sent.
type closedErr struct{}

func (closedErr) Error() string     { return "conn closed" }
func (closedErr) SafeToRetry() bool { return true }
func (closedErr) Unwrap() error     { return pgconn.ErrConnClosed }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func pgErr(code string) error {
	return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m"})
}

func TestClassify(t *testing.T) {
	// A real connection error: nothing listens on port 1.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, connErr := pgconn.Connect(ctx, "host=127.0.0.1 port=1 user=x connect_timeout=2")
	if connErr == nil {
		t.Fatal("connected to port 1")
	}
	tests := []struct {
		name     string
		err      error
		ph       phase
		definite bool
	}{
		{"serialization failure at commit", pgErr(pgerrcode.SerializationFailure), phaseCommit, true},
		{"deadlock", pgErr(pgerrcode.DeadlockDetected), phaseCommit, true},
		{"unique violation", pgErr(pgerrcode.UniqueViolation), phaseCommit, true},
		{"read only transaction", pgErr(pgerrcode.ReadOnlySQLTransaction), phaseCommit, true},
		{"in failed transaction", pgErr(pgerrcode.InFailedSQLTransaction), phaseCommit, true},
		{"lock not available", pgErr(pgerrcode.LockNotAvailable), phaseCommit, true},
		{"cannot connect now", pgErr(pgerrcode.CannotConnectNow), phaseCommit, true},
		{"too many connections", pgErr(pgerrcode.TooManyConnections), phaseConnect, true},
		{"admin shutdown at commit", pgErr(pgerrcode.AdminShutdown), phaseCommit, false},
		{"crash shutdown at commit", pgErr(pgerrcode.CrashShutdown), phaseCommit, false},
		{"admin shutdown before commit", pgErr(pgerrcode.AdminShutdown), phaseBefore, true},
		{"resolution unknown", pgErr(pgerrcode.TransactionResolutionUnknown), phaseCommit, false},
		{"commit rolled back", pgx.ErrTxCommitRollback, phaseCommit, true},
		{"timeout at commit", context.DeadlineExceeded, phaseCommit, false},
		{"net timeout at commit", timeoutErr{}, phaseCommit, false},
		{"eof at commit", io.ErrUnexpectedEOF, phaseCommit, false},
		{"eof before commit", io.ErrUnexpectedEOF, phaseBefore, true},
		{"timeout before commit", context.DeadlineExceeded, phaseBefore, true},
		{"read timeout", context.DeadlineExceeded, phaseRead, true},
		{"safe to retry", safeErr{}, phaseCommit, true},
		{"conn closed at commit", closedErr{}, phaseCommit, false},
		{"conn closed before commit", closedErr{}, phaseBefore, true},
		{"connect error", connErr, phaseCommit, true},
		{"connect error at connect", connErr, phaseConnect, true},
		{"answer stays", workloads.Answer(errors.New("no")), phaseCommit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, tt.ph)
			if got == nil {
				t.Fatal("classify dropped the error")
			}
			if workloads.IsDefinite(got) != tt.definite {
				t.Errorf("definite = %v, want %v (%v)", workloads.IsDefinite(got), tt.definite, got)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classified error %v does not wrap %v", got, tt.err)
			}
		})
	}
	if classify(nil, phaseCommit) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestBrokenConn(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{pgErr(pgerrcode.SerializationFailure), false},
		{io.EOF, true},
		{context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		if got := brokenConn(tt.err); got != tt.want {
			t.Errorf("brokenConn(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestLSN(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"0/3000060", 0x3000060},
		{"16/B374D848", 0x16<<32 | 0xB374D848},
		{"", 0},
		{"garbage", 0},
	}
	for _, tt := range tests {
		got := parseLSN(tt.in)
		if got != tt.want {
			t.Errorf("parseLSN(%q) = %x, want %x", tt.in, got, tt.want)
		}
		if tt.want != 0 && fmtLSN(got) != tt.in {
			t.Errorf("fmtLSN(%x) = %s, want %s", got, fmtLSN(got), tt.in)
		}
	}
}

func TestSoftware(t *testing.T) {
	sw, err := Software("")
	if err != nil {
		t.Fatal(err)
	}
	if sw.Name != "postgres" || len(sw.Packages) != 1 || sw.Packages[0] != "postgresql-15" {
		t.Errorf("software %+v", sw)
	}
}
