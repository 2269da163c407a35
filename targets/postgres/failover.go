package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/faultline/faultline/harness/node"
)

// detachTime is how long the primary runs cut off from its standbys before
// it is fenced: the time a failover manager takes to notice a lost primary.
const detachTime = 2 * time.Second

// failoverTimeout bounds a failover once the old primary is dead: from then
// on it must finish, even when the run ends meanwhile, or no node takes
// writes.
const failoverTimeout = 90 * time.Second

// standbyPos is what a standby has received and replayed.
type standbyPos struct {
	name     string
	received uint64 // pg_last_wal_receive_lsn, 0 when unknown
	replayed uint64
}

// Failover replays an unplanned failover: the primary loses its standbys
// (their replication connections are dropped) while clients still reach
// it, for detachTime; then the failover manager fences it by killing it,
// promotes the standby that received the most WAL and repoints the other
// standbys to it. Commits the primary acknowledged while detached are on no
// standby: lost with replication=async, impossible with sync (they wait and
// time out). It returns the deposed and the new primary.
func (t *Target) Failover(ctx context.Context) ([]string, string, error) {
	t.ops.Lock()
	defer t.ops.Unlock()
	oldName, deposed := t.roles()
	if deposed != "" {
		return nil, "", fmt.Errorf("postgres: failover: %s has not rejoined after the last failover", deposed)
	}
	old := t.node(oldName)
	var standbys []node.Node
	for _, n := range t.nodes {
		if n.Name() != oldName {
			standbys = append(standbys, n)
		}
	}
	if len(standbys) == 0 {
		return nil, "", errors.New("postgres: failover: no standby to promote")
	}
	if t.cfg.replication == ReplicationSync {
		// A careful operator: with ANY 1 synchronous standby, a standby we
		// cannot ask may hold the only copy of acknowledged commits.
		pos := t.positions(ctx, standbys)
		var silent []string
		for _, p := range pos {
			if p.received == 0 {
				silent = append(silent, p.name)
			}
		}
		if len(silent) > 0 {
			return []string{oldName}, "", fmt.Errorf("postgres: failover refused: standby %s does not answer and may hold the newest commits", strings.Join(silent, ", "))
		}
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failoverTimeout)
	defer cancel()
	if err := node.Each(standbys, func(s node.Node) error { return t.repoint(ctx, s, nil) }); err != nil {
		t.log.Warn("postgres: failover: detaching standbys", "err", err)
	}
	time.Sleep(detachTime)
	if err := t.killAll(ctx, old); err != nil {
		return []string{oldName}, "", fmt.Errorf("postgres: failover: fence %s: %w", oldName, err)
	}
	// Once the old primary is dead the standbys' positions no longer move.
	pos := t.positions(ctx, standbys)
	best := pos[0]
	for _, p := range pos[1:] {
		if p.received > best.received {
			best = p
		}
	}
	if best.received == 0 {
		// Nobody to promote: bring the old primary back as it was.
		err := t.daemon().Start(ctx, old)
		return []string{oldName}, "", errors.Join(errors.New("postgres: failover: no standby answers; old primary restarted"), err)
	}
	nw := t.node(best.name)
	if err := promote(ctx, nw); err != nil {
		// The old primary is dead and the promotion may or may not have
		// happened; EndFailover sorts it out from what the nodes say.
		t.mu.Lock()
		t.deposed = oldName
		t.mu.Unlock()
		return []string{oldName, best.name}, "", fmt.Errorf("postgres: failover: promote %s: %w", best.name, err)
	}
	t.mu.Lock()
	t.primary, t.deposed = best.name, oldName
	t.mu.Unlock()
	var others []node.Node
	for _, s := range standbys {
		if s.Name() != best.name {
			others = append(others, s)
		}
	}
	repointErr := node.Each(others, func(s node.Node) error { return t.repoint(ctx, s, nw) })
	var lsns []string
	for _, p := range pos {
		lsns = append(lsns, fmt.Sprintf("%s=%s", p.name, fmtLSN(p.received)))
	}
	what := fmt.Sprintf("detached %s from its standbys for %s, killed it, promoted %s (received %s), repointed the rest", oldName, detachTime, best.name, strings.Join(lsns, " "))
	t.log.Info("postgres: failover", "deposed", oldName, "primary", best.name, "positions", lsns)
	return []string{oldName, best.name}, what, repointErr
}

// positions asks each standby how much WAL it has received; a standby that
// does not answer within a few seconds gets received=0.
func (t *Target) positions(ctx context.Context, standbys []node.Node) []standbyPos {
	out := make([]standbyPos, len(standbys))
	var wg sync.WaitGroup
	for i, n := range standbys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = standbyPos{name: n.Name()}
			// Generous: on a loaded machine a healthy standby may be slow.
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			conn, err := connect(cctx, n)
			if err != nil {
				return
			}
			defer conn.Close(context.WithoutCancel(ctx))
			var rec, rep pgtype.Text
			var inRecovery bool
			err = conn.QueryRow(cctx, `SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text`).Scan(&inRecovery, &rec, &rep)
			if err != nil || !inRecovery {
				return
			}
			out[i].received = parseLSN(rec.String)
			out[i].replayed = parseLSN(rep.String)
			if out[i].received < out[i].replayed {
				// A standby restarted from its own WAL has replayed more
				// than its new walreceiver has received.
				out[i].received = out[i].replayed
			}
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// parseLSN turns "16/B374D848" into a number; anything else is 0.
func parseLSN(s string) uint64 {
	var hi, lo uint64
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0
	}
	return hi<<32 | lo
}

