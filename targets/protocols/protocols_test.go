package protocols_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/workloads"
)

// TestDefaultEntries: every shipped protocol is there, fully described,
// serving only workloads faultline has.
func TestDefaultEntries(t *testing.T) {
	cat := protocols.Default()
	want := []string{"etcd", "http-json", "maelstrom", "nats", "postgres", "resp", "s3", "zookeeper"}
	if got := cat.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	have := workloads.Default()
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			p, err := cat.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != name {
				t.Errorf("entry %q is named %q", name, p.Name)
			}
			if p.Summary == "" || strings.Contains(p.Summary, "\n") {
				t.Errorf("summary %q: want one non-empty line", p.Summary)
			}
			if p.DefaultPort <= 0 || p.DefaultPort > 65535 {
				t.Errorf("default port %d", p.DefaultPort)
			}
			if len(p.Workloads) == 0 {
				t.Error("no workloads")
			}
			seen := map[string]bool{}
			for _, w := range p.Workloads {
				if _, ok := have[w]; !ok {
					t.Errorf("workload %q is not one of %v", w, have.Names())
				}
				if seen[w] {
					t.Errorf("workload %q listed twice", w)
				}
				seen[w] = true
			}
			if len(p.Options) == 0 {
				t.Error("no options described")
			}
			for k, v := range p.Options {
				if k == "" || v == "" || strings.Contains(v, "\n") {
					t.Errorf("option %q: description %q", k, v)
				}
			}
			if p.Dial == nil {
				t.Error("no Dial")
			}
		})
	}
}

// countingListener accepts connections and counts them, to show a Dial
// that refuses its options never reached the server.
func countingListener(t *testing.T) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), accepted
}

// TestDialRefusesOptions: an unknown option, or a bad value of a known
// one, is refused in one line naming it, before anything is sent.
func TestDialRefusesOptions(t *testing.T) {
	tests := []struct {
		protocol string
		opts     map[string]string
		mention  string
	}{
		{"etcd", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"etcd", map[string]string{"read": "stale"}, "read"},
		{"resp", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"resp", map[string]string{"wait": "-1"}, "wait"},
		{"resp", map[string]string{"mode": "redlock"}, "mode"}, // the target's, not the protocol's
		{"postgres", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"postgres", map[string]string{"isolation": "snapshot"}, "isolation"},
		{"postgres", map[string]string{"read-from": "standby"}, "read-from"},
		{"s3", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"s3", map[string]string{"bucket": ""}, "bucket"},
		{"zookeeper", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"zookeeper", map[string]string{"reads": "fast"}, "reads"},
		{"nats", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"nats", map[string]string{"replicas": "2"}, "replicas"},
		{"nats", map[string]string{"sync": "always"}, "sync"}, // the server's setting
		{"http-json", map[string]string{"no-such-option": "1"}, "no-such-option"},
		{"http-json", map[string]string{"timeout": "soon"}, "timeout"},
	}
	cat := protocols.Default()
	for _, tt := range tests {
		t.Run(tt.protocol+"/"+tt.mention, func(t *testing.T) {
			p, err := cat.Lookup(tt.protocol)
			if err != nil {
				t.Fatal(err)
			}
			addr, accepted := countingListener(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			c, err := p.Dial(ctx, addr, tt.opts)
			if err == nil {
				c.Close()
				t.Fatalf("Dial(%v) accepted", tt.opts)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("refusal took %s", took)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q: want one line naming %q", msg, tt.mention)
			}
			time.Sleep(50 * time.Millisecond) // a connection in flight would be counted by now
			if n := accepted.Load(); n != 0 {
				t.Errorf("Dial connected %d times before refusing its options", n)
			}
		})
	}
}

func TestLookupAndWith(t *testing.T) {
	cat := protocols.Default()
	if _, err := cat.Lookup("mine"); err == nil || !strings.Contains(err.Error(), "etcd") {
		t.Errorf("Lookup(mine) on the shipped catalog: %v; want unknown, listing the known ones", err)
	}
	errDial := errors.New("fake")
	own := protocols.Protocol{Name: "mine", Summary: "test", DefaultPort: 8080, Workloads: []string{"register"},
		Dial: func(context.Context, string, map[string]string) (workloads.Client, error) { return nil, errDial }}
	more := cat.With(own)
	if p, err := more.Lookup("mine"); err != nil || p.DefaultPort != 8080 {
		t.Errorf("Lookup after With: %+v, %v", p, err)
	}
	if len(more) != len(cat)+1 {
		t.Errorf("With: %d protocols, want %d", len(more), len(cat)+1)
	}
	if _, err := cat.Lookup("mine"); err == nil {
		t.Error("With changed the catalog it was called on")
	}
	own.Name = "etcd"
	if p, _ := cat.With(own).Lookup("etcd"); p.DefaultPort != 8080 {
		t.Error("With did not replace a protocol of the same name")
	}
}
