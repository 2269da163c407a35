package targetfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets/protocols"
)

// MaxSize is the largest target file read, in bytes.
const MaxSize = 1 << 20

// Format is the target file format version this package reads.
const Format = 1

// Defaults for the health check and the primary query.
const (
	DefaultHealthWait    = 60 * time.Second
	DefaultHealthAttempt = 2 * time.Second
	DefaultPrimaryWait   = time.Second
	dataDirPrefix        = "/var/lib/"
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	optionRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	binRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// File is a parsed, checked target file. Its Target method makes targets
// from it; Entry describes it as the built-in targets are described.
type File struct {
	file    string // as named in messages
	name    string
	version string
	summary string
	options []option
	min     int
	max     int // 0: no limit

	software softwareSpec

	command []*tmpl
	env     []envVar
	dataDir string

	ports map[string]int // the client port under "client"

	health  healthSpec
	logs    []*tmpl
	primary *primarySpec

	faults     []string
	workloads  []string
	proto      protocols.Protocol
	clientOpts []clientOpt
}

type option struct {
	name, def, help string
	choices         []string
}

type envVar struct {
	key string
	val *tmpl
}

type clientOpt struct {
	key string
	val *tmpl
}

type softwareSpec struct {
	packages []*tmpl
	goBins   []goBin
	local    []node.LocalGo
	files    []node.File
	image    *tmpl
}

type goBin struct {
	name     string
	pkg      *tmpl
	require  []*tmpl
	main     string
	estimate time.Duration
}

// portRef is a port given by number or by name, resolved once every port
// is known.
type portRef struct {
	s    strAt
	path string
	dst  *int
}

type healthSpec struct {
	kind    string // tcp, http or command
	port    int
	path    *tmpl
	status  int
	command []*tmpl
	wait    time.Duration
	attempt time.Duration
}

type primarySpec struct {
	kind    string // http or command
	port    int
	path    *tmpl
	command []*tmpl
	match   *regexp.Regexp
	timeout time.Duration
}

// Parse reads and checks the target file at path. Relative paths in it
// are relative to the file's directory.
func Parse(path string, protos protocols.Catalog) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("target file %s: %w: %w", path, ErrInput, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("target file %s: %w", path, err)
	}
	return ParseBytes(path, data, abs, protos)
}

// ParseBytes checks a target file's contents; name is used in messages,
// dir is the directory relative paths are taken from.
func ParseBytes(name string, data []byte, dir string, protos protocols.Catalog) (*File, error) {
	p := &problems{file: name}
	if len(data) > MaxSize {
		p.add(0, "larger than %d bytes", MaxSize)
		return nil, p.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(0, "empty: a target file needs at least name, version, start and client")
		} else {
			p.syntax(err)
		}
		return nil, p.err()
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		p.add(more.Line, "a second YAML document: a target file holds one")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	p.checkAliases(&doc)
	f := &File{file: name, min: 1, ports: map[string]int{}}
	r := &reader{p: p, f: f, dir: dir, protos: protos}
	switch root := doc.Content[0]; {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		p.add(0, "empty: a target file needs at least name, version, start and client")
	case root.Kind != yaml.MappingNode:
		p.add(root.Line, "want a mapping of keys (name: ..., version: ...), got %s", kind(root))
	default:
		r.root(root)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return f, nil
}

// reader holds what reading one file needs besides the file.
type reader struct {
	p      *problems
	f      *File
	dir    string
	protos protocols.Catalog
	refs   []portRef
	// tmpls are every template, tried on a sample cluster at the end.
	tmpls []*tmpl
	// clientPort is client.port as written (0 if not).
	clientPort int
	protoOK    bool
}

func (r *reader) tmpl(s strAt, path string, lvl level) *tmpl {
	t := r.p.parseTmpl(s, path, lvl)
	if t != nil {
		r.tmpls = append(r.tmpls, t)
	}
	return t
}

func (r *reader) tmplList(v *yaml.Node, path string, lvl level) []*tmpl {
	ss, _ := r.p.strs(v, path)
	out := make([]*tmpl, 0, len(ss))
	for i, s := range ss {
		if t := r.tmpl(s, fmt.Sprintf("%s[%d]", path, i), lvl); t != nil {
			out = append(out, t)
		}
	}
	return out
}

func (r *reader) duration(v *yaml.Node, path string, dst *time.Duration) {
	s, ok := r.p.str(v, path)
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.p.add(v.Line, "%s: want a positive duration such as 2s or 1m30s, got %q", path, s)
		return
	}
	*dst = d
}

