package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileFixture is serveFixture plus what faultline never writes: active
// content (HTML, SVG, scripts) planted in the store, a run directory and a
// node's logs, a FIFO, and a directory of no run.
func hostileFixture(t *testing.T) string {
	t.Helper()
	store := serveFixture(t)
	run := filepath.Join(store, "alpha", "20261124T010000Z")
	evil := map[string]string{
		"evil.html":                                   "<script>alert(1)</script>",
		"evil.svg":                                    `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"alpha/evil.html":                             "<script>alert(1)</script>",
		"alpha/20261124T010000Z/x/":                   "",
		"alpha/20261124T010000Z/evil.html":            "<script>alert(1)</script>",
		"alpha/20261124T010000Z/evil.svg":             `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"alpha/20261124T010000Z/evil.js":              "alert(1)",
		"alpha/20261124T010000Z/notes.txt":            "not ours",
		"alpha/20261124T010000Z/history/evil.js":      "alert(1)",
		"alpha/20261124T010000Z/history/ops-1.js":     "window.ops=1",
		"alpha/20261124T010000Z/nodes/n1/evil.svg":    `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"alpha/20261124T010000Z/nodes/n1/a.html":      "<script>alert(1)</script>",
		"alpha/20261124T010000Z/linearizability.html": "<!DOCTYPE html><script>var porcupine=1</script>",
		"alpha/20261124T010000Z/history.html":         "<!DOCTYPE html><title>history</title>",
		"empty/.keep":                                 "",
	}
	for name, body := range evil {
		p := filepath.Join(store, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(run, "nodes", "n1", "fifo.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(run, "nodes", "n1", "passwd.log")); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestServeOnlyWhatFaultlineWrote: the server answers only for the files
// faultline writes (by name, in a run directory), with their content
// types; active content planted anywhere, listings, FIFOs and links out of
// the store are 404.
func TestServeOnlyWhatFaultlineWrote(t *testing.T) {
	store := hostileFixture(t)
	h, closeStore, err := newStoreHandler(store)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	run := "/alpha/20261124T010000Z/"
	tests := []struct {
		target string
		code   int
		ctype  string // prefix of Content-Type for 200s
	}{
		{"/", 200, "text/html"},
		{"/index.html", 200, "text/html"},
		{run + "report.html", 200, "text/html"},
		{run + "history.html", 200, "text/html"},
		{run + "linearizability.html", 200, "text/html"},
		{run + "results.json", 200, "application/json"},
		{run + "spec.json", 200, "application/json"},
		{run + "history.jsonl", 200, "text/plain"},
		{run + "history/ops-1.js", 200, "text/javascript"},
		{run + "nodes/n1/node.log", 200, "text/plain"},
		{"/latest/report.html", 200, "text/html"},
		{"/latest/", 302, ""},
		{run, 302, ""},
		{"/alpha/", 404, ""},
		{"/empty/", 404, ""},
		{"/empty", 404, ""},
		{run + "x/", 404, ""},
		{run + "nodes/", 404, ""},
		{run + "nodes/n1/", 404, ""},
		{"/evil.html", 404, ""},
		{"/evil.svg", 404, ""},
		{"/alpha/evil.html", 404, ""},
		{run + "evil.html", 404, ""},
		{run + "evil.svg", 404, ""},
		{run + "evil.js", 404, ""},
		{run + "notes.txt", 404, ""},
		{run + "history/evil.js", 404, ""},
		{run + "nodes/n1/evil.svg", 404, ""},
		{run + "nodes/n1/a.html", 404, ""},
		{run + "nodes/n1/fifo.log", 404, ""},
		{run + "nodes/n1/passwd.log", 404, ""},
		{"/escape/secret.txt", 404, ""},
		{"/escape-file", 404, ""},
		{"/empty/.keep", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, "GET", "http://faultline.test"+tc.target, nil)
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() { h.ServeHTTP(rec, req); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("request hangs")
			}
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d; body %.200q", rec.Code, tc.code, rec.Body.String())
			}
			hdr := rec.Header()
			if hdr.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if hdr.Get("Referrer-Policy") == "" {
				t.Error("no Referrer-Policy")
			}
			if hdr.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
			if tc.code == 200 && !strings.HasPrefix(hdr.Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q, want %s", hdr.Get("Content-Type"), tc.ctype)
			}
			if b := rec.Body.String(); strings.Contains(b, "alert(1)") || strings.Contains(b, "root:") {
				t.Errorf("served planted content: %.200q", b)
			}
		})
	}
}

// scriptHashes returns the CSP hashes of the executable inline scripts of
// an HTML page.
func scriptHashes(page []byte) []string {
	var out []string
	re := regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`)
	for _, m := range re.FindAllSubmatch(page, -1) {
		if bytes.Contains(m[1], []byte("application/json")) {
			continue
		}
		sum := sha256.Sum256(m[2])
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return out
}

// TestServeCSP: every HTML page has a Content-Security-Policy. The pages
// the server renders (index, compare) allow exactly their own inline
// scripts, by hash; stored pages (whose content came with the run
// directory) run sandboxed in an opaque origin, so a tampered one cannot
// read the store.
func TestServeCSP(t *testing.T) {
	store := hostileFixture(t)
	h, closeStore, err := newStoreHandler(store)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	run := "/alpha/20261124T010000Z/"
	for _, target := range []string{"/", "/index.html", "/compare?a=alpha/20261124T010000Z&b=latest",
		run + "report.html", run + "history.html", run + "linearizability.html", "/latest/report.html",
		run + "history/ops-1.js", run + "results.json", run + "nodes/n1/node.log", "/nope.html"} {
		t.Run(target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "http://faultline.test"+target, nil))
			csp := rec.Header().Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			rendered := target == "/" || target == "/index.html" || strings.HasPrefix(target, "/compare")
			switch {
			case rec.Code != 200:
			case rendered:
				if strings.Contains(csp, "unsafe-inline") && strings.Contains(csp, "script-src 'unsafe-inline'") || strings.Contains(csp, "sandbox") {
					t.Errorf("rendered page: CSP %q", csp)
				}
				hashes := scriptHashes(rec.Body.Bytes())
				for _, hsh := range hashes {
					if !strings.Contains(csp, hsh) {
						t.Errorf("CSP %q does not allow the page's script %s", csp, hsh)
					}
				}
				if n := strings.Count(csp, "'sha256-"); n != len(hashes) {
					t.Errorf("CSP allows %d scripts, the page has %d", n, len(hashes))
				}
			default:
				if !strings.Contains(csp, "sandbox") {
					t.Errorf("stored file not sandboxed: CSP %q", csp)
				}
				if strings.Contains(csp, "allow-same-origin") {
					t.Errorf("stored page in the store's origin: CSP %q", csp)
				}
			}
		})
	}
}