func fmtLSN(l uint64) string { return fmt.Sprintf("%X/%X", l>>32, l&0xffffffff) }

// promote makes n a primary and waits until it takes writes.
func promote(ctx context.Context, n node.Node) error {
	cctx, cancel := context.WithTimeout(ctx, 70*time.Second)
	defer cancel()
	conn, err := connect(cctx, n)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := conn.QueryRow(cctx, `SELECT pg_promote(true, 60)`).Scan(&ok); err != nil {
		return fmt.Errorf("pg_promote: %w", err)
	}
	if !ok {
		return errors.New("pg_promote: not promoted within 60 s")
	}
	return nil
}

// repoint makes standby s stream from primary p, or from nothing when p is
// nil. It rewrites the standby's
// postgresql.auto.conf (what ALTER SYSTEM would write) and signals a
// reload, which restarts the walreceiver; this works while s is down or
// paused too (it reads the file when it starts or continues).
func (t *Target) repoint(ctx context.Context, s, p node.Node) error {
	conf := "# written by faultline: detached\nprimary_conninfo = ''\n"
	if p != nil {
		conf = standbyAutoConf(p.Addr().String(), s.Name())
	}
	if err := s.WriteFile(ctx, dataDir+"/postgresql.auto.conf", []byte(conf), 0o600); err != nil {
		return fmt.Errorf("postgres: repoint %s: %w", s.Name(), err)
	}
	script := fmt.Sprintf(`chown %[1]s:%[1]s %[2]s/postgresql.auto.conf
p=$(cat %[3]s 2>/dev/null) && kill -HUP "$p" 2>/dev/null; exit 0`, osUser, dataDir, t.daemon().PidFile())
	if _, err := s.Exec(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("postgres: repoint %s: reload: %w", s.Name(), err)
	}
	return nil
}

// EndFailover lets the deposed primary rejoin as a standby of the new one
// (a fresh base backup: its WAL may have diverged), and rebuilds any other
// standby that does not stream within a while (one that had received more
// than the promoted node cannot follow its new timeline).
func (t *Target) EndFailover(ctx context.Context) (string, error) {
	return t.rejoin(ctx)
}

func (t *Target) rejoin(ctx context.Context) (string, error) {
	t.ops.Lock()
	defer t.ops.Unlock()
	primaryName, deposed := t.roles()
	if deposed == "" {
		return "nothing to rejoin", nil
	}
	p := t.node(primaryName)
	if primaryName == deposed {
		// A failover that failed before promoting: whoever is primary now
		// according to the nodes themselves takes over; if none, restart the
		// old one as primary.
		prims, _ := t.Primaries(ctx)
		switch {
		case len(prims) == 0:
			if err := t.daemon().Start(ctx, p); err != nil {
				return "", fmt.Errorf("postgres: restart %s: %w", primaryName, err)
			}
			t.mu.Lock()
			t.deposed = ""
			t.mu.Unlock()
			return "restarted " + primaryName + " as primary", nil
		default:
			t.mu.Lock()
			t.primary = prims[0]
			t.mu.Unlock()
			p = t.node(prims[0])
			for _, s := range t.nodes {
				if s.Name() != p.Name() && s.Name() != deposed {
					_ = t.repoint(ctx, s, p)
				}
			}
		}
	}
	var did []string
	if err := t.makeStandby(ctx, t.node(deposed), p); err != nil {
		return "", fmt.Errorf("postgres: rejoin %s: %w", deposed, err)
	}
	did = append(did, fmt.Sprintf("rebuilt %s as a standby of %s", deposed, p.Name()))
	t.mu.Lock()
	t.deposed = ""
	t.mu.Unlock()
	// Give the repointed standbys time to connect; rebuild those that
	// cannot follow.
	lagging, err := t.waitStreaming(ctx, p, 20*time.Second)
	if err != nil {
		return strings.Join(did, "; "), err
	}
	for _, name := range lagging {
		if err := t.makeStandby(ctx, t.node(name), p); err != nil {
			return strings.Join(did, "; "), fmt.Errorf("postgres: rebuild %s: %w", name, err)
		}
		did = append(did, "rebuilt "+name)
	}
	return strings.Join(did, "; "), nil
}

// waitStreaming waits until every node but p streams from p and returns
// those that still do not after limit. Standbys that are not running (a
// kill fault in force) are not waited for.
func (t *Target) waitStreaming(ctx context.Context, p node.Node, limit time.Duration) ([]string, error) {
	deadline := time.Now().Add(limit)
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var missing []string
		conn, err := connect(cctx, p)
		if err == nil {
			var streaming map[string]bool
			streaming, err = streamingStandbys(cctx, conn)
			conn.Close(context.WithoutCancel(ctx))
			for _, n := range t.nodes {
				if n.Name() == p.Name() || streaming[n.Name()] {
					continue
				}
				if up, _ := t.daemon().Running(cctx, n); up {
					missing = append(missing, n.Name())
				}
			}
		}
		cancel()
		if err == nil && len(missing) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("postgres: primary %s: %w", p.Name(), err)
			}
			return missing, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
