package targetfile

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrInput is wrapped by every error about a target file's contents or the
// options given to it: the user's input is wrong, not faultline (the CLI
// exits 64 on it).
var ErrInput = errors.New("invalid target file")

// Problem is one thing wrong in a target file.
type Problem struct {
	// Line is the 1-based line it was found on; 0 when it concerns the
	// whole file.
	Line int
	// Reason says what is wrong, naming the key it concerns.
	Reason string
}

// Error lists every problem found in one target file, one per line as
// `file:line: reason`, in line order.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Line > 0 {
			lines[i] = fmt.Sprintf("%s:%d: %s", e.File, p.Line, p.Reason)
		} else {
			lines[i] = fmt.Sprintf("%s: %s", e.File, p.Reason)
		}
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInput) hold.
func (e *Error) Unwrap() error { return ErrInput }

// problems collects what is wrong while a file is read, so that all of it
// is reported at once.
type problems struct {
	file string
	list []Problem
	keys map[*yaml.Node]int // see keyLine
}

func (p *problems) add(line int, format string, args ...any) {
	p.list = append(p.list, Problem{Line: line, Reason: fmt.Sprintf(format, args...)})
}

// err returns the collected problems as an *Error, or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), p.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	return &Error{File: p.file, Problems: list}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// syntax turns a YAML parser error into a problem with its line.
func (p *problems) syntax(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			p.syntaxLine(e)
		}
		return
	}
	p.syntaxLine(err.Error())
}

func (p *problems) syntaxLine(msg string) {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		reason := m[2]
		if strings.Contains(reason, "cannot start any token") {
			reason += " (a tab? YAML indents with spaces only)"
		}
		p.add(line, "YAML: %s", reason)
		return
	}
	p.add(0, "YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}
