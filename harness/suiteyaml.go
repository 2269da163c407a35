package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on a suite file. A suite is read whole before anything runs, so
// these bound what a hostile file can make faultline build: the file, the
// YAML nodes its aliases expand to, the tests its matrices make and the
// runs its repeats make.
const (
	MaxSuiteBytes = 1 << 20
	MaxSuiteNodes = 100_000
	MaxSuiteTests = 1000
	MaxSuiteRuns  = 10_000
	MaxRepeat     = 1000
	// maxSuiteErrors is how many problems a refused suite lists.
	maxSuiteErrors = 20
)

// readSuiteDoc reads the suite file and returns its one YAML document with
// aliases expanded and merge keys (<<) applied, so that every later step
// sees plain mappings whose nodes carry the lines they were written at.
func readSuiteDoc(path string) (*yaml.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSuiteBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxSuiteBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes; a suite file may be at most that", path, MaxSuiteBytes)
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := d.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no tests (give tests: or matrix:)", path)
		}
		return nil, fmt.Errorf("%s: %s", path, yamlError(err))
	}
	var extra yaml.Node
	if err := d.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, fmt.Errorf("%s: %s", path, yamlError(err))
		}
		return nil, lineError(path, line, "a suite file holds one YAML document")
	}
	r := resolver{path: path, active: map[*yaml.Node]bool{}}
	out, err := r.resolve(&doc)
	if err != nil {
		return nil, err
	}
	if len(out.Content) == 0 {
		return nil, fmt.Errorf("%s: no tests (give tests: or matrix:)", path)
	}
	root := out.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, lineError(path, root.Line, "a suite file is a mapping (name:, budget:, defaults:, tests:, matrix:)")
	}
	return root, nil
}

// yamlError is err's message without yaml's prefix, on one line.
func yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

// resolver copies a YAML tree, replacing each alias by a copy of its
// anchor's value and each merge key by the keys it brings in. It counts
// the nodes it makes: an alias bomb (billion laughs) is refused at
// MaxSuiteNodes, and an anchor that contains itself is refused.
type resolver struct {
	path   string
	nodes  int
	active map[*yaml.Node]bool // anchored nodes being copied
	// depth counts the aliases being expanded; aliasLine is the line of
	// the outermost.
	depth, aliasLine int
}

func (r *resolver) resolve(n *yaml.Node) (*yaml.Node, error) {
	if r.nodes++; r.nodes > MaxSuiteNodes {
		line := n.Line
		if r.depth > 0 {
			line = r.aliasLine
		}
		return nil, lineError(r.path, line, "aliases expand the suite to more than %d YAML nodes", MaxSuiteNodes)
	}
	if n.Kind == yaml.AliasNode {
		// A bomb is reported at the outermost alias being expanded.
		if r.depth == 0 {
			r.aliasLine = n.Line
		}
		r.depth++
		defer func() { r.depth-- }()
		if n.Alias == nil {
			return nil, lineError(r.path, n.Line, "unknown anchor %q", n.Value)
		}
		if r.active[n.Alias] {
			return nil, lineError(r.path, n.Line, "anchor %q contains itself", n.Value)
		}
		c, err := r.resolve(n.Alias)
		if err != nil {
			return nil, err
		}
		// The value is used here: a problem with it as a whole is here.
		c.Line, c.Column = n.Line, n.Column
		return c, nil
	}
	if n.Anchor != "" {
		r.active[n] = true
		defer delete(r.active, n)
	}
	out := *n
	out.Anchor, out.Content = "", nil
	if n.Kind != yaml.MappingNode {
		for _, c := range n.Content {
			rc, err := r.resolve(c)
			if err != nil {
				return nil, err
			}
			out.Content = append(out.Content, rc)
		}
		return &out, nil
	}
	// A mapping: its own keys first, then those of the merged mappings
	// it does not have (earlier merged mappings win, as YAML says).
	var merged []*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		rv, err := r.resolve(v)
		if err != nil {
			return nil, err
		}
		if isMergeKey(k) {
			ms := []*yaml.Node{rv}
			if rv.Kind == yaml.SequenceNode {
				ms = rv.Content
			}
			for _, m := range ms {
				if m.Kind != yaml.MappingNode {
					return nil, lineError(r.path, m.Line, "a merge key (<<) takes a mapping or a list of mappings")
				}
				merged = append(merged, m.Content...)
			}
			continue
		}
		rk, err := r.resolve(k)
		if err != nil {
			return nil, err
		}
		if rk.Kind == yaml.ScalarNode {
			seen[rk.Value] = true
		}
		out.Content = append(out.Content, rk, rv)
	}
	for i := 0; i+1 < len(merged); i += 2 {
		k := merged[i]
		if k.Kind == yaml.ScalarNode && seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		out.Content = append(out.Content, k, merged[i+1])
	}
	return &out, nil
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// yamlKeys lists the yaml keys of struct type v's fields.
func yamlKeys(v any) map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys[k] = true
		}
	}
	return keys
}

