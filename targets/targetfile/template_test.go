package targetfile

import (
	"strings"
	"testing"
)

func TestNodeHelpers(t *testing.T) {
	nodes := sampleNodes(3)
	c := ClusterData{Ports: map[string]int{"client": 7000, "peer": 7001}, Options: map[string]string{}}
	tests := []struct {
		src  string
		want string // on n2, or the error's end
		err  bool
	}{
		{`{{nodes "{name}=http://{addr}:{port.peer}"}}`, "n1=http://10.0.0.2:7001,n2=http://10.0.0.3:7001,n3=http://10.0.0.4:7001", false},
		{`{{peers "{addr}:{port.client}" " "}}`, "10.0.0.2:7000 10.0.0.4:7000", false},
		{`{{nodes "server.{index}={addr}:2888:3888" ";"}}`, "server.1=10.0.0.2:2888:3888;server.2=10.0.0.3:2888:3888;server.3=10.0.0.4:2888:3888", false},
		{`{{range .Peers}}{{.Name}} {{end}}`, "n1 n3 ", false},
		{`{{.Index}}/{{len .Nodes}} {{.RunID}}`, "2/3 faultline-sample", false},
		{`{{nodes "{host}"}}`, `unknown placeholder {host} (known: {name}, {addr}, {index}, {port.NAME})`, true},
		{`{{nodes "{name"}}`, `"{name": unclosed {`, true},
		{`{{nodes "{port.raft}"}}`, `no port named "raft" (ports: client, peer)`, true},
		{`{{nodes "{name}" "," ";"}}`, `want a format and at most one separator`, true},
	}
	for _, tt := range tests {
		p := &problems{file: "t"}
		tm := p.parseTmpl(strAt{tt.src, 1}, "x", nodeLevel)
		if tm == nil {
			t.Fatalf("%s: %v", tt.src, p.err())
		}
		got, err := tm.execNode(sampleData(c, nodes, 1))
		switch {
		case tt.err && (err == nil || !strings.HasSuffix(err.Error(), tt.want)):
			t.Errorf("%s: err %v, want one ending %q", tt.src, err, tt.want)
		case !tt.err && (err != nil || got != tt.want):
			t.Errorf("%s = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
	// In a cluster-level template the helpers refuse.
	p := &problems{file: "t"}
	tm := p.parseTmpl(strAt{`{{nodes "{name}"}}`, 1}, "x", clusterLevel)
	if _, err := tm.exec(c); err == nil || !strings.Contains(err.Error(), "only available in start, health and primary") {
		t.Errorf("nodes in a cluster template: %v", err)
	}
}
