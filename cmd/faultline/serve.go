package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/reports"
	"github.com/urfave/cli/v2"
)

// serveCommand is `faultline serve`: a read-only web server over a store.
func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the store's runs: an index, comparisons and every report, read-only",
		Description: `serve lists every run of the store (rendered fresh on each request), compares
two runs side by side (/compare?a=<test>/<run>&b=<test>/<run>) and serves the
files of the store as they are (reports, histories, node logs). It only
answers GET and HEAD, never serves anything outside the store directory, and
needs no network beyond its own listener. Stop it with Ctrl-C.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Value: harness.DefaultSpec().Store, Usage: "directory runs are stored in", EnvVars: []string{"FAULTLINE_STORE"}},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address to listen on"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("serve takes no arguments")
			}
			// The store first: say "serving" only once there is something to serve.
			h, closeStore, err := newStoreHandler(c.String("store"))
			if err != nil {
				return usageError{err}
			}
			defer closeStore()
			ln, err := net.Listen("tcp", c.String("addr"))
			if err != nil {
				return usage("listen on %s: %v", c.String("addr"), err)
			}
			fmt.Fprintf(c.App.ErrWriter, "faultline: serving %s on http://%s/ (Ctrl-C stops)\n", c.String("store"), ln.Addr())
			if err := serveHandler(c.Context, ln, h, defaultServeLimits()); err != nil {
				return harnessError{err}
			}
			return nil
		},
	}
}

// serveLimits bound what a client may hold of the server: the time to
// send a request's header and body, to read a response, to keep an idle
// connection open, and the size of a request header.
type serveLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// defaultServeLimits suit a local browser reading reports: the largest
// responses (histories, node logs) are megabytes over loopback.
func defaultServeLimits() serveLimits {
	return serveLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 2 * time.Minute,
		Idle: time.Minute, MaxHeaderBytes: 64 << 10}
}

// newServer is the HTTP server of h with lim.
func newServer(ctx context.Context, h http.Handler, lim serveLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// serveStore serves the store on ln until ctx is done, then shuts down
// gracefully (in-flight requests get a few seconds to finish).
func serveStore(ctx context.Context, ln net.Listener, store string) error {
	h, closeStore, err := newStoreHandler(store)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeStore()
	return serveHandler(ctx, ln, h, defaultServeLimits())
}

// serveHandler serves h on ln until ctx is done, then shuts down
// gracefully.
func serveHandler(ctx context.Context, ln net.Listener, h http.Handler, lim serveLimits) error {
	srv := newServer(ctx, h, lim)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down server: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// storeHandler answers the server's requests for one store.
type storeHandler struct {
	store string
	root  *os.Root
}

// newStoreHandler returns the read-only handler of store and a function
// that releases the store's directory handle:
//
//   - / and /index.html: the index of the store's runs, rendered fresh;
//   - /compare and /compare.html?a=<run>&b=<run>: the two runs side by side;
//   - the files faultline writes into a run directory (serve_files.go), as
//     they are; a run directory's URL redirects to its report.
//
// Everything else is 404: other files, directory listings, FIFOs. Only GET
// and HEAD are allowed (405 otherwise). Files are opened through an
// os.Root, so no path (.., absolute, or a symlink leading outside the
// store) reaches outside the store. Symlinks within the store
// (store/latest) work.
func newStoreHandler(store string) (http.Handler, func() error, error) {
	root, err := os.OpenRoot(store)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", store, unwrapPath(err))
	}
	h := &storeHandler{store: store, root: root}
	return h, root.Close, nil
}

// unwrapPath drops the path an os error repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ServeHTTP implements http.Handler.
func (h *storeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: this server is read-only", http.StatusMethodNotAllowed)
		return
	}
	securityHeaders(w.Header())
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || hasDotDot(p) || hasDotDot(r.URL.RawPath) || strings.Contains(p, "\x00") || strings.Contains(p, "\\") {
		http.NotFound(w, r)
		return
	}
	switch p {
	case "/favicon.ico":
		// Browsers ask for it; the store has none.
		w.WriteHeader(http.StatusNoContent)
	case "/", "/index.html":
		entries, err := reports.Index(h.store)
		if err != nil {
			http.Error(w, "cannot read the store", http.StatusInternalServerError)
			return
		}
		page, err := reports.RenderIndex(entries, reports.IndexOptions{Served: true})
		if err != nil {
			http.Error(w, "cannot render the index", http.StatusInternalServerError)
			return
		}
		writeHTML(w, page)
	case "/compare", "/compare.html":
		q := r.URL.Query()
		a, b := q.Get("a"), q.Get("b")
		if a == "" || b == "" {
			http.Error(w, "compare needs two runs: /compare?a=<test>/<run>&b=<test>/<run>", http.StatusBadRequest)
			return
		}
		page, err := reports.Compare(h.store, a, b)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrInvalid), errors.Is(err, fs.ErrPermission):
			http.Error(w, "no such run in the store", http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, "cannot compare the runs", http.StatusInternalServerError)
			return
		}
		writeHTML(w, page)
	default:
		h.serveFile(w, r, strings.TrimPrefix(p, "/"))
	}
}

// writeHTML writes page as an HTML response.
func writeHTML(w http.ResponseWriter, page []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", renderedPolicy(page))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(page)
}

// hasDotDot reports whether the slash-separated path p has a ".." element.
func hasDotDot(p string) bool {
	for _, e := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if e == ".." {
			return true
		}
	}
	return false
}
