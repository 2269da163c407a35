package targetfile

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/etcd"
)

// sampleCluster is three fake nodes at 10.0.0.2-4.
func sampleCluster() []node.Node {
	return []node.Node{newFakeNode("n1", "10.0.0.2"), newFakeNode("n2", "10.0.0.3"), newFakeNode("n3", "10.0.0.4")}
}

// argvFor expands the start command for node i of nodes, as Setup does.
func argvFor(t *testing.T, tg targets.Target, nodes []node.Node, i int) (node.Daemon, error) {
	t.Helper()
	base := baseOf(tg)
	return base.daemon(nodeData(base.cluster, nodes[i], nodes, "faultline-test"))
}

func baseOf(tg targets.Target) *Target {
	if p, ok := tg.(*PrimaryTarget); ok {
		return p.Target
	}
	return tg.(*Target)
}

func TestGoodFiles(t *testing.T) {
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	etcdSW, err := etcd.Software(etcd.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file      string
		name      string
		version   string
		settings  map[string]string
		workloads []string
		software  node.Software
		faults    []string
		logs      []string
		primary   bool
		// argv and env of node n2's daemon in sampleCluster.
		argv []string
		env  []string
		dir  string
	}{
		{
			file:      "etcd.yaml",
			name:      "etcd",
			version:   "v3.6.16",
			settings:  map[string]string{"read": "linearizable"},
			workloads: []string{"register", "set", "lock"},
			software:  etcdSW,
			faults:    []string{"partition", "kill", "pause", "clock"},
			logs:      []string{"/var/log/faultline/etcd.log"},
			primary:   true,
			// The flags of targets/etcd's daemon, for n2.
			argv: []string{
				"/usr/local/bin/etcd",
				"--name", "n2",
				"--data-dir", "/var/lib/etcd/data",
				"--listen-client-urls", "http://0.0.0.0:2379",
				"--advertise-client-urls", "http://10.0.0.3:2379",
				"--listen-peer-urls", "http://0.0.0.0:2380",
				"--initial-advertise-peer-urls", "http://10.0.0.3:2380",
				"--initial-cluster", "n1=http://10.0.0.2:2380,n2=http://10.0.0.3:2380,n3=http://10.0.0.4:2380",
				"--initial-cluster-state", "new",
				"--initial-cluster-token", "faultline-test",
				"--log-level", "info",
			},
			dir: "/var/lib/etcd",
		},
		{
			file:      "mystore.yaml",
			name:      "mystore",
			version:   "1.2",
			settings:  map[string]string{"replication": "sync", "consistency": "strong"},
			workloads: []string{"register"},
			software: node.Software{
				Name:     "mystore",
				Packages: []string{"procps"},
				Local:    []node.LocalGo{{Name: "mystore", Dir: filepath.Join(abs, "mystore")}},
				Files:    []node.File{{Src: filepath.Join(abs, "mystore.conf"), Dst: "/etc/mystore/mystore.conf", Mode: 0o644}},
			},
			faults:  []string{"partition", "pause"},
			logs:    []string{"/var/log/faultline/mystore.log", "/var/lib/mystore/raft.log"},
			primary: true,
			argv:    []string{"mystore", "-id=2", "-listen=10.0.0.3:7000", "-peers=n1@10.0.0.2:7001,n3@10.0.0.4:7001", "-replication=sync"},
			env:     []string{"MYSTORE_DATA=/var/lib/mystore/n2", "GOMAXPROCS=2"},
			dir:     "/var/lib/mystore",
		},
		{
			file:      "kvsvc.yaml",
			name:      "kvsvc",
			version:   "0.1",
			settings:  map[string]string{"mode": "safe"},
			workloads: []string{"register", "set", "counter"},
			software: node.Software{
				Name:  "kvsvc",
				Local: []node.LocalGo{{Name: "kvsvc", Dir: filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(abs))), "examples", "kvsvc")}},
			},
			faults:  []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"},
			logs:    []string{"/var/log/faultline/kvsvc.log"},
			primary: true,
			argv:    []string{"/usr/local/bin/kvsvc", "--name=n2", "--listen=0.0.0.0:8080", "--peers=n1=10.0.0.2:8080,n2=10.0.0.3:8080,n3=10.0.0.4:8080", "--data=/var/lib/kvsvc", "--mode=safe"},
			dir:     "/var/lib/kvsvc",
		},
		{
			file:      "minimal.yaml",
			name:      "tiny",
			version:   "0.1",
			settings:  map[string]string{},
			workloads: []string{"register", "set"},
			software:  node.Software{Name: "tiny", Image: "tiny:0.1"},
			faults:    []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"},
			logs:      []string{"/var/log/faultline/tiny.log"},
			argv:      []string{"/tiny", "n2"},
			dir:       "/var/lib/tiny",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tg, err := Load(filepath.Join("testdata", tt.file), fakeProtocols())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			sw, err := tg.Software()
			if err != nil {
				t.Fatal(err)
			}
			if tg.Name() != tt.name || tg.Version() != tt.version {
				t.Errorf("Name, Version = %q, %q; want %q, %q", tg.Name(), tg.Version(), tt.name, tt.version)
			}
			if !reflect.DeepEqual(tg.Settings(), tt.settings) {
				t.Errorf("Settings = %v, want %v", tg.Settings(), tt.settings)
			}
			if !slices.Equal(tg.Workloads(), tt.workloads) {
				t.Errorf("Workloads = %v, want %v", tg.Workloads(), tt.workloads)
			}
			if !reflect.DeepEqual(sw, tt.software) {
				t.Errorf("Software =\n%#v\nwant\n%#v", sw, tt.software)
			}
			if got := targets.SupportedFaults(tg); !slices.Equal(got, tt.faults) {
				t.Errorf("SupportedFaults = %v, want %v", got, tt.faults)
			}
			if !slices.Equal(tg.LogFiles(), tt.logs) {
				t.Errorf("LogFiles = %v, want %v", tg.LogFiles(), tt.logs)
			}
			if _, ok := tg.(nuker.PrimaryLister); ok != tt.primary {
				t.Errorf("is a PrimaryLister: %v, want %v", ok, tt.primary)
			}
			d, err := argvFor(t, tg, sampleCluster(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Argv, tt.argv) {
				t.Errorf("argv =\n%q\nwant\n%q", d.Argv, tt.argv)
			}
			if !slices.Equal(d.Env, tt.env) || d.Dir != tt.dir || d.Name != tt.name {
				t.Errorf("daemon %s env %q dir %q; want %s %q %q", d.Name, d.Env, d.Dir, tt.name, tt.env, tt.dir)
			}
		})
	}
}

