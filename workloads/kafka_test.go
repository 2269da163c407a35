package workloads

import (
	"context"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/models/kafka"
)

// The kafka workload against the fake store: log key is lists["log/"+key],
// message at index = offset, noMsg marking an offset without a message
// (logs may be sparse); committed offsets are counters["commit/"+key].
// Bugs: "lose-send" acknowledges every fifth send at an offset it never
// stores; "skip-poll" leaves out the first message of every fourth poll
// that returns two or more; "forget-commit" drops every third commit.
const noMsg = -1

// fakePollLimit is how many messages of a key one poll returns, so
// consumers and final polls poll several times.
const fakePollLimit = 5

var _ LogClient = (*fakeClient)(nil)

func (c *fakeClient) Send(_ context.Context, key string, msg int64) (int64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return 0, errFakeRefused
	}
	log := "log/" + key
	off := int64(len(s.lists[log]))
	if s.every("lose-send", 5) {
		s.lists[log] = append(s.lists[log], noMsg)
	} else {
		s.lists[log] = append(s.lists[log], msg)
	}
	if timeout {
		return 0, errFakeTimeout
	}
	return off, nil
}

func (c *fakeClient) Poll(_ context.Context, offsets map[string]int64) (map[string][]LogEntry, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return nil, errFakeTimeout
	}
	skip := s.every("skip-poll", 4)
	out := map[string][]LogEntry{}
	for key, from := range offsets {
		var es []LogEntry
		for off := max(from, 0); off < int64(len(s.lists["log/"+key])) && len(es) < fakePollLimit; off++ {
			if m := s.lists["log/"+key][off]; m != noMsg {
				es = append(es, LogEntry{Offset: off, Msg: m})
			}
		}
		if skip && len(es) >= 2 {
			es = es[1:]
		}
		if len(es) > 0 {
			out[key] = es
		}
	}
	return out, nil
}

func (c *fakeClient) CommitOffsets(_ context.Context, offsets map[string]int64) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse, timeout := s.step()
	if refuse {
		return errFakeRefused
	}
	if !s.every("forget-commit", 3) {
		for key, o := range offsets {
			if old, ok := s.counters["commit/"+key]; !ok || o > old {
				s.counters["commit/"+key] = o
			}
		}
	}
	if timeout {
		return errFakeTimeout
	}
	return nil
}

func (c *fakeClient) ListCommittedOffsets(_ context.Context, keys []string) (map[string]int64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, timeout := s.step(); refuse || timeout {
		return nil, errFakeTimeout
	}
	out := map[string]int64{}
	for _, key := range keys {
		if o, ok := s.counters["commit/"+key]; ok {
			out[key] = o
		}
	}
	return out, nil
}

func TestKafka(t *testing.T) {
	runCases(t, []workloadCase{
		{name: "correct", wl: Kafka{}, workers: 6, ops: 150, want: models.Valid},
		{name: "flaky", wl: Kafka{}, flaky: true, workers: 6, ops: 150, want: models.Valid},
		{name: "lost sends", wl: Kafka{}, bug: "lose-send", workers: 6, ops: 150, want: models.Invalid, caught: kafka.Name, kind: kafka.LostKind},
		{name: "skipping polls", wl: Kafka{}, bug: "skip-poll", workers: 6, ops: 150, want: models.Invalid, caught: kafka.Name, kind: kafka.SkipKind},
		{name: "forgotten commits", wl: Kafka{}, bug: "forget-commit", workers: 6, ops: 150, want: models.Invalid, caught: kafka.Name, kind: kafka.CommitLostKind},
	})
}

// TestKafkaGenerator: consumers poll on from where their last poll ended,
// commit only what they consumed, and never commit an offset of a key twice
// (the generator hands commits of a key out rising; workers may record
// them in another order).
func TestKafkaGenerator(t *testing.T) {
	fromJSON, _ := simulate(t, Kafka{}, newFakeStore("", false), 4, 200)
	pos := map[history.Process]map[string]int64{}
	committed := map[string]map[int64]bool{}
	var sends, polls, commits, lists, finals int
	for _, op := range fromJSON {
		switch {
		case op.Type == history.Invoke && op.F == kafka.PollF:
			polls++
			asked, ok := kafka.Offsets(op.Value)
			if !ok || len(asked) != KafkaKeys {
				t.Fatalf("poll %d asks %v, want an offset for each of %d keys", op.Index, op.Value, KafkaKeys)
			}
			for k, o := range asked {
				if o != pos[op.Process][k] {
					t.Errorf("poll %d asks %s from %d, want %d (where process %s's last poll ended)", op.Index, k, o, pos[op.Process][k], op.Process)
				}
			}
		case op.Type == history.OK && op.F == kafka.PollF:
			msgs, _ := kafka.Msgs(op.Value)
			if pos[op.Process] == nil {
				pos[op.Process] = map[string]int64{}
			}
			for k, es := range msgs {
				if len(es) > 0 {
					pos[op.Process][k] = es[len(es)-1].Offset + 1
				}
			}
		case op.Type == history.Invoke && op.F == kafka.CommitF:
			commits++
			offs, _ := kafka.Offsets(op.Value)
			for k, o := range offs {
				if o >= pos[op.Process][k] {
					t.Errorf("commit %d of %s offset %d, but process %s consumed only up to %d", op.Index, k, o, op.Process, pos[op.Process][k]-1)
				}
				if committed[k][o] {
					t.Errorf("commit %d of %s offset %d again", op.Index, k, o)
				}
				if committed[k] == nil {
					committed[k] = map[int64]bool{}
				}
				committed[k][o] = true
			}
		case op.Type == history.Invoke && op.F == kafka.SendF:
			sends++
		case op.Type == history.Invoke && op.F == kafka.ListCommittedF:
			lists++
		case op.Type == history.OK && op.F == kafka.FinalPollF:
			finals++
		}
	}
	if sends == 0 || polls == 0 || commits == 0 || lists == 0 {
		t.Errorf("ops: %d sends, %d polls, %d commits, %d lists; want each", sends, polls, commits, lists)
	}
	if finals != 3*KafkaKeys {
		t.Errorf("%d ok final polls, want %d (each key from each of 3 nodes)", finals, 3*KafkaKeys)
	}
}
