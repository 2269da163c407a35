package minio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets/targettest"
	"github.com/faultline/faultline/workloads"
)

func TestSoftwareVersions(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"", true},
		{DefaultVersion, true},
		{"v0.0.0-20250422221226-e1c5d5e4a1b2", true},
		{"RELEASE.2025-04-22T22-12-26Z", false}, // MinIO's tag, not a Go version
		{"v0.0.0-2025042222122-e1c5d5e4a1b2", false},
		{"v0.0.0-20250422221226-E1C5D5E4A1B2", false},
		{"v1.2.3", false},
		{"latest", false},
	}
	for _, tt := range tests {
		sw, err := Software(tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("Software(%q) err=%v, want ok=%v", tt.version, err, tt.ok)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Software(%q): error is not one line: %q", tt.version, err)
			}
			continue
		}
		want := tt.version
		if want == "" {
			want = DefaultVersion
		}
		b := sw.Binaries
		if sw.Name != "minio" || len(b) != 1 || b[0].Name != "minio" || !slices.Equal(b[0].Require, []string{serverModule + "@" + want}) || b[0].Package != serverModule || b[0].Main != "" {
			t.Errorf("Software(%q) = %+v", tt.version, sw)
		}
	}
	if _, err := New("v9.9.9", nil); err == nil {
		t.Error("New accepted version v9.9.9")
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want string // parity setting that must result
		err  string
	}{
		{nil, "default", ""},
		{map[string]string{"parity": "default"}, "default", ""},
		{map[string]string{"parity": "1"}, "1", ""},
		{map[string]string{"parity": "8"}, "8", ""},
		{map[string]string{"parity": "0"}, "", "parity="},
		{map[string]string{"parity": "9"}, "", "parity="},
		{map[string]string{"parity": "EC:2"}, "", "parity="},
		{map[string]string{"replicas": "3"}, "", `unknown option "replicas"`},
	}
	for _, tt := range tests {
		tg, err := New("", tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New(%v) err=%v, want one line with %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%v): %v", tt.opts, err)
			continue
		}
		if got := tg.Settings()["parity"]; got != tt.want {
			t.Errorf("New(%v): parity=%q, want %q", tt.opts, got, tt.want)
		}
	}
	for k := range Options() {
		if _, ok := (settings{}).values()[k]; !ok {
			t.Errorf("option %s is described but has no setting", k)
		}
	}
}

func TestCheckCluster(t *testing.T) {
	tests := []struct {
		parity, nodes int
		err           string
	}{
		{0, 4, ""},
		{0, 3, ""},
		{0, 5, ""},
		{0, 2, ""},
		{0, 16, ""},
		{0, 1, "2 to 16 nodes"},
		{0, 17, "2 to 16 nodes"},
		{2, 4, ""},
		{3, 5, "parity=3 needs at least 6 nodes"},
		{1, 3, ""},
	}
	for _, tt := range tests {
		err := settings{parity: tt.parity}.checkCluster(tt.nodes)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkCluster(parity %d, %d nodes) = %v, want %q", tt.parity, tt.nodes, err, tt.err)
		}
	}
}

// TestQuorums: the figures the docs and the tests lean on (MinIO's
// storage class defaults and putObject's write quorum).
func TestQuorums(t *testing.T) {
	tests := []struct{ n, parity, read, write int }{
		{4, 0, 2, 3}, // EC:2: data == parity, so writes need one more
		{5, 0, 3, 3},
		{3, 0, 2, 2},
		{2, 0, 1, 2},
		{6, 0, 3, 4},
		{8, 0, 4, 5},
		{4, 1, 3, 3},
		{16, 0, 12, 12},
	}
	for _, tt := range tests {
		r, w := Quorums(tt.n, tt.parity)
		if r != tt.read || w != tt.write {
			t.Errorf("Quorums(%d, %d) = %d, %d; want %d, %d", tt.n, tt.parity, r, w, tt.read, tt.write)
		}
	}
}

func TestCommandLine(t *testing.T) {
	peers := []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3"), netip.MustParseAddr("10.1.0.4"), netip.MustParseAddr("10.1.0.5")}
	d := settings{}.daemon(peers[1], peers)
	want := []string{"/usr/local/bin/minio", "server", "--address", "10.1.0.3:9000",
		"http://10.1.0.2:9000/data", "http://10.1.0.3:9000/data", "http://10.1.0.4:9000/data", "http://10.1.0.5:9000/data"}
	if !slices.Equal(d.Argv, want) {
		t.Errorf("argv = %q\nwant %q", d.Argv, want)
	}
	if d.Name != "minio" || d.Dir != "/data" || d.LogPath() != "/var/log/faultline/minio.log" {
		t.Errorf("daemon %+v, log %s", d, d.LogPath())
	}
	tests := []struct {
		s    settings
		want []string
		not  string
	}{
		{settings{}, []string{"MINIO_ROOT_USER=faultline", "MINIO_ROOT_PASSWORD=faultline-secret", "MINIO_CI_CD=1", "MINIO_BROWSER=off"}, "MINIO_STORAGE_CLASS_STANDARD"},
		{settings{parity: 1}, []string{"MINIO_CI_CD=1", "MINIO_STORAGE_CLASS_STANDARD=EC:1"}, ""},
	}
	for _, tt := range tests {
		env := tt.s.daemon(peers[0], peers).Env
		for _, w := range tt.want {
			if !slices.Contains(env, w) {
				t.Errorf("parity %d: env %q lacks %q", tt.s.parity, env, w)
			}
		}
		if tt.not != "" && slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, tt.not) }) {
			t.Errorf("parity %d: env %q has %s", tt.s.parity, env, tt.not)
		}
	}
	tg, _ := New("", nil)
	if got := tg.LogFiles(); !slices.Equal(got, []string{"/var/log/faultline/minio.log"}) {
		t.Errorf("LogFiles = %v", got)
	}
	if got := tg.Faults(); slices.Contains(got, "failover") || !slices.Contains(got, "partition") {
		t.Errorf("Faults = %v", got)
	}
	if _, ok := any(tg).(nuker.PrimaryLister); ok {
		t.Error("MinIO names primaries: it has none, so the primaries partition must not be offered")
	}
}

