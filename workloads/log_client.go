package workloads

import "context"

// LogEntry is one message of a log at its offset.
type LogEntry struct {
	Offset int64
	Msg    int64
}

// LogClient serves the kafka workload: append-only logs named by keys
// (topics or partitions), in which the system gives every message an
// integer offset, read by consumers from the offset they have reached, with
// committed offsets kept per key (Kafka's consumer-group offsets, shared by
// every consumer here). Maelstrom's kafka workload is one such system; a
// Kafka-like target implements the same four calls. Errors follow the
// package rule: wrap with Definite only when the op certainly did not take
// effect.
type LogClient interface {
	Client
	// Send appends msg to the log at key and returns the offset the system
	// gave it. It must not be re-sent by the client library: a re-send
	// after a timeout is a second message the history never saw.
	Send(ctx context.Context, key string, msg int64) (offset int64, err error)
	// Poll reads, for each key of offsets, messages of that log from the
	// given offset on, in offset order (offsets may be sparse); a key with
	// nothing to read may be missing from the result.
	Poll(ctx context.Context, offsets map[string]int64) (map[string][]LogEntry, error)
	// CommitOffsets records that messages up to and including each offset
	// of its key have been processed.
	CommitOffsets(ctx context.Context, offsets map[string]int64) error
	// ListCommittedOffsets returns the committed offset of each key that
	// has one (keys never committed may be missing).
	ListCommittedOffsets(ctx context.Context, keys []string) (map[string]int64, error)
}
