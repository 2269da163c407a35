package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/reports"
)

// checkStoredReport checks what a real stored run leaves for people: the
// report with its verdict, the history view and its data, the node logs
// view with every node's log, and the primaries the harness polled (so the
// report's Nodes section shows roles).
func checkStoredReport(t *testing.T, dir, verdict string) {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("run dir: %v", err)
		}
		return string(b)
	}
	report := read(ReportFile)
	for _, want := range []string{`<header class="banner ` + verdict + `">`, `href="history.html"`, `<h2 id="nodes">Nodes</h2>`, `aria-label="node timeline"`} {
		if !strings.Contains(report, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(report, "primary / leader (not recorded)") {
		t.Error("the report shows no roles: primaries were not polled")
	}
	if !strings.Contains(read(reports.HistoryViewFile), `"chunks":`) {
		t.Error("history.html has no data")
	}
	if _, err := os.Stat(filepath.Join(dir, "history", "ops-0000.js")); err != nil {
		t.Errorf("history view data: %v", err)
	}
	if !strings.Contains(read(reports.NodeLogsViewFile), `"path":"nodes/n1/`) {
		t.Error("nodes.html lacks n1's logs")
	}
	ops, err := history.ReadFile(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, op := range ops {
		if _, ok := history.PrimariesOf(op); ok {
			n++
		}
	}
	if n == 0 {
		t.Error("no primaries op in the history")
	}
}
