package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"syscall"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/models/linear"
	"github.com/faultline/faultline/reports"
)

// What `faultline serve` answers for. Run directories come from CI
// artifacts and colleagues, so the server serves only the files faultline
// writes into a run directory, by name, with their content types; nothing
// else (no listings, no planted pages or scripts, no FIFOs or devices, no
// links out of the store). See docs/security.md.

// runHTMLFiles are the pages faultline writes into a run directory.
var runHTMLFiles = map[string]bool{
	harness.ReportFile:       true,
	reports.HistoryViewFile:  true,
	reports.NodeLogsViewFile: true,
	reports.TimelineViewFile: true,
	linear.VisualizationFile: true,
}

// runDataFiles are the other files of a run directory, by content type.
var runDataFiles = map[string]string{
	harness.SpecFile:    "application/json",
	harness.ResultsFile: "application/json",
	harness.HistoryFile: "text/plain; charset=utf-8",
	harness.LogFile:     "text/plain; charset=utf-8",
}

// historyChunk names the data files of the history view (history/ops-N.js).
var historyChunk = regexp.MustCompile(`^ops-[0-9]{1,9}\.js$`)

// activeExt are extensions a browser may run or render as a document; a
// node's files with them are not served (faultline never writes them).
var activeExt = map[string]bool{
	".html": true, ".htm": true, ".xhtml": true, ".xht": true, ".shtml": true, ".svg": true, ".svgz": true,
	".xml": true, ".xsl": true, ".xslt": true, ".js": true, ".mjs": true, ".css": true, ".pdf": true,
	".swf": true, ".mht": true, ".mhtml": true, ".wasm": true,
}

// Content-Security-Policy headers. Every response forbids everything not
// named; pages the server renders itself (index, compare) run only their
// own inline scripts, allowed by hash (renderedPolicy); stored pages
// (reports, history and node views, porcupine's visualization) were
// written by faultline, but their bytes came with the run directory and
// may have been altered, so they run sandboxed: in an opaque origin that
// cannot read the store, with no network but the run's own scripts.
const (
	cspCommon    = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	storedPolicy = cspCommon + "; sandbox allow-scripts; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:"
	dataPolicy   = cspCommon + "; sandbox"
)

// renderedPolicy allows page's own inline scripts by their hashes.
func renderedPolicy(page []byte) string {
	var b strings.Builder
	b.WriteString(cspCommon + "; style-src 'unsafe-inline'; img-src 'self' data:; script-src")
	n := 0
	for _, m := range inlineScript.FindAllSubmatch(page, -1) {
		if bytes.Contains(m[1], []byte("application/json")) {
			continue // data, never run
		}
		sum := sha256.Sum256(m[2])
		b.WriteString(" 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
		n++
	}
	if n == 0 {
		b.WriteString(" 'none'")
	}
	return b.String()
}

// inlineScript matches a <script> element: its attributes and its text.
var inlineScript = regexp.MustCompile(`(?is)<script(\s[^>]*)?>(.*?)</script>`)

// securityHeaders are set on every response.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Security-Policy", dataPolicy)
}

// serveFile serves the file at the slash-separated path p (no leading
// slash, already checked for "..") when faultline wrote it, else 404. A run
// directory's own URL redirects to its report.
func (h *storeHandler) serveFile(w http.ResponseWriter, r *http.Request, p string) {
	dir := strings.HasSuffix(p, "/") || p == ""
	p = strings.Trim(p, "/")
	if dir {
		if p != "" && h.isRunDir(p) {
			http.Redirect(w, r, harness.ReportFile, http.StatusFound)
			return
		}
		http.NotFound(w, r)
		return
	}
	ctype, policy, ok := h.allowed(p)
	if !ok {
		http.NotFound(w, r)
		return
	}
	// O_NONBLOCK: opening a FIFO planted under a served name must not
	// block; non-regular files are refused after the open, on the open file.
	f, err := h.root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Security-Policy", policy)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// allowed says whether p is a file faultline writes, with its content type
// and policy.
func (h *storeHandler) allowed(p string) (ctype, policy string, ok bool) {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case dir == "":
		return "", "", false // the store's own files are rendered, not served
	case runHTMLFiles[name] && h.isRunDir(dir):
		return "text/html; charset=utf-8", storedPolicy, true
	case runDataFiles[name] != "" && h.isRunDir(dir):
		return runDataFiles[name], dataPolicy, true
	case historyChunk.MatchString(name) && path.Base(dir) == "history" && h.isRunDir(path.Dir(dir)):
		return "text/javascript; charset=utf-8", dataPolicy, true
	}
	// A node's files (logs, data the target writes) are shown as text.
	if activeExt[strings.ToLower(path.Ext(name))] {
		return "", "", false
	}
	for d := dir; d != "." && d != ""; d = path.Dir(d) {
		if path.Base(d) == harness.NodesDir && path.Dir(d) != "." && h.isRunDir(path.Dir(d)) {
			return "text/plain; charset=utf-8", dataPolicy, true
		}
	}
	return "", "", false
}

// isRunDir reports whether dir (slash-separated, in the store) is a run
// directory: it holds a spec.json or results.json that is a regular file.
func (h *storeHandler) isRunDir(dir string) bool {
	for _, f := range []string{harness.SpecFile, harness.ResultsFile} {
		fi, err := h.root.Stat(path.Join(dir, f))
		if err == nil && fi.Mode().IsRegular() {
			return true
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return false
}
