package maelstrom

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline/faultline/workloads"
)

// Maelstrom's error codes (its protocol document, "Errors"). Codes below
// 1000 are Maelstrom's own; a node may define others from 1000 up.
const (
	CodeTimeout                = 0
	CodeNodeNotFound           = 1
	CodeNotSupported           = 10
	CodeTemporarilyUnavailable = 11
	CodeMalformedRequest       = 12
	CodeCrash                  = 13
	CodeAbort                  = 14
	CodeKeyDoesNotExist        = 20
	CodeKeyAlreadyExists       = 21
	CodePreconditionFailed     = 22
	CodeTxnConflict            = 30
)

// codeInfo is an error code's name and whether it is definite: the
// operation certainly did not take effect.
type codeInfo struct {
	name     string
	definite bool
}

// codes is the protocol's table. Timeout and crash are the indeterminate
// ones: the request may have been applied before the node gave up or fell
// over. A code not in the table (a node's own, 1000 and up) is treated as
// indeterminate, since nothing says it is safe to call it a failure.
var codes = map[int]codeInfo{
	CodeTimeout:                {"timeout", false},
	CodeNodeNotFound:           {"node-not-found", true},
	CodeNotSupported:           {"not-supported", true},
	CodeTemporarilyUnavailable: {"temporarily-unavailable", true},
	CodeMalformedRequest:       {"malformed-request", true},
	CodeCrash:                  {"crash", false},
	CodeAbort:                  {"abort", true},
	CodeKeyDoesNotExist:        {"key-does-not-exist", true},
	CodeKeyAlreadyExists:       {"key-already-exists", true},
	CodePreconditionFailed:     {"precondition-failed", true},
	CodeTxnConflict:            {"txn-conflict", true},
}

// Error is an error reply from a node.
type Error struct {
	Code int
	Text string
}

func (e *Error) Error() string {
	name := fmt.Sprintf("error %d", e.Code)
	if ci, ok := codes[e.Code]; ok {
		name = ci.name
	}
	if e.Text == "" {
		return "maelstrom: " + name
	}
	return fmt.Sprintf("maelstrom: %s: %s", name, e.Text)
}

// Definite reports whether the code says the operation did not happen.
func (e *Error) Definite() bool { return codes[e.Code].definite }

// notSent marks an error raised before a request reached the node (no
// connection): definite.
type notSent struct{ err error }

func (e notSent) Error() string { return "not sent: " + e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// classify marks err per Maelstrom's rules: a definite error code, or a
// request never sent, is workloads.Definite; a timeout, a crash, a lost
// connection after sending, or an unknown code stays indeterminate.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	var me *Error
	if errors.As(err, &me) {
		if me.Definite() {
			return workloads.Definite(err)
		}
		return err
	}
	var ns notSent
	if errors.As(err, &ns) {
		return workloads.Definite(err)
	}
	return err
}
