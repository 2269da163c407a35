package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/faultline/faultline/harness/node"
)

func TestParseNodesFile(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
		err        string
	}{
		{"plain", "n1\nn2.example.com\n10.0.0.3\n", []string{"n1", "n2.example.com", "10.0.0.3"}, ""},
		{"comments and ports", "# machines\n\n  a:2222  # first\n[fe80::1]:22\n", []string{"a:2222", "[fe80::1]:22"}, ""},
		{"empty", "# nothing\n", nil, "lists no hosts"},
		{"bad port", "a:99999\n", nil, "line 1: host \"a:99999\": bad port"},
		{"user@host", "root@a\n", nil, "want HOST or HOST:PORT"},
		{"spaces", "a b\n", nil, "want HOST or HOST:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "nodes")
			if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ParseNodesFile(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %q %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{"a": "a:22", "a:2200": "a:2200", "10.1.2.3": "10.1.2.3:22", "fe80::1": "[fe80::1]:22", "[fe80::1]:23": "[fe80::1]:23"} {
		if got, err := hostPort(in); err != nil || got != want {
			t.Errorf("hostPort(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ":22", "a:", "a:x", "[a", "u@a", "a/b"} {
		if got, err := hostPort(bad); err == nil {
			t.Errorf("hostPort(%q) = %q, want an error", bad, got)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{Hosts: []string{"a", "a:22", "b:0"}, PrivateKey: "/does/not/exist", KnownHosts: "/does/not/exist/either"}
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"listed twice", "bad port", "no user", "private key", "known hosts file /does/not/exist/either does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "ssh runtime: ") {
			t.Errorf("not one line per problem: %q", line)
		}
	}
}

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHostKeys: a known key passes, a changed key is refused even with
// accept-new, an unknown host is refused unless accept-new, which records
// it so the next check passes without it.
func TestHostKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	known, other, fresh := newKey(t), newKey(t), newKey(t)
	addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 22}
	if err := os.WriteFile(path, []byte("10.0.0.1 "+string(ssh.MarshalAuthorizedKey(known))), 0o600); err != nil {
		t.Fatal(err)
	}
	strict := &hostKeys{path: path}
	if err := strict.callback("10.0.0.1:22", addr, known); err != nil {
		t.Errorf("known key refused: %v", err)
	}
	if algos := strict.algorithms("10.0.0.1:22"); len(algos) != 1 || algos[0] != ssh.KeyAlgoED25519 {
		t.Errorf("algorithms for a host known by ed25519: %v", algos)
	}
	lenient := &hostKeys{path: path, acceptNew: true}
	if err := lenient.callback("10.0.0.1:22", addr, other); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("changed key: %v, want refused", err)
	}
	if err := strict.callback("10.0.0.2:22", addr, fresh); err == nil || !strings.Contains(err.Error(), "--ssh-accept-new-host-keys") {
		t.Errorf("unknown host without accept-new: %v", err)
	}
	if err := lenient.callback("10.0.0.2:2222", addr, fresh); err != nil {
		t.Errorf("unknown host with accept-new: %v", err)
	}
	if err := strict.callback("10.0.0.2:2222", addr, fresh); err != nil {
		t.Errorf("recorded host: %v", err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "[10.0.0.2]:2222 ssh-ed25519 ") {
		t.Errorf("known_hosts after accept-new:\n%s", data)
	}
	created := &hostKeys{path: filepath.Join(dir, "sub", "new_known_hosts"), acceptNew: true}
	if err := created.callback("h:22", addr, fresh); err != nil {
		t.Errorf("accept-new into a missing file: %v", err)
	}
}

func TestParseSimulation(t *testing.T) {
	out := `NOTE: This is only a simulation!
Reading package lists...
Inst libmnl0 (1.0.4-3 Debian:12.12/oldstable [amd64])
Inst iputils-ping (3:20221126-1+deb12u1 Debian:12.12/oldstable [amd64])
Inst openssl [3.0.15-1~deb12u1] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst netbase (6.4 Debian:12.12/oldstable [all])
Conf libmnl0 (1.0.4-3 Debian:12.12/oldstable [amd64])
`
	got := parseSimulation(out)
	want := []debFile{{"libmnl0", "1.0.4-3", "amd64"}, {"iputils-ping", "3:20221126-1+deb12u1", "amd64"}, {"openssl", "3.0.22-1~deb12u2", "amd64"}, {"netbase", "6.4", "all"}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
	if f := got[1].File(); f != "iputils-ping_3%3a20221126-1+deb12u1_amd64.deb" {
		t.Errorf("file name %q", f)
	}
}

func TestCommandQuoting(t *testing.T) {
	n := &Node{runID: "r1"}
	if got := n.command(true, []string{"sh", "-c", "echo 'a b' $x"}); got != `env FAULTLINE_RUN=r1 sh -c 'echo '\''a b'\'' $x'` {
		t.Errorf("root: %s", got)
	}
	n.sudo = true
	if got := n.command(false, []string{"id", "-u"}); got != "sudo -n -- id -u" {
		t.Errorf("sudo: %s", got)
	}
}

// TestTopmostNewPaths runs the teardown script's filter on a list of new
// paths: only those whose parent existed before the run are removed.
func TestTopmostNewPaths(t *testing.T) {
	in := "/data\n/data/x\n/data/x/y\n/etc/nats\n/etc/nats/a.conf\n/var/lib/etcd\n/var/lib/etcd-other\n/var/lib/etcd/data\n"
	cmd := exec.Command("sh", "-c", topmostAwk)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "/data\n/etc/nats\n/var/lib/etcd\n/var/lib/etcd-other\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRecipeHashChanges(t *testing.T) {
	a := recipe{Version: installVersion, Name: "x", Packages: []string{"p"}}
	b := a
	b.Binaries = []binRecipe{{"etcd", "h"}}
	if a.hash() == b.hash() || a.marker() == b.marker() {
		t.Error("a binary does not change the recipe hash")
	}
	if !strings.HasPrefix(a.marker(), installedDir+"/x-") {
		t.Errorf("marker %s", a.marker())
	}
}

func TestNewRecipeRefuses(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		name string
		sw   node.Software
		want string
	}{
		{"user image", node.Software{Name: "x", Image: "mine:dev"}, "cannot install a Docker image"},
		{"bad package", node.Software{Name: "x", Packages: []string{"-o=evil"}}, "invalid Debian package name"},
		{"relative file", node.Software{Name: "x", Files: []node.File{{Src: "/etc/hostname", Dst: "etc/x"}}}, "is not absolute"},
		{"local named like a binary", node.Software{Name: "x", Binaries: []node.GoBinary{{Name: "a", Package: "example.com/a", Require: []string{"example.com/a@v1.0.0"}}},
			Local: []node.LocalGo{{Name: "a", Dir: "."}}}, "want a plain file name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := newRecipe(ctx, tt.sw, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newRecipe: %v, want %q", err, tt.want)
			}
		})
	}
}
