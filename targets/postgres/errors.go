package postgres

import (
	"errors"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faultline/faultline/workloads"
)

// phase is how far an op had got when its error came: it decides whether
// the error can hide a commit.
type phase int

const (
	// phaseConnect: no session yet, nothing was sent.
	phaseConnect phase = iota
	// phaseBefore: inside an explicit transaction, before COMMIT was sent;
	// a transaction that never reaches COMMIT is rolled back by the server
	// whatever happens to the connection.
	phaseBefore
	// phaseCommit: COMMIT, or an autocommit write, was sent; only the
	// server's own answer says whether it took effect.
	phaseCommit
	// phaseRead: a read-only op, which has no effect either way.
	phaseRead
)

// classify marks err Definite when the op certainly did not take effect,
// following the rules in the facts file: a server error (a SQLSTATE) before
// or as COMMIT's answer is definite, except the shutdown and
// unknown-outcome codes; a network error or timeout while COMMIT or an
// autocommit write was in flight is indeterminate.
func classify(err error, ph phase) error {
	if err == nil {
		return nil
	}
	if workloads.IsDefinite(err) {
		return err
	}
	switch ph {
	case phaseConnect, phaseBefore, phaseRead:
		return workloads.Definite(err)
	}
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		// COMMIT answered ROLLBACK: the transaction had already failed.
		return workloads.Definite(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown,
			pgerrcode.TransactionResolutionUnknown:
			// The server went away around the commit: it may have
			// committed first.
			return err
		}
		return workloads.Definite(err)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		// No session: nothing reached the server.
		return workloads.Definite(err)
	}
	if errors.Is(err, pgconn.ErrConnClosed) {
		// pgx also says "conn closed" (and SafeToRetry) when the socket
		// died while it read the answer to a COMMIT it had sent: seen
		// with a primary killed mid-commit whose commit survived. The
		// client checks its connection is open before each op, so this is
		// never a session that was closed before sending.
		return err
	}
	if pgconn.SafeToRetry(err) {
		return workloads.Definite(err)
	}
	return err
}

// brokenConn reports whether err may have left the session unusable (any
// error that is not the server's own answer), so the connection is replaced.
func brokenConn(err error) bool {
	var pgErr *pgconn.PgError
	return err != nil && !errors.As(err, &pgErr)
}