func (r *reader) port(v *yaml.Node, path string, dst *int) {
	s, ok := r.p.str(v, path)
	if ok {
		r.refs = append(r.refs, portRef{strAt{s, v.Line}, path, dst})
	}
}

func (r *reader) root(n *yaml.Node) {
	p, f := r.p, r.f
	var health, primary, client *yaml.Node
	seen := p.mapping(n, "",
		field{"format", func(v *yaml.Node) {
			if i, ok := p.integer(v, "format"); ok && i != Format {
				p.add(v.Line, "format: this faultline reads format %d, not %d", Format, i)
			}
		}},
		field{"name", func(v *yaml.Node) {
			if s, ok := p.str(v, "name"); ok {
				if !nameRE.MatchString(s) {
					p.add(v.Line, "name: %q: want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", s)
				}
				f.name = s
			}
		}},
		field{"version", func(v *yaml.Node) { f.version, _ = p.str(v, "version") }},
		field{"summary", func(v *yaml.Node) { f.summary, _ = p.str(v, "summary") }},
		field{"options", r.options},
		field{"nodes", r.nodes},
		field{"software", r.software},
		field{"start", r.start},
		field{"ports", r.portsMap},
		field{"health", func(v *yaml.Node) { health = v }},
		field{"logs", func(v *yaml.Node) {
			ss, _ := p.strs(v, "logs")
			for i, s := range ss {
				path := fmt.Sprintf("logs[%d]", i)
				if t := r.tmpl(s, path, clusterLevel); t != nil {
					if !strings.Contains(s.s, "{{") && !path2abs(s.s) {
						p.add(s.line, "%s: %q: want an absolute path on the node", path, s.s)
					}
					f.logs = append(f.logs, t)
				}
			}
		}},
		field{"primary", func(v *yaml.Node) { primary = v }},
		field{"faults", r.faults},
		field{"workloads", func(v *yaml.Node) {
			ss, _ := p.strs(v, "workloads")
			for _, s := range ss {
				f.workloads = append(f.workloads, s.s)
			}
			if f.workloads == nil {
				f.workloads = []string{}
			}
		}},
		field{"client", func(v *yaml.Node) { client = v }},
	)
	// The client first: health and primary default to its port.
	if client != nil {
		r.client(client)
	}
	if health != nil {
		r.health(health)
	} else {
		f.health = healthSpec{kind: "tcp", wait: DefaultHealthWait, attempt: DefaultHealthAttempt}
		r.refs = append(r.refs, portRef{strAt{"client", 0}, "health.tcp", &f.health.port})
	}
	if primary != nil {
		r.primaryOf(primary)
	}
	for _, k := range []struct{ key, what string }{
		{"name", "the system's name, e.g. mystore"},
		{"version", "the version under test"},
		{"start", "how to start one node's server (start.command)"},
		{"client", "the client protocol (client.protocol)"},
	} {
		if seen[k.key] == nil {
			p.add(1, "%s: missing: %s", k.key, k.what)
		}
	}
	if f.max > 0 && f.min > f.max {
		p.add(seen["nodes"].Line, "nodes: min %d is more than max %d", f.min, f.max)
	}
	if f.dataDir == "" && f.name != "" {
		f.dataDir = dataDirPrefix + f.name
	}
	r.finish(seen)
}

func (r *reader) options(v *yaml.Node) {
	p := r.p
	p.pairs(v, "options", func(k, v *yaml.Node) {
		path := "options." + k.Value
		if !optionRE.MatchString(k.Value) {
			p.add(k.Line, "%s: want a name of letters, digits, '_' or '-', starting with a letter", path)
		}
		o := option{name: k.Value}
		if v.Kind == yaml.ScalarNode {
			// A bare value is the default.
			o.def, _ = p.str(v, path)
		} else {
			var choicesLine int
			p.mapping(v, path,
				field{"default", func(v *yaml.Node) { o.def, _ = p.str(v, path+".default") }},
				field{"help", func(v *yaml.Node) { o.help, _ = p.str(v, path+".help") }},
				field{"choices", func(v *yaml.Node) {
					choicesLine = v.Line
					ss, _ := p.strs(v, path+".choices")
					for _, s := range ss {
						o.choices = append(o.choices, s.s)
					}
				}},
			)
			if o.choices != nil && !slices.Contains(o.choices, o.def) {
				p.add(choicesLine, "%s: default %q is not one of the choices (%s)", path, o.def, strings.Join(o.choices, ", "))
			}
		}
		r.f.options = append(r.f.options, o)
	})
}

