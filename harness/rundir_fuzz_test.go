package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tarDir encodes a run directory for the fuzzer: regular files, links and
// FIFOs by name.
type tarEntry struct {
	name, body, link string
	typ              byte
}

func tarDir(t testing.TB, ents ...tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := w.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// untar extracts what it can of data into dir (through an os.Root, so the
// extraction itself cannot escape); a broken archive ends the extraction.
func untar(dir string, data []byte) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return
	}
	defer root.Close()
	r := tar.NewReader(bytes.NewReader(data))
	for n := 0; n < 64; n++ {
		h, err := r.Next()
		if err != nil {
			return
		}
		if !filepath.IsLocal(h.Name) {
			continue
		}
		_ = root.MkdirAll(filepath.Dir(h.Name), 0o755)
		switch h.Typeflag {
		case tar.TypeDir:
			_ = root.MkdirAll(h.Name, 0o755)
		case tar.TypeSymlink:
			_ = root.Symlink(h.Linkname, h.Name)
		case tar.TypeFifo:
			_ = syscall.Mkfifo(filepath.Join(dir, filepath.Clean(h.Name)), 0o644)
		case tar.TypeReg:
			f, err := root.OpenFile(h.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
			if err != nil {
				continue
			}
			_, _ = io.Copy(f, io.LimitReader(r, 1<<20))
			f.Close()
		}
	}
}

// FuzzReadRunDir checks arbitrary run directories (encoded as tar archives
// with links and FIFOs): Check must neither panic nor block, and must not
// touch a file outside the directory that its links point at.
func FuzzReadRunDir(f *testing.F) {
	spec := `{"test":"fz","target":"etcd","workload":"register","check_timeout":"2s"}`
	hist := "{\"format\":\"faultline-history\",\"version\":1}\n" +
		`{"index":0,"time":0,"type":"invoke","process":0,"f":"write","key":"k","value":1}` + "\n" +
		`{"index":1,"time":1,"type":"ok","process":0,"f":"write","key":"k","value":1}` + "\n"
	reg := func(name, body string) tarEntry { return tarEntry{name: name, body: body, typ: tar.TypeReg} }
	link := func(name, to string) tarEntry { return tarEntry{name: name, link: to, typ: tar.TypeSymlink} }
	f.Add(tarDir(f, reg("spec.json", spec), reg("history.jsonl", hist)))
	f.Add(tarDir(f, reg("spec.json", spec), reg("history.jsonl", hist), link("results.json.tmp", "../victim"),
		link("linearizability.html", "../victim"), link("history", ".."), link("report.html", "../victim")))
	f.Add(tarDir(f, reg("spec.json", spec), reg("history.jsonl", hist), reg("results.json", `{"verdict":"invalid"}`),
		link("checks", ".."), tarEntry{name: "nodes/n1/fifo.log", typ: tar.TypeFifo}, link("nodes/n1/x.log", "/etc/passwd")))
	f.Add(tarDir(f, link("spec.json", "../victim"), tarEntry{name: "history.jsonl", typ: tar.TypeFifo},
		tarEntry{name: "results.json", typ: tar.TypeDir}))
	f.Fuzz(func(t *testing.T, data []byte) {
		top := t.TempDir()
		victim := filepath.Join(top, "victim")
		if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(top, "run")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		phase := make(chan string, 2)
		go func() {
			phase <- "extracting"
			untar(dir, data)
			phase <- "checking"
			_, err := Check(ctx, dir, nil, 2*time.Second, nil)
			done <- err
		}()
		last := ""
		timeout := time.After(30 * time.Second)
	wait:
		for {
			select {
			case last = <-phase:
			case <-done:
				break wait
			case <-timeout:
				t.Fatalf("blocked while %s", last)
			}
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != "victim" {
			t.Errorf("victim outside the run directory changed: %q, %v", b, err)
		}
		ents, _ := os.ReadDir(top)
		for _, e := range ents {
			if e.Name() != "victim" && e.Name() != "run" {
				t.Errorf("Check wrote %s outside the run directory", e.Name())
			}
		}
	})
}
