// Package bank checks histories of Jepsen's bank test: clients transfer
// amounts between a fixed set of accounts and read every balance at once.
//
// The workload comes from Jepsen: introduced in the 2015 analysis of
// MariaDB Galera Cluster (aphyr.com/posts/327-call-me-maybe-mariadb-galera-cluster,
// where transfers created and destroyed money) and kept as jepsen.tests.bank
// for many SQL databases since. A transfer is one transaction that reads
// both balances, refuses to overdraw (unless negative balances are allowed)
// and writes both; a read is one transaction that reads every account.
// Under snapshot isolation, and so under serializability, every read sees a
// state after a whole number of transfers, so:
//
//   - every ok read totals the same amount (the money the test started
//     with); a read that totals less or more saw part of a transfer, or a
//     transfer lost or duplicated an update: read skew, a lost update or a
//     non-atomic commit;
//   - no balance is negative: two transfers that both passed the overdraft
//     check on the same snapshot wrote the same account, a lost update that
//     snapshot isolation's first-committer-wins rule forbids;
//   - a read shows only the test's accounts, each with a balance.
//
// Ops: F "transfer" with value {from, to, amount} (keyword or string keys,
// as EDN and JSON give them; accounts integers or strings) or [from to
// amount]; F "read" whose ok value maps each account to its balance: an
// EDN map {0 10, 1 90} (it arrives with string keys "0", "1", which are
// the integers 0 and 1 here), a JSON object, any Go map, or a list of
// [account balance] pairs.
//
// Like Jepsen's checker, only ok reads are judged (a fail or info read
// returned nothing to judge); transfers are counted and name the accounts
// when those are not configured. The total, when not configured, is the
// total of the first well-formed ok read, and the result says so.
package bank

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/history"
)

// Name is the checker's and the model's name.
const Name = "bank"

// Kinds of the anomalies this checker reports, one per read and kind.
const (
	// WrongTotalKind: an ok read's balances do not add up to the total.
	WrongTotalKind = "wrong-total"
	// NegativeBalanceKind: an ok read shows a negative balance.
	NegativeBalanceKind = "negative-balance"
	// UnknownAccountKind: an ok read shows an account that is not one of
	// the test's.
	UnknownAccountKind = "unknown-account"
	// NilBalanceKind: an ok read shows an account without a balance.
	NilBalanceKind = "nil-balance"
)

// DefaultMaxAnomalies bounds the anomalies reported per kind when
// Checker.MaxAnomalies is zero; Stats count them all.
const DefaultMaxAnomalies = 100

// Checker checks a bank history. The zero value infers the total from the
// first ok read and the accounts from that read and the transfers, and
// forbids negative balances.
type Checker struct {
	// Total, when not nil, is what every ok read must total (Jepsen's
	// :total-amount). When nil it is the total of the first well-formed ok
	// read, and Properties["total_source"] says which.
	Total *int64
	// Accounts, when not nil, are the only accounts a read may show, as
	// strings (an integer account 3 is "3"). When nil they are the accounts
	// of the first well-formed ok read and of every transfer.
	Accounts []string
	// NegativeAllowed permits negative balances (Jepsen's
	// :negative-balances?), for workloads that do not check for overdraft.
	NegativeAllowed bool
	// MaxAnomalies bounds the anomalies reported per kind:
	// DefaultMaxAnomalies when zero, no bound when negative.
	MaxAnomalies int
}

// New returns a checker that infers the total and the accounts.
func New() *Checker { return &Checker{} }

// NewWithTotal returns a checker that requires every ok read to total
// total; accounts, when given, are the only accounts a read may show.
func NewWithTotal(total int64, accounts ...string) *Checker {
	return &Checker{Total: &total, Accounts: accounts}
}

// Models lists the model of this package for the catalog.
func Models() models.Registry {
	return models.Registry{
		Name: {
			Summary: "Jepsen bank: every ok read of all accounts totals the same amount, no balance is negative, no unknown account (snapshot isolation)",
			New:     func() models.Checker { return New() },
		},
	}
}

