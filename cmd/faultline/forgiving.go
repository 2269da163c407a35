package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// This file holds what makes the CLI forgiving to a Jepsen user: bare
// numbers of seconds for durations, "2n" for a concurrency per node, and a
// "did you mean ...?" for a mistyped flag, command or name.

// seconds gives a bare number of seconds ("60", "0.5") the unit a Go
// duration needs ("60s"), as Jepsen's --time-limit 60 means 60 s; any
// other value ("1m30s", or a mistake the flag then reports) is unchanged.
func seconds(v string) string {
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && !strings.ContainsAny(v, "eEnNiIxX") {
		return v + "s"
	}
	return v
}

// durationFlags are the names of cmd's duration flags.
func durationFlags(cmd *cli.Command) map[string]bool {
	m := map[string]bool{}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.DurationFlag); ok {
			for _, n := range f.Names() {
				m[n] = true
			}
		}
	}
	return m
}

// concurrency is the --concurrency value: a number of workers, or, written
// "2n" as in Jepsen, a number of workers per node.
type concurrency struct {
	n       int
	perNode bool
}

func (c *concurrency) Set(v string) error {
	v = strings.TrimSpace(v)
	num, perNode := strings.CutSuffix(v, "n")
	if perNode && num == "" {
		num = "1" // "n": one worker per node
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return fmt.Errorf("%q: want a number of workers (10) or workers per node (2n)", v)
	}
	c.n, c.perNode = n, perNode
	return nil
}

func (c *concurrency) String() string {
	if c == nil {
		return ""
	}
	if c.perNode {
		return strconv.Itoa(c.n) + "n"
	}
	return strconv.Itoa(c.n)
}

// workers is the number of workers for a cluster of nodes.
func (c *concurrency) workers(nodes int) int {
	if c.perNode {
		return c.n * nodes
	}
	return c.n
}

// concurrencyOf reads the --concurrency flag.
func concurrencyOf(c *cli.Context) *concurrency {
	if v, ok := c.Generic("concurrency").(*concurrency); ok {
		return v
	}
	return &concurrency{n: 1}
}

// editDistance is the optimal-string-alignment distance of a and b: the
// edits (insert, delete, substitute, swap two neighbours) that turn one
// into the other. "etdc" is one swap from "etcd".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice: the swap looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// closest returns the known name nearest to name, if it is near enough to
// be a typo: a few edits (about one in three characters), or the start of
// exactly one known name.
func closest(name string, known []string) (string, bool) {
	lname := strings.ToLower(name)
	best, bestD := "", -1
	var prefixed []string
	for _, k := range known {
		lk := strings.ToLower(k)
		if lk == lname {
			return "", false // not a typo
		}
		if d := editDistance(lname, lk); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
		if len(lname) >= 3 && strings.HasPrefix(lk, lname) {
			prefixed = append(prefixed, k)
		}
	}
	if bestD >= 0 && bestD <= max(1, (len([]rune(name))+1)/3) {
		return best, true
	}
	if len(prefixed) == 1 {
		return prefixed[0], true
	}
	return "", false
}

// unknownName matches the catalogs' errors: unknown target "etdc" (known: [a b c]).
var unknownName = regexp.MustCompile(`unknown ([a-z -]+) "([^"]*)" \(known: ([^)]*)\)`)

// suggestNames adds "did you mean ...?" to each line of msg that names an
// unknown thing with the list of known ones, so every catalog (targets,
// workloads, faults, partitions, models, target options) gets it without
// knowing the CLI.
func suggestNames(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		m := unknownName.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		name := line[m[4]:m[5]]
		known := strings.FieldsFunc(line[m[6]:m[7]], func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' })
		if s, ok := closest(name, known); ok {
			// Right after the quoted name: `unknown target "etdc"; did you mean "etcd"? (known: ...)`.
			at := m[5] + 1
			lines[i] = line[:at] + fmt.Sprintf("; did you mean %q?", s) + line[at:]
		}
	}
	return strings.Join(lines, "\n")
}

// undefinedFlag matches the flag package's error for an unknown flag.
var undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.+)$`)

// suggestFlag turns the flag package's "flag provided but not defined:
// -targte" into one line naming the flag as typed and, when one is close,
// the command's flag that was meant.
func suggestFlag(err error, flags []cli.Flag) error {
	m := undefinedFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) > 1 {
				names = append(names, n)
			}
		}
	}
	dash := func(n string) string {
		if len(n) == 1 {
			return "-" + n
		}
		return "--" + n
	}
	if s, ok := closest(m[1], names); ok {
		return fmt.Errorf("unknown flag %s; did you mean %s?", dash(m[1]), dash(s))
	}
	return fmt.Errorf("unknown flag %s (see --help)", dash(m[1]))
}

// commandNames are the names and aliases of cmds.
func commandNames(cmds []*cli.Command) []string {
	var names []string
	for _, c := range cmds {
		names = append(names, c.Names()...)
	}
	return names
}