var testKeys = yamlKeys(testFields{})

// checkKeys refuses a mapping with keys not in keys, or a key twice; every
// such key is reported.
func checkKeys(path string, n *yaml.Node, what string, keys map[string]bool) error {
	if n.Kind != yaml.MappingNode {
		return lineError(path, n.Line, "%s must be a mapping", what)
	}
	seen := map[string]int{}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || !keys[k.Value] {
			errs = append(errs, lineError(path, k.Line, "unknown key %s", quoteKey(k)))
			continue
		}
		if l, dup := seen[k.Value]; dup {
			errs = append(errs, lineError(path, k.Line, "mapping key %q already defined at line %d", k.Value, l))
			continue
		}
		seen[k.Value] = k.Line
	}
	return errors.Join(errs...)
}

// quoteKey shows a key for an error: a scalar quoted, anything else by kind.
func quoteKey(k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode {
		return strconv.Quote(k.Value)
	}
	return "(a " + strings.TrimPrefix(k.ShortTag(), "!!") + ")"
}

// decodeStrict decodes the mapping n (aliases resolved) into a
// testFields, refusing unknown keys; errors carry the line in the suite
// file.
func decodeStrict(path string, n *yaml.Node, what string, v *testFields) error {
	if err := checkKeys(path, n, what, testKeys); err != nil {
		return err
	}
	err := n.Decode(v)
	if err == nil {
		return nil
	}
	msg := yamlError(err)
	line := n.Line
	var k int
	if _, serr := fmt.Sscanf(msg, "line %d:", &k); serr == nil {
		line = k
		_, msg, _ = strings.Cut(msg, ": ")
	}
	return lineError(path, line, "%s", msg)
}

// countTests is the product of the axis sizes, and whether it overflowed.
func countTests(sizes []int) (uint64, bool) {
	n := uint64(1)
	for _, s := range sizes {
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 {
			return math.MaxUint64, true
		}
		n = lo
	}
	return n, false
}

// suiteSize tracks the tests and runs a suite makes as it is read.
type suiteSize struct{ tests, runs uint64 }

// add counts tests tests repeated repeat times, refusing past the
// suite's limits; n is the entry they come from.
func (s *suiteSize) add(path string, n *yaml.Node, tests uint64, overflow bool, repeat int) error {
	if overflow {
		return lineError(path, n.Line, "matrix expands to more than %d tests; a suite may have at most %d", uint64(math.MaxUint64), MaxSuiteTests)
	}
	if tests > MaxSuiteTests {
		return lineError(path, n.Line, "matrix expands to %d tests; a suite may have at most %d", tests, MaxSuiteTests)
	}
	if s.tests+tests > MaxSuiteTests {
		return lineError(path, n.Line, "matrix expands to %d tests, %d in the suite; a suite may have at most %d", tests, s.tests+tests, MaxSuiteTests)
	}
	if repeat < 1 || repeat > MaxRepeat {
		repeat = 1 // refused with the test
	}
	runs := tests * uint64(repeat) // both at most 1000: no overflow
	if runs > MaxSuiteRuns {
		return lineError(path, n.Line, "matrix makes %d runs (%d tests x repeat %d); a suite may make at most %d", runs, tests, repeat, MaxSuiteRuns)
	}
	if s.runs+runs > MaxSuiteRuns {
		return lineError(path, n.Line, "suite makes %d runs with this entry; a suite may make at most %d", s.runs+runs, MaxSuiteRuns)
	}
	s.tests += tests
	s.runs += runs
	return nil
}

// maxRepeat is the largest repeat of an axis of repeat values.
func maxRepeat(values []*yaml.Node) int {
	m := 0
	for _, v := range values {
		if r, err := strconv.Atoi(v.Value); err == nil {
			m = max(m, r)
		}
	}
	return m
}

// splitErrors lists the errors joined in err.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// joinCapped joins errs, listing at most maxSuiteErrors of them.
func joinCapped(errs []error) error {
	seen := map[string]bool{}
	uniq := errs[:0:0]
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			uniq = append(uniq, e)
		}
	}
	errs = uniq
	if len(errs) > maxSuiteErrors {
		more := len(errs) - maxSuiteErrors
		errs = append(errs[:maxSuiteErrors:maxSuiteErrors], fmt.Errorf("... and %d more problems", more))
	}
	return errors.Join(errs...)
}
