package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

func TestParseDialOptions(t *testing.T) {
	tests := []struct {
		opts    map[string]string
		wantIso string
		wantCC  connConfig
		err     string
	}{
		{nil, IsolationSerializable, connConfig{user: "postgres", database: "postgres"}, ""},
		{map[string]string{"isolation": "read-committed", "user": "app", "password": "pw", "database": "db"},
			IsolationReadCommitted, connConfig{user: "app", password: "pw", database: "db"}, ""},
		{map[string]string{"isolation": "snapshot"}, "", connConfig{}, "isolation"},
		{map[string]string{"user": ""}, "", connConfig{}, "user"},
		{map[string]string{"replication": "async"}, "", connConfig{}, `unknown option "replication"`},
	}
	for _, tt := range tests {
		iso, cc, err := parseDialOptions(tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDialOptions(%v) = %v; want an error with %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil || iso != tt.wantIso || cc != tt.wantCC {
			t.Errorf("parseDialOptions(%v) = %q, %+v, %v; want %q, %+v", tt.opts, iso, cc, err, tt.wantIso, tt.wantCC)
		}
	}
}

// TestDSN: every value reaches pgx as given, quotes and backslashes too.
func TestDSN(t *testing.T) {
	tests := []struct {
		addr string
		cc   connConfig
		host string
		port uint16
	}{
		{"10.0.0.2:5432", defaultConn(), "10.0.0.2", 5432},
		{"db.example:6543", connConfig{user: "o'brien", password: `p w'\x`, database: "my db"}, "db.example", 6543},
		{"[::1]:5432", connConfig{user: "u", database: "d"}, "::1", 5432},
	}
	for _, tt := range tests {
		dsn, err := tt.cc.dsn(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		got := connConfig{user: cfg.User, password: cfg.Password, database: cfg.Database}
		if cfg.Host != tt.host || cfg.Port != tt.port || got != tt.cc {
			t.Errorf("dsn %s parses to %s:%d %+v, want %s:%d %+v", dsn, cfg.Host, cfg.Port, got, tt.host, tt.port, tt.cc)
		}
	}
	if _, err := defaultConn().dsn("10.0.0.2"); err == nil {
		t.Error("an address without a port was accepted")
	}
}

// TestNoPrimaryKnown: with no primary to write to, a write is refused
// definitely, without a connection.
func TestNoPrimaryKnown(t *testing.T) {
	c := newClient(clientConfig{isolation: IsolationSerializable, readFrom: ReadFromPrimary, conn: defaultConn(),
		primary: func() (endpoint, bool) { return endpoint{}, false }})
	err := c.Write(context.Background(), "k", 1)
	if !workloads.IsDefinite(err) || c.primary != nil {
		t.Errorf("write with no primary: %v (connected: %v); want definite, unconnected", err, c.primary != nil)
	}
}
