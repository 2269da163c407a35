package targetfile

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The helpers below read a yaml.Node tree by hand rather than through
// struct decoding: that way every problem carries its own line, unknown
// keys are named in the file's terms, and reading goes on after the first
// problem so that all of them are reported.

// field is one key a mapping may hold and what to do with its value.
type field struct {
	key string
	fn  func(v *yaml.Node)
}

// kind names a node's kind as a user would.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// checkAliases reports every anchor and alias: they are refused, which also
// rules out alias bombs.
func (p *problems) checkAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		p.add(n.Line, "aliases (*%s) are not supported: write the value out", n.Value)
		return
	}
	if n.Anchor != "" {
		p.add(n.Line, "anchors (&%s) are not supported: write the value out", n.Anchor)
	}
	for _, c := range n.Content {
		p.checkAliases(c)
	}
}

// wrong reports that the value at path is not what was wanted. Aliases
// were reported already.
func (p *problems) wrong(n *yaml.Node, path, want string) {
	if n.Kind == yaml.AliasNode {
		return
	}
	p.add(n.Line, "%s: want %s, got %s", path, want, kind(n))
}

// mapping calls each field's fn on its value in the file's order and
// reports unknown and repeated keys. It returns the key nodes found, by
// name, so that callers can check for missing ones.
func (p *problems) mapping(n *yaml.Node, path string, fields ...field) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.wrong(n, path, "a mapping")
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var f *field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
			}
		}
		switch {
		case f == nil:
			known := make([]string, len(fields))
			for j, f := range fields {
				known[j] = f.key
			}
			if near := nearest(k.Value, known); near != "" {
				p.add(k.Line, "%sunknown key %q: did you mean %q?", prefix(path), k.Value, near)
			} else {
				p.add(k.Line, "%sunknown key %q (known: %s)", prefix(path), k.Value, strings.Join(known, ", "))
			}
		case seen[k.Value] != nil:
			p.add(k.Line, "%s%s: repeated (first on line %d)", prefix(path), k.Value, seen[k.Value].Line)
		default:
			seen[k.Value] = k
			p.keyLine(k, v)
			f.fn(v)
		}
	}
	return seen
}

// pairs walks a mapping whose keys are the user's own names (options,
// environment, ports), in the file's order, reporting repeated keys.
func (p *problems) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.wrong(n, path, "a mapping")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if l, ok := seen[k.Value]; ok {
			p.add(k.Line, "%s.%s: repeated (first on line %d)", path, k.Value, l)
			continue
		}
		seen[k.Value] = k.Line
		p.keyLine(k, v)
		fn(k, v)
	}
}

// prefix is "path: " or nothing at the top level.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// join makes a key's path from its parent's.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str reads a scalar as a string (numbers and booleans keep their text).
func (p *problems) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.wrong(n, path, "a string")
		return "", false
	}
	return n.Value, true
}

// integer reads a scalar whole number.
func (p *problems) integer(n *yaml.Node, path string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.wrong(n, path, "a whole number")
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		p.wrong(n, path, "a whole number")
		return 0, false
	}
	return v, true
}

// strAt is a string with the line it came from.
type strAt struct {
	s    string
	line int
}

// strs reads a list of scalars.
func (p *problems) strs(n *yaml.Node, path string) ([]strAt, bool) {
	if n.Kind != yaml.SequenceNode {
		p.wrong(n, path, "a list of strings")
		return nil, false
	}
	out := make([]strAt, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		s, good := p.str(c, path+"["+strconv.Itoa(i)+"]")
		if !good {
			ok = false
			continue
		}
		out = append(out, strAt{s, c.Line})
	}
	return out, ok
}

// keyLine remembers the line of the key v is the value of: a block
// mapping's own line is that of its first key, one below its name.
func (p *problems) keyLine(k, v *yaml.Node) {
	if p.keys == nil {
		p.keys = map[*yaml.Node]int{}
	}
	p.keys[v] = k.Line
}

// line is where the key of value v is, or v's own line.
func (p *problems) line(v *yaml.Node) int {
	if l, ok := p.keys[v]; ok {
		return l
	}
	return v.Line
}

// nearest returns the known key at most two edits from key, if exactly
// one is that close: a likely typo.
func nearest(key string, known []string) string {
	var found []string
	for _, k := range known {
		if distance(key, k) <= 2 {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
