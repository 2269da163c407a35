package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// serveFixture writes a store with two runs, store/latest, and symlinks
// that lead outside the store; it returns the store's path.
func serveFixture(t *testing.T) string {
	t.Helper()
	store := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := []struct{ rel, test, verdict, started string }{
		{"alpha/20261124T010000Z", "alpha", "valid", "2026-11-24T01:00:00Z"},
		{"beta/20261124T020000Z", "beta", "invalid", "2026-11-24T02:00:00Z"},
	}
	for _, r := range runs {
		dir := filepath.Join(store, filepath.FromSlash(r.rel))
		files := map[string]string{
			"spec.json": `{"test":"` + r.test + `","target":"etcd","workload":"register","nemesis":["partition"]}`,
			"results.json": `{"format":"faultline-results","version":1,"test":"` + r.test + `","verdict":"` + r.verdict +
				`","reason":"reason of ` + r.test + `","stats":{"ops":42,"overall":{"name":"overall","throughput":12.5}},` +
				`"run":{"started":"` + r.started + `","duration":"10s"}}`,
			"report.html":       "<!DOCTYPE html><title>report of " + r.test + "</title>",
			"history.jsonl":     `{"process":0}` + "\n",
			"nodes/n1/node.log": "log of " + r.test + "\n",
		}
		for name, body := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for link, target := range map[string]string{
		"latest":      "beta/20261124T020000Z",
		"escape":      outside,
		"escape-file": filepath.Join(outside, "secret.txt"),
		"alpha/up":    "../..",
	} {
		if err := os.Symlink(target, filepath.Join(store, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func TestStoreHandler(t *testing.T) {
	store := serveFixture(t)
	h, closeStore, err := newStoreHandler(store)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	tests := []struct {
		method, target string
		code           int
		want           string // in the body
	}{
		{"GET", "/", 200, "alpha/20261124T010000Z"},
		{"GET", "/", 200, "beta/20261124T020000Z"},
		{"GET", "/index.html", 200, "reason of beta"},
		{"HEAD", "/", 200, ""},
		{"GET", "/alpha/20261124T010000Z/report.html", 200, "report of alpha"},
		{"GET", "/alpha/20261124T010000Z/history.jsonl", 200, `{"process":0}`},
		{"GET", "/alpha/20261124T010000Z/nodes/n1/node.log", 200, "log of alpha"},
		{"GET", "/latest/report.html", 200, "report of beta"},
		{"GET", "/latest/", 302, "/latest/report.html"},
		{"GET", "/compare?a=alpha/20261124T010000Z&b=beta/20261124T020000Z", 200, "reason of beta"},
		{"GET", "/compare.html?a=alpha%2F20261124T010000Z&b=latest", 200, "reason of alpha"},
		{"GET", "/compare?a=alpha/20261124T010000Z", 400, ""},
		{"GET", "/compare?a=../x&b=beta/20261124T020000Z", 404, ""},
		{"GET", "/compare?a=/etc&b=beta/20261124T020000Z", 404, ""},
		{"GET", "/compare?a=escape&b=beta/20261124T020000Z", 404, ""},
		{"GET", "/compare?a=alpha/nope&b=beta/20261124T020000Z", 404, ""},
		{"GET", "/../etc/passwd", 404, ""},
		{"GET", "/%2e%2e/%2e%2e/etc/passwd", 404, ""},
		{"GET", "/alpha/..%2f..%2f..%2fetc/passwd", 404, ""},
		{"GET", "/alpha/..%5c..%5cetc/passwd", 404, ""},
		{"GET", "/etc/passwd", 404, ""},
		{"GET", "/escape/secret.txt", 404, ""},
		{"GET", "/escape-file", 404, ""},
		{"GET", "/escape/", 404, ""},
		{"GET", "/alpha/up/", 404, ""},
		{"POST", "/", 405, ""},
		{"PUT", "/alpha/20261124T010000Z/report.html", 405, ""},
		{"DELETE", "/alpha/20261124T010000Z/report.html", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://faultline.test"+tc.target, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d; body %.200q", rec.Code, tc.code, body)
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("body lacks %q: %.300q", tc.want, body)
			}
			if strings.Contains(body, "SECRET") {
				t.Errorf("served a file from outside the store")
			}
		})
	}
}

// TestServeStore runs the real server on a loopback port and stops it by
// cancelling its context.
func TestServeStore(t *testing.T) {
	store := serveFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveStore(ctx, ln, store) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "beta/20261124T020000Z") {
		t.Errorf("index: status %d body %.200q", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "static-note") {
		t.Errorf("served index says compare needs the server")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveStore after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not shut down")
	}
}

func TestServeCommandUsage(t *testing.T) {
	cmd := serveCommand()
	if cmd.Name != "serve" {
		t.Fatalf("name %q", cmd.Name)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"extra argument", []string{"faultline", "serve", "--store", t.TempDir(), "extra"}},
		{"bad address", []string{"faultline", "serve", "--store", t.TempDir(), "--addr", "256.0.0.1:-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := &cli.App{Name: "faultline", Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{serveCommand()}}
			err := app.RunContext(context.Background(), tc.args)
			var ue usageError
			if !errors.As(err, &ue) {
				t.Errorf("got %v, want a usage error", err)
			}
		})
	}
	// A store that does not exist is a usage error, reported at once.
	app := &cli.App{Name: "faultline", Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{serveCommand()}}
	err := app.RunContext(context.Background(), []string{"faultline", "serve", "--store", filepath.Join(t.TempDir(), "nope"), "--addr", "127.0.0.1:0"})
	var ue usageError
	if !errors.As(err, &ue) {
		t.Errorf("missing store: got %v, want a usage error", err)
	}
}
