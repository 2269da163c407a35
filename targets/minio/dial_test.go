package minio

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/targets/targettest"
)

// TestDialWorkloads: the client serves every workload Dial claims.
func TestDialWorkloads(t *testing.T) {
	targettest.ServesWorkloads(t, &Client{}, DialWorkloads())
}

func TestParseDialOptions(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want s3Config
		err  string
	}{
		{nil, defaultS3(), ""},
		{map[string]string{"access-key": "a", "secret-key": "s", "bucket": "b", "region": "eu-west-1"},
			s3Config{accessKey: "a", secretKey: "s", bucket: "b", region: "eu-west-1"}, ""},
		{map[string]string{"bucket": ""}, s3Config{}, "bucket"},
		{map[string]string{"parity": "2"}, s3Config{}, `unknown option "parity"`},
	}
	for _, tt := range tests {
		got, err := parseDialOptions(tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDialOptions(%v) = %v; want an error with %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDialOptions(%v) = %+v, %v; want %+v", tt.opts, got, err, tt.want)
		}
	}
}

// fakeS3 records the requests it gets and answers them as told.
type fakeS3 struct {
	mu     sync.Mutex
	seen   []string // "METHOD path"
	answer func(r *http.Request) int
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	w.WriteHeader(f.answer(r))
}

func (f *fakeS3) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// TestDialPreparesBucket: Dial creates the bucket it is given when the
// server does not have it, leaves an existing one alone, and the client's
// objects live in it.
func TestDialPreparesBucket(t *testing.T) {
	tests := []struct {
		name   string
		exists bool
		want   []string
	}{
		{"missing", false, []string{"HEAD /mine/", "PUT /mine/", "PUT /mine/register/k"}},
		{"existing", true, []string{"HEAD /mine/", "PUT /mine/register/k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeS3{answer: func(r *http.Request) int {
				if r.Method == http.MethodHead && !tt.exists {
					return http.StatusNotFound
				}
				return http.StatusOK
			}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			c, err := Dial(context.Background(), addr, map[string]string{"bucket": "mine"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.(*Client).Write(context.Background(), "k", 1) // the fake's answer has no ETag: only the path matters
			if got := f.requests(); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("requests %v, want %v", got, tt.want)
			}
		})
	}
}