func (r *reader) nodes(v *yaml.Node) {
	p, f := r.p, r.f
	p.mapping(v, "nodes",
		field{"min", func(v *yaml.Node) {
			if i, ok := p.integer(v, "nodes.min"); ok {
				if i < 1 {
					p.add(v.Line, "nodes.min: want 1 or more, got %d", i)
				} else {
					f.min = i
				}
			}
		}},
		field{"max", func(v *yaml.Node) {
			if i, ok := p.integer(v, "nodes.max"); ok {
				if i < 1 {
					p.add(v.Line, "nodes.max: want 1 or more, got %d", i)
				} else {
					f.max = i
				}
			}
		}},
	)
}

func (r *reader) start(v *yaml.Node) {
	p, f := r.p, r.f
	seen := p.mapping(v, "start",
		field{"command", func(v *yaml.Node) {
			f.command = r.tmplList(v, "start.command", nodeLevel)
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.add(v.Line, "start.command: empty")
			}
		}},
		field{"env", func(v *yaml.Node) {
			p.pairs(v, "start.env", func(k, v *yaml.Node) {
				path := "start.env." + k.Value
				if !envRE.MatchString(k.Value) {
					p.add(k.Line, "%s: not a valid environment variable name", path)
				}
				if s, ok := p.str(v, path); ok {
					if t := r.tmpl(strAt{s, v.Line}, path, nodeLevel); t != nil {
						f.env = append(f.env, envVar{k.Value, t})
					}
				}
			})
		}},
		field{"data-dir", func(v *yaml.Node) {
			if s, ok := p.str(v, "start.data-dir"); ok {
				if !path2abs(s) {
					p.add(v.Line, "start.data-dir: %q: want an absolute path on the node", s)
				}
				f.dataDir = cleanNodePath(s)
			}
		}},
	)
	if v.Kind == yaml.MappingNode && seen["command"] == nil {
		p.add(p.line(v), "start.command: missing: the argv that starts one node's server, e.g. [/usr/local/bin/mystore, --name, \"{{.Name}}\"]")
	}
}

func (r *reader) portsMap(v *yaml.Node) {
	p, f := r.p, r.f
	p.pairs(v, "ports", func(k, v *yaml.Node) {
		path := "ports." + k.Value
		if k.Value == "client" {
			p.add(k.Line, "ports.client: the client port is client.port")
			return
		}
		if !optionRE.MatchString(k.Value) {
			p.add(k.Line, "%s: want a name of letters, digits, '_' or '-', starting with a letter", path)
		}
		if i, ok := p.integer(v, path); ok {
			if i < 1 || i > 65535 {
				p.add(v.Line, "%s: %d is not a port (1-65535)", path, i)
			}
			f.ports[k.Value] = i
		}
	})
}

func (r *reader) faults(v *yaml.Node) {
	p, f := r.p, r.f
	ss, _ := p.strs(v, "faults")
	f.faults = []string{}
	var known []string
	for _, k := range nuker.KnownFaults() {
		known = append(known, k.Name)
	}
	for i, s := range ss {
		path := fmt.Sprintf("faults[%d]", i)
		switch {
		case nuker.TargetInterface(s.s) != "":
			p.add(s.line, "%s: %s needs a target written in Go (a nuker.%s); a target file cannot offer it", path, s.s, nuker.TargetInterface(s.s))
		case !slices.Contains(known, s.s):
			p.add(s.line, "%s: unknown fault %q (known: %s)", path, s.s, strings.Join(known, ", "))
		case !slices.Contains(f.faults, s.s):
			f.faults = append(f.faults, s.s)
		}
	}
}

