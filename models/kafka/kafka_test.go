package kafka

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// op builds one history entry; tests number and time them afterwards.
func op(p int, t history.Type, f, key string, v any) history.Op {
	return history.Op{Process: history.Process(p), Type: t, F: f, Key: key, Value: v}
}

// entries builds a poll's list of [offset, message] pairs from pairs of ints.
func entries(pairs ...int64) []any {
	out := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, []any{pairs[i], pairs[i+1]})
	}
	return out
}

func send(p int, key string, msg, off int64) []history.Op {
	return []history.Op{op(p, history.Invoke, SendF, key, msg), op(p, history.OK, SendF, key, []any{off, msg})}
}

func sendInfo(p int, key string, msg int64) []history.Op {
	return []history.Op{op(p, history.Invoke, SendF, key, msg), op(p, history.Info, SendF, key, msg)}
}

// poll asks key from offset (no ask when from < 0) and gets got.
func poll(p int, key string, from int64, got []any) []history.Op {
	var asked any = map[string]any{}
	if from >= 0 {
		asked = map[string]any{key: from}
	}
	return []history.Op{op(p, history.Invoke, PollF, "", asked), op(p, history.OK, PollF, "", map[string]any{key: got})}
}

func final(p int, key string, t history.Type, got []any) []history.Op {
	return []history.Op{op(p, history.Invoke, FinalPollF, key, map[string]any{key: int64(0)}), op(p, t, FinalPollF, key, map[string]any{key: got})}
}

func commit(p int, key string, off int64, t history.Type) []history.Op {
	v := map[string]any{key: off}
	return []history.Op{op(p, history.Invoke, CommitF, "", v), op(p, t, CommitF, "", v)}
}

func list(p int, key string, got map[string]any) []history.Op {
	return []history.Op{op(p, history.Invoke, ListCommittedF, "", []any{key}), op(p, history.OK, ListCommittedF, "", got)}
}

func hist(parts ...[]history.Op) []history.Op {
	var out []history.Op
	for _, p := range parts {
		out = append(out, p...)
	}
	for i := range out {
		out[i].Index, out[i].Time = int64(i), int64(10*i)
	}
	return out
}

// inv and done split a call, to interleave calls.
func inv(c []history.Op) []history.Op  { return c[:1] }
func done(c []history.Op) []history.Op { return c[1:] }

