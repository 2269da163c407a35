package targetfile

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Reading the health and primary sections: how a node is asked whether it
// serves, and who leads.

func (r *reader) health(v *yaml.Node) {
	p, h := r.p, &r.f.health
	h.wait, h.attempt = DefaultHealthWait, DefaultHealthAttempt
	var kinds []string
	p.mapping(v, "health",
		field{"tcp", func(v *yaml.Node) {
			kinds = append(kinds, "tcp")
			h.kind = "tcp"
			r.port(v, "health.tcp", &h.port)
		}},
		field{"http", func(v *yaml.Node) {
			kinds = append(kinds, "http")
			h.kind, h.status = "http", 200
			r.httpCheck(v, "health.http", &h.port, &h.path, &h.status)
		}},
		field{"command", func(v *yaml.Node) {
			kinds = append(kinds, "command")
			h.kind = "command"
			h.command = r.tmplList(v, "health.command", nodeLevel)
		}},
		field{"timeout", func(v *yaml.Node) { r.duration(v, "health.timeout", &h.wait) }},
		field{"attempt-timeout", func(v *yaml.Node) { r.duration(v, "health.attempt-timeout", &h.attempt) }},
	)
	switch {
	case v.Kind != yaml.MappingNode:
	case len(kinds) > 1:
		p.add(p.line(v), "health: one of tcp, http and command, not %s", strings.Join(kinds, " and "))
	case len(kinds) == 0:
		h.kind = "tcp"
		r.refs = append(r.refs, portRef{strAt{"client", p.line(v)}, "health.tcp", &h.port})
	}
}

// httpCheck reads {port, path[, status]}; status is nil where no status
// is allowed.
func (r *reader) httpCheck(v *yaml.Node, path string, port *int, p2 **tmpl, status *int) {
	p := r.p
	fields := []field{
		{"port", func(v *yaml.Node) { r.port(v, path+".port", port) }},
		{"path", func(v *yaml.Node) {
			if s, ok := p.str(v, path+".path"); ok {
				if !strings.HasPrefix(s, "/") {
					p.add(v.Line, "%s.path: %q: want a path starting with /", path, s)
				}
				*p2 = r.tmpl(strAt{s, v.Line}, path+".path", nodeLevel)
			}
		}},
	}
	if status != nil {
		fields = append(fields, field{"status", func(v *yaml.Node) {
			if i, ok := p.integer(v, path+".status"); ok {
				if i < 100 || i > 599 {
					p.add(v.Line, "%s.status: %d is not an HTTP status", path, i)
				}
				*status = i
			}
		}})
	}
	seen := p.mapping(v, path, fields...)
	if v.Kind != yaml.MappingNode {
		return
	}
	if seen["port"] == nil {
		r.refs = append(r.refs, portRef{strAt{"client", v.Line}, path + ".port", port})
	}
	if seen["path"] == nil {
		*p2 = r.tmpl(strAt{"/", v.Line}, path+".path", nodeLevel)
	}
}

func (r *reader) primaryOf(v *yaml.Node) {
	p := r.p
	pr := &primarySpec{timeout: DefaultPrimaryWait}
	var kinds []string
	p.mapping(v, "primary",
		field{"http", func(v *yaml.Node) {
			kinds = append(kinds, "http")
			pr.kind = "http"
			r.httpCheck(v, "primary.http", &pr.port, &pr.path, nil)
		}},
		field{"command", func(v *yaml.Node) {
			kinds = append(kinds, "command")
			pr.kind = "command"
			pr.command = r.tmplList(v, "primary.command", nodeLevel)
		}},
		field{"match", func(v *yaml.Node) {
			if s, ok := p.str(v, "primary.match"); ok {
				re, err := regexp.Compile(s)
				if err != nil {
					p.add(v.Line, "primary.match: %v", err)
				}
				pr.match = re
			}
		}},
		field{"timeout", func(v *yaml.Node) { r.duration(v, "primary.timeout", &pr.timeout) }},
	)
	if v.Kind != yaml.MappingNode {
		return
	}
	if len(kinds) != 1 {
		p.add(p.line(v), "primary: want one of http and command")
		return
	}
	r.f.primary = pr
}
