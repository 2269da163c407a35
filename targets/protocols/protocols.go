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

	"github.com/faultline/faultline/targets/etcd"
	"github.com/faultline/faultline/targets/httpjson"
	"github.com/faultline/faultline/targets/maelstrom"
	"github.com/faultline/faultline/targets/minio"
	"github.com/faultline/faultline/targets/nats"
	"github.com/faultline/faultline/targets/postgres"
	"github.com/faultline/faultline/targets/redis"
	"github.com/faultline/faultline/targets/zookeeper"
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

// Default returns every protocol faultline ships, each built from its
// package's exported Dial, DialOptions and DialWorkloads: the packages
// cannot return a Protocol themselves, since this package imports them.
func Default() Catalog {
	return Catalog{}.With(
		Protocol{
			Name:        "etcd",
			Summary:     "etcd v3 API (gRPC), one endpoint per client; register by key, compare-and-set by transaction, set by key prefix, lock by lease; option read=linearizable|serializable",
			DefaultPort: etcd.ClientPort,
			Workloads:   etcd.DialWorkloads(),
			Options:     etcd.DialOptions(),
			Dial:        etcd.Dial,
		},
		Protocol{
			Name:        "resp",
			Summary:     "Redis protocol (RESP, go-redis without retries) to one server, or to the primary a Sentinel names; register, set, counter, lock by SET NX PX with fencing tokens; options wait, sentinel",
			DefaultPort: redis.Port,
			Workloads:   redis.DialWorkloads(),
			Options:     redis.DialOptions(),
			Dial:        redis.Dial,
		},
		Protocol{
			Name:        "postgres",
			Summary:     "PostgreSQL wire protocol (pgx, no cancel requests) to one server, which must accept writes; register, set, bank and list-append in tables Dial creates; options isolation, user, password, database",
			DefaultPort: postgres.Port,
			Workloads:   postgres.DialWorkloads(),
			Options:     postgres.DialOptions(),
			Dial:        postgres.Dial,
		},
		Protocol{
			Name:        "s3",
			Summary:     "S3 (minio-go without retries, path-style) to one endpoint; register by conditional PUT (If-Match), set by one object per element and listing, in a bucket Dial creates; options access-key, secret-key, bucket, region",
			DefaultPort: minio.Port,
			Workloads:   minio.DialWorkloads(),
			Options:     minio.DialOptions(),
			Dial:        minio.Dial,
		},
		Protocol{
			Name:        "zookeeper",
			Summary:     "ZooKeeper protocol to one server; register on versioned znodes, set as children, lock by ephemeral sequential znodes, under /faultline (created by Dial); option reads=plain|sync",
			DefaultPort: zookeeper.ClientPort,
			Workloads:   zookeeper.DialWorkloads(),
			Options:     zookeeper.DialOptions(),
			Dial:        zookeeper.Dial,
		},
		Protocol{
			Name:        "nats",
			Summary:     "NATS JetStream to one server; register on a KV bucket, queue on a work-queue stream with a durable pull consumer (both created by Dial); options replicas, kv-reads, dedupe",
			DefaultPort: nats.ClientPort,
			Workloads:   nats.DialWorkloads(),
			Options:     nats.DialOptions(),
			Dial:        nats.Dial,
		},
		Protocol{
			Name:        "maelstrom",
			Summary:     "Jepsen Maelstrom's JSON messages, newline-delimited over TCP (faultline's maelstrom shim); register as lin-kv, set as broadcast or g-set, counter, g-counter and pn-counter as g-counter or pn-counter, list-append and rw-register as txn-list-append and txn-rw-register, kafka, echo, unique-ids; Maelstrom's error codes; options set, node",
			DefaultPort: maelstrom.ClientPort,
			Workloads:   maelstrom.DialWorkloads(),
			Options:     maelstrom.DialOptions(),
			Dial:        maelstrom.Dial,
		},
		Protocol{
			Name:        httpjson.Name,
			Summary:     "faultline's own HTTP/1.1 + JSON protocol (docs/protocol.md), for a system of your own in any language; status codes say ok, definite failure or indeterminate",
			DefaultPort: httpjson.DefaultPort,
			Workloads:   httpjson.DialWorkloads(),
			Options:     httpjson.DialOptions(),
			Dial:        httpjson.Dial,
		},
	)
}

// With returns a copy of c with ps added; a protocol replaces one of the
// same name.
func (c Catalog) With(ps ...Protocol) Catalog {
	out := make(Catalog, len(c)+len(ps))
	for n, p := range c {
		out[n] = p
	}
	for _, p := range ps {
		out[p.Name] = p
	}
	return out
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
