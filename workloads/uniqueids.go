package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/faultline/faultline/models/history"
)

// IDClient serves the unique-ids workload: the node hands out ids that
// must be unique across the cluster and its whole life.
type IDClient interface {
	Client
	// GenerateID asks for a new id and returns it as it came (any JSON
	// value, decoded with numbers as json.Number so their text is kept).
	GenerateID(ctx context.Context) (any, error)
}

// UniqueIDs is the unique-ids workload (Maelstrom's unique-ids): every
// op asks a node for a new id; no id may ever be handed out twice, by
// any node, before or after a crash.
//
// History: F "generate" with no value; an ok completion's value is the id
// returned, kept as the JSON value it was. No keys. After the run phase,
// one more generate on every node.
type UniqueIDs struct{}

// Name implements Workload.
func (UniqueIDs) Name() string { return "unique-ids" }

// Summary implements Workload.
func (UniqueIDs) Summary() string {
	return "generate requests for new ids on every node; every id acknowledged unique across the whole run, node restarts included"
}

// Models implements Workload.
func (UniqueIDs) Models() []string { return []string{"unique-ids"} }

// CheckClient implements Workload.
func (UniqueIDs) CheckClient(c Client) error {
	if _, ok := c.(IDClient); !ok {
		return fmt.Errorf("client %T does not implement the unique-ids workload", c)
	}
	return nil
}

// NewGenerator implements Workload.
func (UniqueIDs) NewGenerator(Config) Generator { return idGen{} }

type idGen struct{}

func (idGen) Next(int, *rand.Rand) history.Op {
	return history.Op{Type: history.Invoke, F: "generate"}
}

func (idGen) Complete(history.Op) {}

// Final asks every node for one more id once faults are healed, so a
// node restarted late in the run is asked after its restart too.
func (idGen) Final() []history.Op {
	return []history.Op{{Type: history.Invoke, F: "generate"}}
}

// Invoke implements Workload. A generate whose answer was lost may have
// used up an id: indeterminate unless the error is definite.
func (UniqueIDs) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	ic, ok := c.(IDClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the unique-ids workload", c)), false)
	}
	if op.F != "generate" {
		return complete(op, Definite(fmt.Errorf("unique-ids workload: unknown f %q", op.F)), false)
	}
	id, err := ic.GenerateID(ctx)
	out := complete(op, err, false)
	if err == nil {
		out.Value = id
	}
	return out
}