func TestNodeCounts(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	nc := tg.(targets.NodeChecker)
	for n, ok := range map[int]bool{1: false, 2: false, 3: true, 5: true, 6: false} {
		if err := nc.CheckNodes(n); (err == nil) != ok {
			t.Errorf("CheckNodes(%d) = %v, want ok %v", n, err, ok)
		}
	}
}

func TestVersionAndOptions(t *testing.T) {
	f, err := Parse("testdata/etcd.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	if f.DefaultVersion() != "v3.6.16" || f.Options()["read"] != `serializable reads are served from the node's local state and may be stale; one of linearizable, serializable (default "linearizable")` {
		t.Errorf("DefaultVersion %q, Options %q", f.DefaultVersion(), f.Options())
	}
	tests := []struct {
		version string
		opts    map[string]string
		require string // the etcd binary's module, or the error
		read    string
		err     string
	}{
		{"", nil, "go.etcd.io/etcd/server/v3@v3.6.16", "linearizable", ""},
		{"v3.5.21", map[string]string{"read": "serializable"}, "go.etcd.io/etcd/server/v3@v3.5.21", "serializable", ""},
		{"", map[string]string{"read": "eventual"}, "", "", `testdata/etcd.yaml: option read="eventual": want one of linearizable, serializable`},
		{"", map[string]string{"durable": "yes"}, "", "", `testdata/etcd.yaml: option "durable": unknown (known: read)`},
	}
	for _, tt := range tests {
		tg, err := f.Target(tt.version, tt.opts)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInput) {
				t.Errorf("New(%q, %v) err = %v, want %q wrapping ErrInput", tt.version, tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q, %v): %v", tt.version, tt.opts, err)
			continue
		}
		sw, _ := tg.Software()
		if got := sw.Binaries[0].Require[0]; got != tt.require {
			t.Errorf("New(%q): require %q, want %q", tt.version, got, tt.require)
		}
		c, err := tg.NewClient(context.Background(), newFakeNode("n1", "10.0.0.2"))
		if err != nil {
			t.Fatal(err)
		}
		fc := c.(*fakeClient)
		if fc.addr != "10.0.0.2:2379" || fc.opts["read"] != tt.read {
			t.Errorf("New(%v): client dialled %s with %v, want 10.0.0.2:2379 with read=%s", tt.opts, fc.addr, fc.opts, tt.read)
		}
	}
}

func TestClientOptions(t *testing.T) {
	tg, err := Load("testdata/mystore.yaml", fakeProtocols())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tg.NewClient(context.Background(), newFakeNode("n3", "10.0.0.4"))
	if err != nil {
		t.Fatal(err)
	}
	fc := c.(*fakeClient)
	// replication passes through (the protocol knows it); consistency comes
	// from client.options.
	want := map[string]string{"replication": "sync", "consistency": "strong"}
	if fc.addr != "10.0.0.4:7000" || !reflect.DeepEqual(fc.opts, want) {
		t.Errorf("dialled %s with %v, want 10.0.0.4:7000 with %v", fc.addr, fc.opts, want)
	}
}

// nextResolver stands in for the shipped catalog.
type nextResolver struct{ asked []string }

func (r *nextResolver) NewTarget(name, version string, opts map[string]string) (targets.Target, error) {
	r.asked = append(r.asked, name)
	return nil, errors.New("from the catalog")
}

func TestResolver(t *testing.T) {
	tests := []struct {
		target string
		name   string // the target's name, or
		err    string // the error
		next   bool   // asked of Next
	}{
		{"testdata/etcd.yaml", "etcd", "", false},
		{"./testdata/mystore.yaml", "mystore", "", false},
		{"etcd", "", "from the catalog", true},
		{"missing.yaml", "", "invalid target file: open missing.yaml: no such file or directory", false},
	}
	for _, tt := range tests {
		next := &nextResolver{}
		tg, err := Resolver{Protocols: fakeProtocols(), Next: next}.NewTarget(tt.target, "", nil)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: err %v, want %q", tt.target, err, tt.err)
			}
		} else if err != nil || tg.Name() != tt.name {
			t.Errorf("%s: %v, %v; want target %s", tt.target, tg, err, tt.name)
		}
		if (len(next.asked) > 0) != tt.next {
			t.Errorf("%s: Next asked %v, want %v", tt.target, next.asked, tt.next)
		}
	}
	if _, err := (Resolver{}).NewTarget("etcd", "", nil); err == nil {
		t.Error("a name without Next resolved")
	}
}
