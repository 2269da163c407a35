// Package workloads generates the operations a test drives against a target
// and defines the client interfaces a target implements to serve them. A
// workload also names the checkers (models) that judge its history.
//
// The harness runs W workers, each with one op outstanding. A worker asks
// the workload's Generator for its next invocation, hands it to Invoke with
// the worker's client, and records both. Error classification is the
// target's job: a client returns an error wrapped by Definite only when the
// op certainly did not take effect; every other error makes the op info
// (indeterminate), as Jepsen does.
package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Client is a connection a target opens to one node for one worker.
type Client interface {
	Close() error
}

// definiteError marks an error after which the op certainly did not happen.
type definiteError struct{ err error }

func (e definiteError) Error() string { return e.err.Error() }
func (e definiteError) Unwrap() error { return e.err }

// Definite wraps err to say the operation certainly did not take effect
// (the request was refused before it could be applied, or the server said
// so). Ops that fail with it are recorded as fail; all other errors as info.
func Definite(err error) error {
	if err == nil {
		return nil
	}
	return definiteError{err}
}

// answeredError marks a definite failure that is the system's regular
// answer, not a refusal.
type answeredError struct{ definiteError }

// Answer wraps err to say the operation certainly did not take effect
// because the system answered "no" (a failed comparison, a lock already
// held): a fail that still counts as served for availability.
func Answer(err error) error {
	if err == nil {
		return nil
	}
	return answeredError{definiteError{err}}
}

// IsAnswered reports whether err was marked with Answer.
func IsAnswered(err error) bool {
	var a answeredError
	return errors.As(err, &a)
}

// IsDefinite reports whether err was marked with Definite or Answer.
func IsDefinite(err error) bool {
	var d definiteError
	return errors.As(err, &d) || IsAnswered(err)
}

// Workload is one kind of test traffic.
type Workload interface {
	// Name is the workload's name, e.g. "register".
	Name() string
	// Summary is one line for `faultline list`.
	Summary() string
	// Models are the checkers (models catalog names) that judge its history.
	Models() []string
	// NewGenerator returns the op source for one run.
	NewGenerator(cfg Config) Generator
	// Invoke performs the invocation op with client c and returns its
	// completion (type ok, fail or info; same process, f and key).
	Invoke(ctx context.Context, c Client, op history.Op) history.Op
	// CheckClient reports an error when c cannot serve this workload.
	CheckClient(c Client) error
}

// Preparer is a Workload that sets up state once before the run phase
// (the bank's accounts). The harness calls Prepare with one worker's
// client, retrying on error until its context ends, before any worker
// starts.
type Preparer interface {
	Prepare(ctx context.Context, c Client) error
}

// CheckerMaker is a Workload that configures some of its checkers itself
// (with what it knows of the run, such as the bank's total), instead of the
// catalog's defaults.
type CheckerMaker interface {
	// Checker returns the configured checker for the named model, or nil
	// for the catalog's.
	Checker(model string) models.Checker
}

// Config tunes a generator.
type Config struct {
	// Concurrency is the number of workers.
	Concurrency int
	// Seed seeds every random choice.
	Seed int64
	// OpsPerKey bounds how many ops one key takes before its workers move to
	// a fresh key (Jepsen's independent generator); 0 means the default.
	OpsPerKey int
	// ThreadsPerKey is how many workers share a key; 0 means the default.
	ThreadsPerKey int
}

// Generator hands out invocations. It is safe for concurrent use.
type Generator interface {
	// Next returns worker w's next invocation (process, f, key, value set;
	// the harness fills index, time and node). rng is the worker's own
	// seeded source.
	Next(w int, rng *rand.Rand) history.Op
	// Complete tells the generator how an op ended, so later ops can use
	// what was learned (e.g. a cas on a value seen).
	Complete(op history.Op)
	// Final returns the reads to perform from every node after the run
	// phase, once faults are healed (e.g. one read per key used).
	Final() []history.Op
}

// FinalUntilOK is a Generator whose final ops each repeat on a node until
// one completes ok, for at most the patience it returns, as Jepsen's
// until-ok final generators: a queue's drain is the checker's only
// evidence of what is still queued, so one drain that fails while the
// system is still electing a leader after the heal must not end it.
type FinalUntilOK interface {
	Generator
	// FinalPatience is how long, from the start of the final reads, a
	// node repeats a final op that did not complete ok.
	FinalPatience() time.Duration
}

// Catalog lists the workloads by name.
type Catalog map[string]Workload

// Default returns every workload faultline has.
func Default() Catalog {
	out := Catalog{}
	for _, w := range []Workload{Register{}, Set{}, Broadcast{}, Broadcast{GSet: true}, Counter{}, Bank{}, ListAppend{}, RWRegister{},
		Lock{}, Queue{}, EventualCounter{}, EventualCounter{Decrements: true}, Kafka{}, Echo{}, UniqueIDs{}} {
		out[w.Name()] = w
	}
	return out
}

// Lookup returns the workload called name.
func (c Catalog) Lookup(name string) (Workload, error) {
	w, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (known: %v)", name, c.Names())
	}
	return w, nil
}

// Names returns the workload names, sorted.
func (c Catalog) Names() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// complete builds the completion of inv from an error, using the Definite
// rule; read-only ops pass readOnly=true, since a read that errs had no
// effect whatever the error.
func complete(inv history.Op, err error, readOnly bool) history.Op {
	out := inv
	out.Type = history.OK
	if err != nil {
		out.Error = err.Error()
		if readOnly || IsDefinite(err) {
			out.Type = history.Fail
			out.Answered = IsAnswered(err)
		} else {
			out.Type = history.Info
		}
	}
	return out
}

// Summaries returns one line per workload for `faultline list`.
func (c Catalog) Summaries() map[string]string {
	out := map[string]string{}
	for n, w := range c {
		out[n] = w.Summary()
	}
	return out
}