func TestChecker(t *testing.T) {
	k := "k1"
	cases := []struct {
		name string
		ops  []history.Op
		want models.Verdict
		// kinds must all be reported (only these, when exact).
		kinds []string
		exact bool
		// ops of the first anomaly (history indexes), when set.
		anomalyOps []int64
	}{
		{name: "sends polled in order", want: models.Valid, ops: hist(
			send(0, k, 1, 0), send(1, k, 2, 1),
			poll(2, k, 0, entries(0, 1, 1, 2)), poll(2, k, 2, entries()),
			final(3, k, history.OK, entries(0, 1, 1, 2)))},
		{name: "sparse offsets", want: models.Valid, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 5), poll(1, k, 0, entries(0, 1, 5, 2)), poll(1, k, 6, entries()))},
		{name: "a consumer polls on from its position", want: models.Valid, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), send(0, k, 3, 2),
			poll(1, k, 0, entries(0, 1)), poll(1, k, 1, entries(1, 2, 2, 3)), poll(1, k, 3, entries()))},
		{name: "an acknowledged send no poll reached is unseen, not lost", want: models.Valid, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), poll(1, k, 0, entries(0, 1)))},
		{name: "an info send may be lost", want: models.Valid, ops: hist(
			send(0, k, 1, 0), sendInfo(0, k, 2), final(1, k, history.OK, entries(0, 1)))},
		{name: "an info final poll read only part of the log", want: models.Valid, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), final(1, k, history.Info, entries(0, 1)), poll(2, k, 0, entries(0, 1)))},
		{name: "a final poll begun before the send completed proves nothing", want: models.Valid, ops: func() []history.Op {
			s, f := send(0, k, 2, 1), final(1, k, history.OK, entries(0, 1))
			return hist(send(0, k, 1, 0), inv(f), inv(s), done(f), done(s), poll(2, k, 0, entries(0, 1)))
		}()},
		{name: "committed offset listed", want: models.Valid, ops: hist(
			send(0, k, 1, 0), poll(0, k, 0, entries(0, 1)), commit(0, k, 0, history.OK), list(1, k, map[string]any{k: int64(0)}))},
		{name: "a later lower commit may overwrite", want: models.Valid, ops: func() []history.Op {
			low := commit(1, k, 3, history.Info)
			return hist(send(0, k, 1, 0), poll(0, k, 0, entries(0, 1)), inv(low), commit(0, k, 5, history.OK), list(2, k, map[string]any{k: int64(3)}), done(low))
		}()},
		{name: "nothing polled", want: models.Unknown, ops: hist(send(0, k, 1, 0))},
		{name: "a poll value it cannot read", want: models.Unknown, ops: hist(
			send(0, k, 1, 0), poll(1, k, 0, entries(0, 1)), []history.Op{op(1, history.Invoke, PollF, "", nil), op(1, history.OK, PollF, "", "garbage")})},

		{name: "lost: a poll read past the offset", want: models.Invalid, kinds: []string{LostKind, SkipKind}, exact: true,
			anomalyOps: []int64{3, 7}, ops: hist(
				send(0, k, 1, 0), send(0, k, 2, 1), send(0, k, 3, 2), poll(1, k, 0, entries(0, 1, 2, 3)))},
		{name: "lost: the final poll read the whole log", want: models.Invalid, kinds: []string{LostKind}, exact: true,
			anomalyOps: []int64{3, 5}, ops: hist(send(0, k, 1, 0), send(0, k, 2, 1), final(1, k, history.OK, entries(0, 1)))},
		{name: "duplicate", want: models.Invalid, kinds: []string{DuplicateKind}, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), poll(1, k, 0, entries(0, 1, 1, 2, 2, 1)))},
		{name: "inconsistent offsets between sends", want: models.Invalid, kinds: []string{InconsistentKind}, exact: true,
			anomalyOps: []int64{1, 3}, ops: hist(send(0, k, 1, 0), send(1, k, 2, 0), poll(2, "k2", 0, entries()))},
		{name: "inconsistent offsets between a send and a poll", want: models.Invalid, kinds: []string{InconsistentKind}, ops: hist(
			send(0, k, 1, 0), send(1, k, 2, 1), poll(2, k, 0, entries(0, 2)))},
		{name: "nonmonotonic within a poll", want: models.Invalid, kinds: []string{NonmonotonicPollKind}, exact: true, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), poll(1, k, 0, entries(1, 2, 0, 1)))},
		{name: "poll returned before the offset asked", want: models.Invalid, kinds: []string{NonmonotonicPollKind}, exact: true, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), poll(1, k, 0, entries(0, 1)), poll(1, k, 1, entries(0, 1, 1, 2)))},
		{name: "consumer went back (no offsets asked)", want: models.Invalid, kinds: []string{NonmonotonicPollKind}, exact: true,
			anomalyOps: []int64{5, 7}, ops: hist(
				send(0, k, 1, 0), send(0, k, 2, 1), poll(1, k, -1, entries(0, 1, 1, 2)), poll(1, k, -1, entries(1, 2)))},
		{name: "skip from the offset asked", want: models.Invalid, kinds: []string{SkipKind}, exact: true, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), send(0, k, 3, 2),
			poll(1, k, 0, entries(0, 1)), poll(1, k, 1, entries(2, 3)), poll(2, k, 0, entries(0, 1, 1, 2, 2, 3)))},
		{name: "skip inside a poll", want: models.Invalid, kinds: []string{SkipKind}, exact: true, ops: hist(
			send(0, k, 1, 0), send(0, k, 2, 1), send(0, k, 3, 2),
			poll(1, k, 0, entries(0, 1, 2, 3)), poll(2, k, 1, entries(1, 2)))},
		{name: "nonmonotonic send", want: models.Invalid, kinds: []string{NonmonotonicSendKind}, exact: true, ops: hist(
			send(0, k, 1, 3), send(0, k, 2, 1), poll(1, k, 0, entries(1, 2, 3, 1)))},
		{name: "unexpected message", want: models.Invalid, kinds: []string{UnexpectedKind}, exact: true, ops: hist(
			send(0, k, 1, 0), poll(1, k, 0, entries(0, 1, 1, 99)))},
		{name: "committed offset lost", want: models.Invalid, kinds: []string{CommitLostKind}, exact: true,
			anomalyOps: []int64{5, 7}, ops: hist(
				send(0, k, 1, 0), poll(0, k, 0, entries(0, 1)), commit(0, k, 5, history.OK), list(1, k, map[string]any{k: int64(3)}))},
		{name: "committed offset missing", want: models.Invalid, kinds: []string{CommitLostKind}, exact: true, ops: hist(
			send(0, k, 1, 0), poll(0, k, 0, entries(0, 1)), commit(0, k, 0, history.OK), list(1, k, map[string]any{}))},
		{name: "an overwritten lower commit does not explain a lower list", want: models.Invalid, kinds: []string{CommitLostKind}, exact: true, ops: hist(
			send(0, k, 1, 0), poll(0, k, 0, entries(0, 1)), commit(1, k, 3, history.OK), commit(0, k, 5, history.OK), list(2, k, map[string]any{k: int64(3)}))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := New().Check(context.Background(), tc.ops, models.Options{})
			var kinds []string
			for _, a := range res.Anomalies {
				if !slices.Contains(kinds, a.Kind) {
					kinds = append(kinds, a.Kind)
				}
				if a.Explanation == "" || len(a.Ops) == 0 {
					t.Errorf("anomaly %s names no ops or has no explanation: %+v", a.Kind, a)
				}
			}
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s (%s), want %s; anomalies %v", res.Verdict, res.Reason, tc.want, explain(res))
			}
			for _, k := range tc.kinds {
				if !slices.Contains(kinds, k) {
					t.Errorf("no %s anomaly; got %v", k, explain(res))
				}
			}
			if tc.exact && len(kinds) != len(tc.kinds) {
				t.Errorf("kinds %v, want only %v: %v", kinds, tc.kinds, explain(res))
			}
			if tc.anomalyOps != nil && len(res.Anomalies) > 0 && !slices.Equal(res.Anomalies[0].Ops, tc.anomalyOps) {
				t.Errorf("first anomaly names ops %v, want %v: %s", res.Anomalies[0].Ops, tc.anomalyOps, res.Anomalies[0].Explanation)
			}
		})
	}
}

func explain(r models.Result) string {
	var out []string
	for _, a := range r.Anomalies {
		out = append(out, a.Kind+": "+a.Explanation)
	}
	return strings.Join(out, "; ")
}

// TestMaxAnomalies: reports are bounded per kind, counts are not.
func TestMaxAnomalies(t *testing.T) {
	var parts [][]history.Op
	for i := range int64(10) {
		parts = append(parts, send(0, "k", 100+i, i), send(1, "k", 200+i, i))
	}
	parts = append(parts, poll(2, "k", 0, entries()))
	res := (&Checker{MaxAnomalies: 3}).Check(context.Background(), hist(parts...), models.Options{})
	if len(res.Anomalies) != 3 || res.Stats[InconsistentKind] != 10 {
		t.Fatalf("%d anomalies reported, %d counted; want 3 and 10", len(res.Anomalies), res.Stats[InconsistentKind])
	}
}

// TestCutShort: a done context gives unknown, never a verdict.
func TestCutShort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := New().Check(ctx, hist(send(0, "k", 1, 0), poll(1, "k", 0, entries(0, 1))), models.Options{})
	if res.Verdict != models.Unknown {
		t.Fatalf("verdict %s, want unknown", res.Verdict)
	}
}
