package targetfile

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/faultline/faultline/harness/node"
)

// ClusterData is what templates for the whole cluster see (software,
// logs, client options): nothing about one node.
type ClusterData struct {
	// Version is the version under test (the file's, or the one asked for).
	Version string
	// Options are the target options' effective values.
	Options map[string]string
	// Ports are the named ports; "client" is always there.
	Ports map[string]int
	// DataDir is start.data-dir, the daemon's working directory.
	DataDir string
}

// NodeData is what templates for one node see (start, health, primary).
type NodeData struct {
	ClusterData
	// Name, Addr and Index (1-based) describe the node the template is for.
	Name  string
	Addr  string
	Index int
	// Nodes are all the cluster's nodes, Peers all but this one.
	Nodes []NodeInfo
	Peers []NodeInfo
	// RunID is unique to each start of a cluster (a cluster token).
	RunID string
}

// NodeInfo is one node as templates see it.
type NodeInfo struct {
	Name  string
	Addr  string
	Index int
}

// level says which data a template is executed with.
type level int

const (
	clusterLevel level = iota
	nodeLevel
)

// tmpl is one templated string of the file, parsed at load.
type tmpl struct {
	src  string
	path string // e.g. start.command[3], for errors
	line int
	lvl  level
	t    *template.Template
}

// errNodeOnly is what the node helpers say in a cluster-level template.
var errNodeOnly = errors.New("nodes and peers are only available in start, health and primary templates")

// funcs are the helpers templates may call, bound to one node's data.
func funcs(d *NodeData) template.FuncMap {
	list := func(which []NodeInfo, format string, sep []string) (string, error) {
		if d == nil {
			return "", errNodeOnly
		}
		s := ","
		switch len(sep) {
		case 0:
		case 1:
			s = sep[0]
		default:
			return "", errors.New("want a format and at most one separator")
		}
		parts := make([]string, len(which))
		for i, n := range which {
			p, err := expand(format, n, d.Ports)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return strings.Join(parts, s), nil
	}
	return template.FuncMap{
		// nodes "{name}=http://{addr}:{port.peer}" [","] formats every
		// node and joins them: no range loop needed for a peer list.
		"nodes": func(format string, sep ...string) (string, error) {
			if d == nil {
				return "", errNodeOnly
			}
			return list(d.Nodes, format, sep)
		},
		// peers is nodes without the node the template is for.
		"peers": func(format string, sep ...string) (string, error) {
			if d == nil {
				return "", errNodeOnly
			}
			return list(d.Peers, format, sep)
		},
	}
}

// expand fills {name}, {addr}, {index} and {port.NAME} in format for n.
func expand(format string, n NodeInfo, ports map[string]int) (string, error) {
	orig := format
	var b strings.Builder
	for {
		i := strings.IndexByte(format, '{')
		if i < 0 {
			b.WriteString(format)
			return b.String(), nil
		}
		b.WriteString(format[:i])
		j := strings.IndexByte(format[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("%q: unclosed {", orig)
		}
		key := format[i+1 : i+j]
		switch {
		case key == "name":
			b.WriteString(n.Name)
		case key == "addr":
			b.WriteString(n.Addr)
		case key == "index":
			b.WriteString(strconv.Itoa(n.Index))
		case strings.HasPrefix(key, "port."):
			p, ok := ports[strings.TrimPrefix(key, "port.")]
			if !ok {
				return "", fmt.Errorf("%q: no port named %q (ports: %s)", orig, strings.TrimPrefix(key, "port."), strings.Join(sortedKeys(ports), ", "))
			}
			b.WriteString(strconv.Itoa(p))
		default:
			return "", fmt.Errorf("%q: unknown placeholder {%s} (known: {name}, {addr}, {index}, {port.NAME})", orig, key)
		}
		format = format[i+j+1:]
	}
}

// parseTmpl parses s as a template of the given level, reporting a parse
// error at line.
func (p *problems) parseTmpl(s strAt, path string, lvl level) *tmpl {
	t, err := template.New(path).Option("missingkey=error").Funcs(funcs(nil)).Parse(s.s)
	if err != nil {
		p.add(s.line, "%s", tmplErr(err))
		return nil
	}
	return &tmpl{src: s.s, path: path, line: s.line, lvl: lvl, t: t}
}

// tmplErr drops text/template's "template: " prefix; the rest names the
// key, line and column inside the string.
func tmplErr(err error) string {
	return strings.TrimPrefix(err.Error(), "template: ")
}

// exec runs a cluster-level template.
func (t *tmpl) exec(d ClusterData) (string, error) {
	return t.run(d, nil)
}

// execNode runs a node-level template for one node.
func (t *tmpl) execNode(d *NodeData) (string, error) {
	return t.run(d, d)
}

func (t *tmpl) run(data any, nd *NodeData) (string, error) {
	c, err := t.t.Clone()
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.path, err)
	}
	var b strings.Builder
	if err := c.Funcs(funcs(nd)).Execute(&b, data); err != nil {
		return "", errors.New(tmplErr(err))
	}
	return b.String(), nil
}

// execAll expands a list of node-level templates.
func execAll(ts []*tmpl, d *NodeData) ([]string, error) {
	out := make([]string, len(ts))
	for i, t := range ts {
		s, err := t.execNode(d)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// nodeData describes n within nodes for templates.
func nodeData(c ClusterData, n node.Node, nodes []node.Node, runID string) *NodeData {
	d := &NodeData{ClusterData: c, Name: n.Name(), Addr: n.Addr().String(), RunID: runID}
	for i, m := range nodes {
		info := NodeInfo{Name: m.Name(), Addr: m.Addr().String(), Index: i + 1}
		d.Nodes = append(d.Nodes, info)
		if m.Name() == n.Name() {
			d.Index = i + 1
		} else {
			d.Peers = append(d.Peers, info)
		}
	}
	return d
}

// sampleNodes is the cluster every template is tried on at load.
func sampleNodes(count int) []NodeInfo {
	out := make([]NodeInfo, count)
	for i := range out {
		out[i] = NodeInfo{Name: fmt.Sprintf("n%d", i+1), Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 2)}).String(), Index: i + 1}
	}
	return out
}

// sampleData is NodeData for node i of a sample cluster.
func sampleData(c ClusterData, nodes []NodeInfo, i int) *NodeData {
	d := &NodeData{ClusterData: c, Name: nodes[i].Name, Addr: nodes[i].Addr, Index: i + 1, Nodes: nodes, RunID: "faultline-sample"}
	for j, n := range nodes {
		if j != i {
			d.Peers = append(d.Peers, n)
		}
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