func (r *reader) client(v *yaml.Node) {
	p, f := r.p, r.f
	var optsNode *yaml.Node
	seen := p.mapping(v, "client",
		field{"protocol", func(v *yaml.Node) {
			s, ok := p.str(v, "client.protocol")
			if !ok {
				return
			}
			proto, err := r.protos.Lookup(s)
			if err != nil {
				p.add(v.Line, "client.protocol: %v", err)
				return
			}
			f.proto, r.protoOK = proto, true
		}},
		field{"port", func(v *yaml.Node) {
			if i, ok := p.integer(v, "client.port"); ok {
				if i < 1 || i > 65535 {
					p.add(v.Line, "client.port: %d is not a port (1-65535)", i)
				}
				r.clientPort = i
			}
		}},
		field{"options", func(v *yaml.Node) { optsNode = v }},
	)
	if v.Kind != yaml.MappingNode {
		return
	}
	if seen["protocol"] == nil {
		p.add(p.line(v), "client.protocol: missing: the protocol clients speak (known: %s)", strings.Join(r.protos.Names(), ", "))
	}
	switch {
	case r.clientPort > 0:
		f.ports["client"] = r.clientPort
	case r.protoOK && f.proto.DefaultPort > 0:
		f.ports["client"] = f.proto.DefaultPort
	case r.protoOK:
		p.add(p.line(v), "client.port: missing: protocol %s has no default port", f.proto.Name)
	}
	if optsNode != nil {
		p.pairs(optsNode, "client.options", func(k, v *yaml.Node) {
			path := "client.options." + k.Value
			if r.protoOK {
				if _, ok := f.proto.Options[k.Value]; !ok {
					p.add(k.Line, "%s: protocol %s has no option %q (known: %s)", path, f.proto.Name, k.Value, strings.Join(sortedKeys(f.proto.Options), ", "))
				}
			}
			if s, ok := p.str(v, path); ok {
				if t := r.tmpl(strAt{s, v.Line}, path, clusterLevel); t != nil {
					f.clientOpts = append(f.clientOpts, clientOpt{k.Value, t})
				}
			}
		})
	}
}

// finish checks what needs the whole file: port names, workloads against
// the protocol, and every template on a sample cluster.
func (r *reader) finish(seen map[string]*yaml.Node) {
	p, f := r.p, r.f
	for _, ref := range r.refs {
		if i, err := strconv.Atoi(ref.s.s); err == nil {
			if i < 1 || i > 65535 {
				p.add(ref.s.line, "%s: %d is not a port (1-65535)", ref.path, i)
			}
			*ref.dst = i
			continue
		}
		i, ok := f.ports[ref.s.s]
		if !ok {
			if ref.s.s == "client" {
				continue // no client port: reported with the client
			}
			p.add(ref.s.line, "%s: no port named %q (ports: %s)", ref.path, ref.s.s, strings.Join(sortedKeys(f.ports), ", "))
			continue
		}
		*ref.dst = i
	}
	if f.workloads == nil {
		f.workloads = slices.Clone(r.f.proto.Workloads)
	} else if r.protoOK {
		line := seen["workloads"].Line
		for _, w := range f.workloads {
			if !slices.Contains(f.proto.Workloads, w) {
				p.add(line, "workloads: protocol %s does not serve %q (it serves %s)", f.proto.Name, w, strings.Join(f.proto.Workloads, ", "))
			}
		}
	}
	if f.faults == nil {
		f.faults = DefaultFaults()
	}
	// Every template, on a sample cluster with the default options.
	count := max(3, f.min)
	if f.max > 0 {
		count = min(count, f.max)
	}
	nodes := sampleNodes(count)
	c := f.cluster(f.version, f.defaults())
	if _, ok := c.Ports["client"]; !ok {
		// No client port is reported already; do not report every use.
		c.Ports["client"] = 1
	}
	for _, t := range r.tmpls {
		var err error
		if t.lvl == clusterLevel {
			_, err = t.exec(c)
		} else {
			for i := range nodes {
				if _, err = t.execNode(sampleData(c, nodes, i)); err != nil {
					break
				}
			}
		}
		if err != nil {
			p.add(t.line, "%s", err)
		}
	}
}

// DefaultFaults are the faults a file supports when it does not say:
// every known fault but those that need a Go target (failover, member).
func DefaultFaults() []string {
	var out []string
	for _, k := range nuker.KnownFaults() {
		if nuker.TargetInterface(k.Name) == "" {
			out = append(out, k.Name)
		}
	}
	return out
}
