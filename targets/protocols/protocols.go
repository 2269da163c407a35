// Package protocols lists the client protocols faultline speaks, apart from
// any deployment of a system: a target file (or a user's own Go target)
// that says its system speaks the etcd v3 API, RESP, the PostgreSQL wire
// protocol, S3, ZooKeeper's protocol or faultline's own http-json gets the
// tested client with its error classification (definite or indeterminate)
// for free.
package protocols

import (
	"context"
	"fmt"
	"sort"

	"github.com/faultline/faultline/workloads"
)

// Protocol is one client protocol.
type Protocol struct {
	// Name is what a target file says, e.g. "etcd" or "http-json".
	Name string
	// Summary is one line for `faultline list`.
	Summary string
	// DefaultPort is the port servers usually listen on.
	DefaultPort int
	// Workloads names the workloads its client serves.
	Workloads []string
	// Options describes the options Dial takes.
	Options map[string]string
	// Dial opens a client for one worker that talks to the server at addr
	// (host:port) only. It refuses unknown options.
	Dial func(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error)
}

// Catalog maps protocol names to protocols.
type Catalog map[string]Protocol

// Default returns every protocol faultline has.
func Default() Catalog {
	c := Catalog{}
	for _, p := range []Protocol{} {
		c[p.Name] = p
	}
	return c
}

// Lookup returns the protocol called name.
func (c Catalog) Lookup(name string) (Protocol, error) {
	p, ok := c[name]
	if !ok {
		return Protocol{}, fmt.Errorf("unknown protocol %q (known: %v)", name, c.Names())
	}
	return p, nil
}

// Names returns the protocol names, sorted.
func (c Catalog) Names() []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
