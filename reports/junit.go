package reports

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/rundir"
	"github.com/faultline/faultline/models"
)

// Case is one test run as JUnit XML reports it.
type Case struct {
	// Name is the test's name; Suite groups cases (the suite file's name).
	Name  string
	Suite string
	// Verdict is the run's verdict; Expected what the suite expected
	// ("" means valid). A verdict equal to the expected one passes.
	Verdict  models.Verdict
	Expected models.Verdict
	// Reason explains a verdict that is not valid.
	Reason string
	// Anomalies found, named in the failure message.
	Anomalies []models.Anomaly
	// HarnessError is why the harness could not run the test; it makes
	// the case an error of type "harness".
	HarnessError string
	// Report is the path of report.html, linked from the message.
	Report string
	// Duration is how long the run took.
	Duration time.Duration
	// Properties carry seed, versions and knobs.
	Properties map[string]string
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr,omitempty"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name       string        `xml:"name,attr"`
	Classname  string        `xml:"classname,attr"`
	Time       string        `xml:"time,attr"`
	Properties *junitProps   `xml:"properties,omitempty"`
	Failure    *junitProblem `xml:"failure,omitempty"`
	Error      *junitProblem `xml:"error,omitempty"`
	SystemOut  string        `xml:"system-out,omitempty"`
}

type junitProps struct {
	Props []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// junitOf maps one case: a verdict other than the expected one is a
// failure when it is invalid (an anomaly, or a known weakness not found),
// an error of type "unknown" when the checkers could not decide, and an
// error of type "harness" when the test could not run.
func junitOf(c Case) (jc junitCase) {
	jc = junitCase{Name: c.Name, Classname: "faultline." + c.Suite, Time: seconds(c.Duration)}
	// Properties go in a <properties> element (read by consumers that know
	// testcase properties) and, for those that only show output, as
	// key=value lines in system-out.
	var propLines strings.Builder
	if len(c.Properties) > 0 {
		keys := make([]string, 0, len(c.Properties))
		for k := range c.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		jc.Properties = &junitProps{}
		for _, k := range keys {
			jc.Properties.Props = append(jc.Properties.Props, junitProperty{k, c.Properties[k]})
			fmt.Fprintf(&propLines, "%s=%s\n", k, c.Properties[k])
		}
	}
	defer func() { jc.SystemOut += propLines.String() }()
	expected := c.Expected
	if expected == "" {
		expected = models.Valid
	}
	var detail strings.Builder
	if c.Reason != "" {
		fmt.Fprintf(&detail, "%s\n", c.Reason)
	}
	for i, a := range c.Anomalies {
		if i == 20 {
			fmt.Fprintf(&detail, "... %d more anomalies\n", len(c.Anomalies)-20)
			break
		}
		fmt.Fprintf(&detail, "%s: %s\n", a.Kind, a.Explanation)
	}
	if c.Report != "" {
		fmt.Fprintf(&detail, "report: %s\n", c.Report)
	}
	switch {
	case c.HarnessError != "":
		jc.Error = &junitProblem{Type: "harness", Message: "the harness could not run the test: " + c.HarnessError, Text: detail.String()}
	case c.Verdict == expected:
		jc.SystemOut = fmt.Sprintf("verdict %s as expected\n%s", c.Verdict, detail.String())
	case c.Verdict == models.Unknown:
		jc.Error = &junitProblem{Type: "unknown", Message: "verdict unknown: " + c.Reason, Text: detail.String()}
	case c.Verdict == models.Invalid:
		jc.Failure = &junitProblem{Type: "invalid", Message: failureMessage(c), Text: detail.String()}
	default:
		jc.Failure = &junitProblem{Type: "expectation", Message: fmt.Sprintf("verdict %s, expected %s", c.Verdict, expected), Text: detail.String()}
	}
	return jc
}

func failureMessage(c Case) string {
	kinds := map[string]int{}
	for _, a := range c.Anomalies {
		kinds[a.Kind]++
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	msg := "invalid"
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, ", ")
	}
	if c.Report != "" {
		msg += " (report " + c.Report + ")"
	}
	return msg
}

// WriteJUnit writes cases as JUnit XML to path (atomically), one testsuite
// per Suite, one testcase per run.
func WriteJUnit(path, name string, cases []Case) error {
	out := junitSuites{Name: name}
	idx := map[string]int{}
	var total time.Duration
	for _, c := range cases {
		i, ok := idx[c.Suite]
		if !ok {
			i = len(out.Suites)
			idx[c.Suite] = i
			out.Suites = append(out.Suites, junitSuite{Name: c.Suite})
		}
		jc := junitOf(c)
		s := &out.Suites[i]
		s.Cases = append(s.Cases, jc)
		s.Tests++
		out.Tests++
		if jc.Failure != nil {
			s.Failures++
			out.Failures++
		}
		if jc.Error != nil {
			s.Errors++
			out.Errors++
		}
		total += c.Duration
	}
	for i := range out.Suites {
		var d time.Duration
		for _, c := range cases {
			if c.Suite == out.Suites[i].Name {
				d += c.Duration
			}
		}
		out.Suites[i].Time = seconds(d)
	}
	out.Time = seconds(total)
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	b = append([]byte(xml.Header), append(b, '\n')...)
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("junit: %w", err)
		}
	}
	// Through an exclusively created temporary file: a link planted at a
	// predictable path.tmp must not redirect the write.
	if err := rundir.WriteFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}