var _ models.Checker = (*Checker)(nil)

// Name returns "bank".
func (c *Checker) Name() string { return Name }

func (c *Checker) maxAnomalies() int {
	switch {
	case c.MaxAnomalies == 0:
		return DefaultMaxAnomalies
	case c.MaxAnomalies < 0:
		return int(^uint(0) >> 1)
	}
	return c.MaxAnomalies
}

// account is an account id: an integer, or a string that is not one. EDN
// maps arrive with their keys as strings ({0 10} becomes {"0": 10}) while
// transfers keep integers, so integer-looking strings are integers.
type account struct {
	n     int64
	s     string
	isStr bool
}

func (a account) String() string {
	if a.isStr {
		return a.s
	}
	return strconv.FormatInt(a.n, 10)
}

func compareAccounts(a, b account) int {
	switch {
	case a.isStr != b.isStr:
		if a.isStr {
			return 1
		}
		return -1
	case a.isStr:
		return strings.Compare(a.s, b.s)
	}
	return cmp.Compare(a.n, b.n)
}

func accountOf(v any) (account, bool) {
	switch x := v.(type) {
	case string:
		return accountString(x), true
	case nil, bool, []any, map[string]any:
		return account{}, false
	}
	if n, ok := history.Int(v); ok {
		return account{n: n}, true
	}
	if n, ok := reflectInt(v); ok {
		return account{n: n}, true
	}
	return account{}, false
}

func accountString(s string) account {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && strconv.FormatInt(n, 10) == s {
		return account{n: n}
	}
	return account{s: s, isStr: true}
}

// reflectInt reads integers of the Go types history.Int does not know
// (histories built in Go, e.g. map[uint8]int16).
func reflectInt(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= 1<<63-1 {
			return int64(u), true
		}
	}
	return 0, false
}

// balanceOf reads a balance: an integer, or nil (absent) with ok.
func balanceOf(v any) (n int64, isNil, ok bool) {
	if v == nil {
		return 0, true, true
	}
	if n, ok := history.Int(v); ok {
		return n, false, true
	}
	if s, isStr := v.(string); isStr {
		// Some clients print numeric columns as strings.
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, false, true
		}
		return 0, false, false
	}
	n, ok = reflectInt(v)
	return n, false, ok
}