func TestObjectNames(t *testing.T) {
	if got := objectName("7"); got != "register/7" {
		t.Errorf("objectName = %q", got)
	}
	name := elementName("3", 42)
	if name != "set/3/42" {
		t.Errorf("elementName = %q", name)
	}
	if e, err := parseElement(setPrefix("3"), name); err != nil || e != 42 {
		t.Errorf("parseElement(%q) = %d, %v", name, e, err)
	}
	for _, bad := range []string{"set/4/42", "set/3/x", "set/3/"} {
		if _, err := parseElement(setPrefix("3"), bad); err == nil {
			t.Errorf("parseElement(%q) accepted it", bad)
		}
	}
	// The ETag of a single-part PUT is the MD5 of the body.
	if got := etagOf(encode(1)); got != "c4ca4238a0b923820dcc509a6f75849b" {
		t.Errorf("etagOf(1) = %s", got)
	}
}

// TestClassify: only errors after which MinIO certainly did nothing are
// definite; a timeout, a reset after sending and every 5xx must stay
// indeterminate for writes, or the checker raises false alarms.
func TestClassify(t *testing.T) {
	s3err := func(status int, code string) error {
		return miniogo.ErrorResponse{StatusCode: status, Code: code, Message: http.StatusText(status)}
	}
	refused := &url.Error{Op: "Put", URL: "http://10.1.0.2:9000/faultline/register/1",
		Err: dialError{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}}
	reset := &url.Error{Op: "Put", URL: "http://10.1.0.2:9000/faultline/register/1",
		Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	tests := []struct {
		name     string
		err      error
		definite bool
	}{
		{"wrapped deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), false},
		{"reset after sending", reset, false},
		{"eof rewritten by minio-go", &url.Error{Op: "Put", Err: errors.New("Connection closed by foreign host. Retry again.")}, false},
		{"other", errors.New("something odd"), false},
		{"connection refused", refused, true},
		{"dial timeout", &url.Error{Op: "Put", Err: dialError{context.DeadlineExceeded}}, true},
		{"412 precondition failed", s3err(412, "PreconditionFailed"), true},
		{"404 no such key", s3err(404, "NoSuchKey"), true},
		{"404 no such bucket", s3err(404, "NoSuchBucket"), true},
		{"403 clock skew", s3err(403, "RequestTimeTooSkewed"), true},
		{"403 access denied", s3err(403, "AccessDenied"), true},
		{"400 bad request", s3err(400, "InvalidArgument"), true},
		{"429 slow down", s3err(429, "SlowDown"), true},
		{"408 request timeout", s3err(408, "RequestTimeout"), false},
		{"499 client closed", s3err(499, "ClientClosedRequest"), false},
		{"client-side invalid argument", miniogo.ErrorResponse{Code: "InvalidArgument", Message: "bad"}, true},
		{"503 write quorum", s3err(503, "SlowDownWrite"), false},
		{"503 read quorum", s3err(503, "SlowDownRead"), false},
		{"500 internal", s3err(500, "InternalError"), false},
		{"wrapped 412", fmt.Errorf("cas: %w", s3err(412, "PreconditionFailed")), true},
		{"already definite", workloads.Definite(errors.New("refused")), true},
	}
	var cases []targettest.ClassCase
	for _, tt := range tests {
		want := targettest.Indeterminate
		if tt.definite {
			want = targettest.Definite
		}
		cases = append(cases, targettest.ClassCase{Name: tt.name, Err: tt.err, Want: want})
	}
	// The kit adds the rules every target shares (timeouts and
	// cancellations stay indeterminate, causes are kept, nil is nil).
	targettest.Classify(t, classify, cases)
	if !isPreconditionFailed(workloads.Definite(s3err(412, "PreconditionFailed"))) || isPreconditionFailed(s3err(404, "NoSuchKey")) {
		t.Error("isPreconditionFailed")
	}
	if !isNoSuchKey(s3err(404, "NoSuchKey")) || isNoSuchKey(s3err(404, "NoSuchBucket")) {
		t.Error("isNoSuchKey")
	}
}