// TestServeTimeouts: the server sets every timeout and a header limit, and
// closes an idle keep-alive connection and a connection that sends no
// request within its (here short) timeouts.
func TestServeTimeouts(t *testing.T) {
	def := defaultServeLimits()
	srv := newServer(context.Background(), http.NotFoundHandler(), def)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("server limits: read header %v, read %v, write %v, idle %v, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	if srv.IdleTimeout > 5*time.Minute || srv.ReadHeaderTimeout > time.Minute {
		t.Errorf("timeouts too long: idle %v, read header %v", srv.IdleTimeout, srv.ReadHeaderTimeout)
	}

	store := serveFixture(t)
	h, closeStore, err := newStoreHandler(store)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lim := serveLimits{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: 300 * time.Millisecond, MaxHeaderBytes: 4096}
	done := make(chan error, 1)
	go func() { done <- serveHandler(ctx, ln, h, lim) }()
	defer func() {
		cancel()
		<-done
	}()

	closedWithin := func(t *testing.T, c net.Conn, d time.Duration) {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(start.Add(d))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", d)
		}
		t.Logf("closed by the server after %v", time.Since(start).Round(time.Millisecond))
	}
	t.Run("silent connection", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // and never ends the header
		closedWithin(t, c, 3*time.Second)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /latest/spec.json HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<16)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(buf); err != nil || !bytes.Contains(buf[:n], []byte("200 OK")) {
			t.Fatalf("first request: %v %q", err, buf[:n])
		}
		closedWithin(t, c, 3*time.Second)
	})
}

// TestServeStoreFirst: serve opens and checks the store before it listens
// and says "serving on"; a store that is not there is a one-line usage
// error (exit 64).
func TestServeStoreFirst(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, store := range []string{filepath.Join(t.TempDir(), "nope"), file} {
		var out, errb bytes.Buffer
		code := run([]string{"faultline", "serve", "--store", store, "--addr", "127.0.0.1:0"}, &out, &errb)
		all := out.String() + errb.String()
		if code != ExitUsage {
			t.Errorf("%s: exit %d, want 64; output %q", store, code, all)
		}
		if strings.Contains(all, "serving") {
			t.Errorf("%s: said it serves: %q", store, all)
		}
		if n := strings.Count(strings.TrimSpace(errb.String()), "\n"); n > 0 || !strings.Contains(errb.String(), store) {
			t.Errorf("%s: want a one-line error naming the store, got %q", store, errb.String())
		}
	}
}