// eachEntry calls fn for every account and balance of a read's value: a
// map (EDN and JSON give map[string]any; Go-built histories any map type)
// or a list of [account balance] pairs. It fails on any other shape.
func eachEntry(v any, fn func(a account, bal any) error) error {
	switch m := v.(type) {
	case map[string]any:
		for k, b := range m {
			if err := fn(accountString(k), b); err != nil {
				return err
			}
		}
		return nil
	case map[int64]int64:
		for k, b := range m {
			if err := fn(account{n: k}, b); err != nil {
				return err
			}
		}
		return nil
	case map[int]int:
		for k, b := range m {
			if err := fn(account{n: int64(k)}, b); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for _, e := range m {
			pair, ok := e.([]any)
			if !ok || len(pair) != 2 {
				return fmt.Errorf("%s is not an [account balance] pair", show(e))
			}
			a, ok := accountOf(pair[0])
			if !ok {
				return fmt.Errorf("account %s is neither an integer nor a string", show(pair[0]))
			}
			if err := fn(a, pair[1]); err != nil {
				return err
			}
		}
		return nil
	case nil:
		return fmt.Errorf("no balances (nil)")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return fmt.Errorf("%s is not a map of account to balance", show(v))
	}
	it := rv.MapRange()
	for it.Next() {
		a, ok := accountOf(it.Key().Interface())
		if !ok {
			return fmt.Errorf("account %s is neither an integer nor a string", show(it.Key().Interface()))
		}
		if err := fn(a, it.Value().Interface()); err != nil {
			return err
		}
	}
	return nil
}

// transferAccounts reads a transfer's accounts: a map with from and to
// (keyword or string keys, as EDN and JSON give them), or a [from to
// amount] list.
func transferAccounts(v any) (from, to account, err error) {
	var fv, tv any
	switch x := v.(type) {
	case map[string]any:
		var okF, okT bool
		fv, okF = x["from"]
		tv, okT = x["to"]
		if !okF || !okT {
			return from, to, fmt.Errorf("transfer %s lacks from or to", show(v))
		}
	case []any:
		if len(x) != 3 {
			return from, to, fmt.Errorf("transfer %s is not {from, to, amount}", show(v))
		}
		fv, tv = x[0], x[1]
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Struct {
			f, t := rv.FieldByName("From"), rv.FieldByName("To")
			if f.IsValid() && t.IsValid() {
				fv, tv = f.Interface(), t.Interface()
				break
			}
		}
		return from, to, fmt.Errorf("transfer %s is not {from, to, amount}", show(v))
	}
	var ok bool
	if from, ok = accountOf(fv); !ok {
		return from, to, fmt.Errorf("transfer from %s: not an account", show(fv))
	}
	if to, ok = accountOf(tv); !ok {
		return from, to, fmt.Errorf("transfer to %s: not an account", show(tv))
	}
	return from, to, nil
}

func show(v any) string {
	if v == nil {
		return "nil"
	}
	var s string
	if n, ok := v.(json.Number); ok {
		s = n.String()
	} else {
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// run is the state of one check.
type run struct {
	c      *Checker
	ops    []history.Op
	max    int
	res    models.Result
	kinds  map[string]int // anomalies found per kind (all, not only reported)
	known  map[account]bool
	nKnown int
	total  int64
	hasTot bool // total configured or inferred

	// scratch, reused from read to read
	seen []account
	negs []entry
	unk  []account
	nils []account
	ents []entry
}

type entry struct {
	a   account
	bal int64
}

// Check checks ops, given in history order. It never fails: malformed ops
// make the verdict unknown (unless an anomaly makes it invalid), as does an
// exhausted context or a history without an ok read. Stats: reads (ok reads
// judged), bad_reads, one count per anomaly kind, malformed, transfers
// (invoked), transfers_ok, transfers_failed, transfers_indeterminate
// (info or never completed), accounts, and lowest_total and highest_total
// when some total was wrong. Properties: total, total_source, accounts
// (when at most 20), accounts_source, negative_balances, and violates when
// a read contradicts snapshot isolation.
func (c *Checker) Check(ctx context.Context, ops []history.Op, opt models.Options) models.Result {
	start := time.Now()
	res := c.check(ctx, ops)
	res.DurationNS = time.Since(start).Nanoseconds()
	return res
}

// checkEvery is how many ops pass between looks at the context.
const checkEvery = 1 << 14

func (c *Checker) check(ctx context.Context, ops []history.Op) models.Result {
	r := &run{
		c:     c,
		ops:   ops,
		max:   c.maxAnomalies(),
		res:   models.Result{Checker: Name, Model: Name, Stats: map[string]int64{}, Properties: map[string]string{}},
		kinds: map[string]int{},
	}
	stats := r.res.Stats
	for _, k := range []string{"reads", "bad_reads", "transfers", "transfers_ok", "transfers_failed"} {
		stats[k] = 0
	}

	// Pass 1: pair invocations with completions, count transfers, collect
	// the accounts transfers name and find the first well-formed ok read.
	pending := map[history.Process]int{}
	var reads []readRef
	transferAccts := map[account]bool{}
	var malformed []string
	firstRead := -1
	for pos, op := range ops {
		if pos%checkEvery == 0 && ctx.Err() != nil {
			return r.stopped(ctx, pos)
		}
		if !op.IsClient() || !op.Type.Valid() {
			continue
		}
		if op.Type == history.Invoke {
			if op.F == "transfer" {
				stats["transfers"]++
				if c.Accounts == nil {
					from, to, err := transferAccounts(op.Value)
					if err != nil {
						malformed = append(malformed, fmt.Sprintf("op %d: %v", op.Index, err))
					} else {
						transferAccts[from], transferAccts[to] = true, true
					}
				}
			}
			pending[op.Process] = pos
			continue
		}
		inv, ok := pending[op.Process]
		if ok {
			delete(pending, op.Process)
		} else {
			inv = -1
		}
		switch op.F {
		case "transfer":
			switch op.Type {
			case history.OK:
				stats["transfers_ok"]++
			case history.Fail:
				stats["transfers_failed"]++
			}
		case "read":
			if op.Type != history.OK {
				continue
			}
			if firstRead < 0 && wellFormed(op.Value) {
				firstRead = pos
			}
			reads = append(reads, readRef{inv: inv, done: pos})
		}
	}
	stats["transfers_indeterminate"] = stats["transfers"] - stats["transfers_ok"] - stats["transfers_failed"]

	// The accounts and the total.
	r.known = map[account]bool{}
	if c.Accounts != nil {
		for _, s := range c.Accounts {
			r.known[accountString(s)] = true
		}
		r.res.Properties["accounts_source"] = "configured"
	} else {
		for a := range transferAccts {
			r.known[a] = true
		}
		if firstRead >= 0 {
			_ = eachEntry(ops[firstRead].Value, func(a account, _ any) error {
				r.known[a] = true
				return nil
			})
		}
		r.res.Properties["accounts_source"] = "inferred from the first well-formed ok read and the transfers"
	}
	r.nKnown = len(r.known)
	stats["accounts"] = int64(r.nKnown)
	if r.nKnown <= 20 {
		names := make([]account, 0, r.nKnown)
		for a := range r.known {
			names = append(names, a)
		}
		slices.SortFunc(names, compareAccounts)
		r.res.Properties["accounts"] = joinAccounts(names)
	}
	switch {
	case c.Total != nil:
		r.total = *c.Total
		r.res.Properties["total_source"] = "configured"
	case firstRead >= 0:
		_ = eachEntry(ops[firstRead].Value, func(_ account, bal any) error {
			n, _, _ := balanceOf(bal)
			r.total += n
			return nil
		})
		r.res.Properties["total_source"] = fmt.Sprintf("inferred from the first well-formed ok read (op %d)", ops[firstRead].Index)
	}
	r.hasTot = c.Total != nil || firstRead >= 0
	if r.hasTot {
		r.res.Properties["total"] = strconv.FormatInt(r.total, 10)
	}
	if c.NegativeAllowed {
		r.res.Properties["negative_balances"] = "allowed"
	} else {
		r.res.Properties["negative_balances"] = "forbidden"
	}

	// Pass 2: judge every ok read.
	var lowest, highest int64
	wrong := false
	for i, rd := range reads {
		if i%checkEvery == 0 && ctx.Err() != nil {
			return r.stopped(ctx, rd.done)
		}
		tot, bad, err := r.checkRead(rd)
		if err != nil {
			malformed = append(malformed, fmt.Sprintf("read at op %d: %v", ops[rd.done].Index, err))
			continue
		}
		stats["reads"]++
		if bad {
			stats["bad_reads"]++
		}
		if tot.wrong {
			if !wrong || tot.sum < lowest {
				lowest = tot.sum
			}
			if !wrong || tot.sum > highest {
				highest = tot.sum
			}
			wrong = true
		}
	}
	for _, k := range []string{WrongTotalKind, NegativeBalanceKind, UnknownAccountKind, NilBalanceKind} {
		stats[statName(k)] = int64(r.kinds[k])
	}
	if wrong {
		stats["lowest_total"], stats["highest_total"] = lowest, highest
	}
	stats["malformed"] = int64(len(malformed))
	if r.kinds[WrongTotalKind] > 0 || r.kinds[NegativeBalanceKind] > 0 {
		r.res.Properties["violates"] = "snapshot-isolation,serializable"
	}
	r.verdict(malformed)
	return r.res
}

type readRef struct{ inv, done int }

type totalInfo struct {
	sum   int64
	wrong bool
}

func statName(kind string) string { return strings.ReplaceAll(kind, "-", "_") }

// wellFormed reports whether v is a read value with a balance for every
// account, fit to infer the total and accounts from.
func wellFormed(v any) bool {
	n := 0
	err := eachEntry(v, func(_ account, bal any) error {
		if _, isNil, ok := balanceOf(bal); !ok || isNil {
			return fmt.Errorf("bad balance")
		}
		n++
		return nil
	})
	return err == nil && n > 0
}

// checkRead judges one ok read and records its anomalies.
func (r *run) checkRead(rd readRef) (totalInfo, bool, error) {
	op := r.ops[rd.done]
	r.ents, r.negs, r.unk, r.nils, r.seen = r.ents[:0], r.negs[:0], r.unk[:0], r.nils[:0], r.seen[:0]
	var sum int64
	err := eachEntry(op.Value, func(a account, bal any) error {
		n, isNil, ok := balanceOf(bal)
		if !ok {
			return fmt.Errorf("balance %s of account %s is not an integer", show(bal), a)
		}
		if !r.known[a] {
			r.unk = append(r.unk, a)
		} else {
			r.seen = append(r.seen, a)
		}
		if isNil {
			r.nils = append(r.nils, a)
			return nil
		}
		r.ents = append(r.ents, entry{a, n})
		sum += n
		if n < 0 {
			r.negs = append(r.negs, entry{a, n})
		}
		return nil
	})
	if err != nil {
		return totalInfo{}, false, err
	}
	// Maps iterate in random order: sort what sentences list.
	byAccount := func(x, y entry) int { return compareAccounts(x.a, y.a) }
	bad := false
	tot := totalInfo{sum: sum}
	if len(r.unk) > 0 {
		bad = true
		slices.SortFunc(r.unk, compareAccounts)
		what := "account " + r.unk[0].String() + ", which is"
		if len(r.unk) > 1 {
			what = "accounts " + joinAccounts(r.unk) + ", which are"
		}
		r.add(UnknownAccountKind, rd, fmt.Sprintf("%s shows %s not one of the test's %d accounts", r.readName(rd), what, r.nKnown))
	}
	if len(r.nils) > 0 {
		bad = true
		slices.SortFunc(r.nils, compareAccounts)
		what := "account " + r.nils[0].String()
		if len(r.nils) > 1 {
			what = "accounts " + joinAccounts(r.nils)
		}
		r.add(NilBalanceKind, rd, fmt.Sprintf("%s shows no balance (nil) for %s", r.readName(rd), what))
	} else if r.hasTot && sum != r.total {
		// A nil balance leaves the total unknown: judge it only without.
		bad, tot.wrong = true, true
		diff := sum - r.total
		how := fmt.Sprintf("%d missing", -diff)
		if diff > 0 {
			how = fmt.Sprintf("%d extra, money created", diff)
		}
		expl := fmt.Sprintf("%s totals %d, not %d: %s", r.readName(rd), sum, r.total, how)
		if absent := r.absent(); absent != "" {
			expl += "; " + absent
		}
		if len(r.ents) <= 10 {
			slices.SortFunc(r.ents, byAccount)
			expl += " (" + showEntries(r.ents) + ")"
		}
		r.add(WrongTotalKind, rd, expl)
	}
	if len(r.negs) > 0 && !r.c.NegativeAllowed {
		bad = true
		slices.SortFunc(r.negs, byAccount)
		var parts []string
		for _, e := range r.negs {
			parts = append(parts, fmt.Sprintf("account %s at %d", e.a, e.bal))
		}
		r.add(NegativeBalanceKind, rd, fmt.Sprintf("%s shows %s: a negative balance, which transfers refuse to make", r.readName(rd), strings.Join(parts, ", ")))
	}
	return tot, bad, nil
}

// absent names the known accounts a read lacks, when it lacks some.
func (r *run) absent() string {
	if len(r.seen) >= r.nKnown {
		return ""
	}
	present := make(map[account]bool, len(r.seen))
	for _, a := range r.seen {
		present[a] = true
	}
	var missing []account
	for a := range r.known {
		if !present[a] {
			missing = append(missing, a)
		}
	}
	slices.SortFunc(missing, compareAccounts)
	if len(missing) == 1 {
		return "account " + missing[0].String() + " is absent from the read"
	}
	if len(missing) > 10 {
		return fmt.Sprintf("%d accounts are absent from the read", len(missing))
	}
	return "accounts " + joinAccounts(missing) + " are absent from the read"
}

func (r *run) readName(rd readRef) string {
	op := r.ops[rd.done]
	return fmt.Sprintf("Read at op %d (process %v)", op.Index, op.Process)
}

func (r *run) add(kind string, rd readRef, expl string) {
	r.kinds[kind]++
	if r.kinds[kind] > r.max {
		return
	}
	done := r.ops[rd.done]
	a := models.Anomaly{Kind: kind, Ops: []int64{done.Index}, Explanation: expl, Time: done.Time}
	if rd.inv >= 0 {
		inv := r.ops[rd.inv]
		a.Ops = []int64{inv.Index, done.Index}
		a.Time = inv.Time
	}
	r.res.Anomalies = append(r.res.Anomalies, a)
}

// verdict sets the verdict and the reason.
func (r *run) verdict(malformed []string) {
	res := &r.res
	var parts []string
	if n := len(res.Anomalies); n > 0 {
		res.Verdict = models.Invalid
		var counts []string
		for _, k := range []string{WrongTotalKind, NegativeBalanceKind, UnknownAccountKind, NilBalanceKind} {
			if r.kinds[k] > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", r.kinds[k], k))
			}
		}
		parts = append(parts, fmt.Sprintf("%d of %d ok reads are wrong (%s); first: %s",
			res.Stats["bad_reads"], res.Stats["reads"], strings.Join(counts, ", "), firstAnomaly(res.Anomalies).Explanation))
	}
	if len(malformed) > 0 {
		shown := malformed
		if len(shown) > 3 {
			shown = append(shown[:3:3], "...")
		}
		parts = append(parts, fmt.Sprintf("%d malformed ops not judged: %s", len(malformed), strings.Join(shown, "; ")))
	}
	switch {
	case res.Verdict == models.Invalid:
	case len(malformed) > 0:
		res.Verdict = models.Unknown
	case res.Stats["reads"] == 0:
		res.Verdict = models.Unknown
		parts = append(parts, "no ok read to check")
	default:
		res.Verdict = models.Valid
	}
	res.Reason = strings.Join(parts, "; ")
}

// firstAnomaly returns the anomaly earliest in the history.
func firstAnomaly(as []models.Anomaly) models.Anomaly {
	return slices.MinFunc(as, func(a, b models.Anomaly) int {
		return cmp.Compare(a.Ops[len(a.Ops)-1], b.Ops[len(b.Ops)-1])
	})
}

func (r *run) stopped(ctx context.Context, pos int) models.Result {
	res := models.Result{Checker: Name, Model: Name, Verdict: models.Unknown}
	res.Reason = fmt.Sprintf("bank check stopped at op %d of %d: %v", pos, len(r.ops), context.Cause(ctx))
	return res
}

func joinAccounts(as []account) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}

func showEntries(es []entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.a.String() + ": " + strconv.FormatInt(e.bal, 10)
	}
	return strings.Join(parts, ", ")
}
