package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/faultline/faultline/models/history"
)

// EchoClient serves the echo workload: the node answers a message with the
// same message.
type EchoClient interface {
	Client
	// Echo sends msg and returns what came back, decoded as JSON values
	// are (numbers as json.Number, so their text is kept).
	Echo(ctx context.Context, msg string) (any, error)
}

// Echo is the echo workload, Maelstrom's first: each op sends a string and
// the node must send the same string back. It checks a node's plumbing
// (init, message ids, replies) more than any distributed property.
//
// History: F "echo"; the invocation's value is the string sent, an ok
// completion's value is what came back (a fail or info keeps the value
// sent). No keys.
type Echo struct{}

// Name implements Workload.
func (Echo) Name() string { return "echo" }

// Summary implements Workload.
func (Echo) Summary() string {
	return "echo requests carrying strings (some with quotes, escapes and non-ASCII text); every ok reply carries exactly the string sent"
}

// Models implements Workload.
func (Echo) Models() []string { return []string{"echo"} }

// CheckClient implements Workload.
func (Echo) CheckClient(c Client) error {
	if _, ok := c.(EchoClient); !ok {
		return fmt.Errorf("client %T does not implement the echo workload", c)
	}
	return nil
}

// NewGenerator implements Workload.
func (Echo) NewGenerator(Config) Generator { return echoGen{} }

type echoGen struct{}

// echoOdd are strings a node's JSON handling must carry through intact.
var echoOdd = []string{`"quoted"`, `back\slash`, "tab\tand\nnewline", "ünïcødé ✓", "<&>", "emoji 🐢"}

func (echoGen) Next(_ int, rng *rand.Rand) history.Op {
	msg := fmt.Sprintf("Please echo %d", rng.IntN(1000))
	if rng.IntN(4) == 0 {
		msg += " " + echoOdd[rng.IntN(len(echoOdd))]
	}
	return history.Op{Type: history.Invoke, F: "echo", Value: msg}
}

func (echoGen) Complete(history.Op) {}

func (echoGen) Final() []history.Op { return nil }

// Invoke implements Workload. An echo changes nothing, so any error is a
// fail.
func (Echo) Invoke(ctx context.Context, c Client, op history.Op) history.Op {
	ec, ok := c.(EchoClient)
	if !ok {
		return complete(op, Definite(fmt.Errorf("client %T does not serve the echo workload", c)), true)
	}
	msg, ok := op.Value.(string)
	if !ok || op.F != "echo" {
		return complete(op, Definite(fmt.Errorf("echo workload: op %s of %v: want f echo with a string", op.F, op.Value)), true)
	}
	got, err := ec.Echo(ctx, msg)
	out := complete(op, err, true)
	if err == nil {
		out.Value = got
	}
	return out
}
