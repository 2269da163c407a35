package workloads

import "context"

// QueueClient serves the queue workload: a durable queue of messages with
// unique integer ids, shared by every worker, consumed with explicit
// acknowledgements. Errors follow the package rule: wrap with Definite only
// when the op certainly did not take effect.
type QueueClient interface {
	Client
	// Enqueue publishes message id on the queue's stream key (a subject or
	// partition). It must not be re-sent by the client library: a re-send
	// after a timeout is a second message the history never saw.
	Enqueue(ctx context.Context, key string, id int64) error
	// Dequeue takes up to max messages without acknowledging them and
	// returns their ids (none when the queue is empty). The client keeps
	// what it needs to acknowledge them later.
	Dequeue(ctx context.Context, max int) ([]int64, error)
	// Ack acknowledges messages this client dequeued, and returns only
	// once the queue has confirmed it; an acknowledged message must never
	// be delivered again.
	Ack(ctx context.Context, ids []int64) error
	// Drain takes and acknowledges every message left, and returns their
	// ids in the order taken. A nil error says the queue was seen empty,
	// with nothing delivered and unacknowledged anywhere; otherwise the ids
	// are those taken and acknowledged before the error.
	Drain(ctx context.Context) ([]int64, error)
}
