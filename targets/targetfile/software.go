package targetfile

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/faultline/faultline/harness/node"
)

// Reading the software section: what every node needs installed.

func (r *reader) software(v *yaml.Node) {
	p, sw := r.p, &r.f.software
	var packagesLine int
	var imageLine int
	p.mapping(v, "software",
		field{"packages", func(v *yaml.Node) {
			packagesLine = v.Line
			sw.packages = r.tmplList(v, "software.packages", clusterLevel)
		}},
		field{"go", func(v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				p.wrong(v, "software.go", "a list of Go programs")
				return
			}
			for i, c := range v.Content {
				r.goBinary(c, fmt.Sprintf("software.go[%d]", i))
			}
		}},
		field{"local-go", func(v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				p.wrong(v, "software.local-go", "a list of local Go main packages")
				return
			}
			for i, c := range v.Content {
				r.localGo(c, fmt.Sprintf("software.local-go[%d]", i))
			}
		}},
		field{"files", func(v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				p.wrong(v, "software.files", "a list of files")
				return
			}
			for i, c := range v.Content {
				r.localFile(c, fmt.Sprintf("software.files[%d]", i))
			}
		}},
		field{"image", func(v *yaml.Node) {
			imageLine = v.Line
			if s, ok := p.str(v, "software.image"); ok {
				sw.image = r.tmpl(strAt{s, v.Line}, "software.image", clusterLevel)
			}
		}},
	)
	if imageLine > 0 && len(sw.packages) > 0 {
		p.add(packagesLine, "software.packages: Debian packages cannot be added to your own image (software.image, line %d): install them in the image", imageLine)
	}
}

func (r *reader) goBinary(v *yaml.Node, path string) {
	p := r.p
	var b goBin
	seen := p.mapping(v, path,
		field{"name", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".name"); ok {
				if !binRE.MatchString(s) {
					p.add(v.Line, "%s.name: %q: want a file name for /usr/local/bin", path, s)
				}
				b.name = s
			}
		}},
		field{"package", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".package"); ok {
				b.pkg = r.tmpl(strAt{s, v.Line}, path+".package", clusterLevel)
			}
		}},
		field{"require", func(v *yaml.Node) {
			ss, _ := p.strs(v, path+".require")
			for i, s := range ss {
				ip := fmt.Sprintf("%s.require[%d]", path, i)
				if !strings.Contains(s.s, "@") {
					p.add(s.line, "%s: %q: want module@version", ip, s.s)
				}
				if t := r.tmpl(s, ip, clusterLevel); t != nil {
					b.require = append(b.require, t)
				}
			}
		}},
		field{"main", func(v *yaml.Node) { b.main, _ = p.str(v, path+".main") }},
		field{"estimate", func(v *yaml.Node) { r.duration(v, path+".estimate", &b.estimate) }},
	)
	if v.Kind != yaml.MappingNode {
		return
	}
	if seen["name"] == nil {
		p.add(v.Line, "%s.name: missing: the installed program's name", path)
	}
	switch {
	case seen["package"] == nil && seen["main"] == nil:
		p.add(v.Line, "%s: want package (a main package to build) or main (the source of main.go)", path)
	case seen["package"] != nil && seen["main"] != nil:
		p.add(seen["main"].Line, "%s: package and main exclude each other", path)
	}
	if seen["require"] == nil {
		p.add(v.Line, "%s.require: missing: the module@version pairs the build requires", path)
	}
	r.f.software.goBins = append(r.f.software.goBins, b)
}

// local makes a path from the file relative to the file's directory.
func (r *reader) local(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	return filepath.Join(r.dir, s)
}

func (r *reader) localGo(v *yaml.Node, path string) {
	p := r.p
	var l node.LocalGo
	seen := p.mapping(v, path,
		field{"name", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".name"); ok {
				if !binRE.MatchString(s) {
					p.add(v.Line, "%s.name: %q: want a file name for /usr/local/bin", path, s)
				}
				l.Name = s
			}
		}},
		field{"dir", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".dir"); ok {
				l.Dir = r.local(s)
				if st, err := os.Stat(l.Dir); err != nil || !st.IsDir() {
					p.add(v.Line, "%s.dir: %s is not a directory", path, l.Dir)
				}
			}
		}},
	)
	if v.Kind != yaml.MappingNode {
		return
	}
	for _, k := range []string{"name", "dir"} {
		if seen[k] == nil {
			p.add(v.Line, "%s.%s: missing", path, k)
		}
	}
	r.f.software.local = append(r.f.software.local, l)
}

func (r *reader) localFile(v *yaml.Node, path string) {
	p := r.p
	var fl node.File
	seen := p.mapping(v, path,
		field{"src", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".src"); ok {
				fl.Src = r.local(s)
				if st, err := os.Stat(fl.Src); err != nil || !st.Mode().IsRegular() {
					p.add(v.Line, "%s.src: %s is not a file", path, fl.Src)
				}
			}
		}},
		field{"dst", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".dst"); ok {
				if !path2abs(s) {
					p.add(v.Line, "%s.dst: %q: want an absolute path on the node", path, s)
				}
				fl.Dst = cleanNodePath(s)
			}
		}},
		field{"mode", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".mode"); ok {
				m, err := strconv.ParseInt(strings.TrimPrefix(s, "0o"), 8, 64)
				if err != nil || m <= 0 || m > 0o7777 {
					p.add(v.Line, "%s.mode: want octal permission bits such as 0755, got %q", path, s)
				}
				fl.Mode = m
			}
		}},
	)
	if v.Kind != yaml.MappingNode {
		return
	}
	for _, k := range []string{"src", "dst"} {
		if seen[k] == nil {
			p.add(v.Line, "%s.%s: missing", path, k)
		}
	}
	r.f.software.files = append(r.f.software.files, fl)
}

// path2abs says whether s is an absolute path on a node.
func path2abs(s string) bool { return path.IsAbs(s) }

// cleanNodePath cleans a path on a node (always slash-separated).
func cleanNodePath(s string) string { return path.Clean(s) }
