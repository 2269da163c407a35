package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/faultline/faultline/harness/node"
)

// memberLimit bounds each membership step's retries: a removal or an add
// is refused while the cluster lacks a quorum of healthy members (etcd's
// strict reconfiguration check), which another fault may cause for a
// while.
const memberLimit = 60 * time.Second

// callTimeout bounds one call of the Cluster API.
const callTimeout = 5 * time.Second

// RemoveMember implements nuker.MemberChanger: it removes n's member
// through the Cluster API of the other members, as `etcdctl member remove`
// does, then stops etcd on n and wipes its data. Until AddMember, Start
// leaves n down.
func (t *Target) RemoveMember(ctx context.Context, n node.Node) (string, error) {
	t.setOut(n, true)
	cli, err := t.dialOthers(n)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	var id uint64
	err = node.Poll(ctx, memberLimit, "etcd member remove "+n.Name(), t.log, func(ctx context.Context) error {
		m, _, err := memberOf(ctx, cli, n)
		if err != nil || m == nil {
			return err // nil, nil: removed by an earlier attempt whose answer was lost
		}
		id = m.ID
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		_, err = cli.MemberRemove(cctx, id)
		return err
	})
	if err != nil {
		// Still a member: let it run, AddMember finds it there.
		t.setOut(n, false)
		return "", fmt.Errorf("remove member %s: %w", n.Name(), err)
	}
	what := fmt.Sprintf("removed member %x (%s)", id, n.Name())
	if err := t.wipe(ctx, n); err != nil {
		return what, err
	}
	return what + ", stopped it and wiped its data", nil
}

// AddMember implements nuker.MemberChanger: it adds n as a new member
// (`etcdctl member add`), starts etcd on n with empty data and
// --initial-cluster-state=existing, and waits until every node agrees on
// the leader and answers a linearizable read. A member left on n by a
// RemoveMember that failed part-way is kept when its process runs, and
// replaced when it does not.
func (t *Target) AddMember(ctx context.Context, n node.Node) (string, error) {
	cli, err := t.dialOthers(n)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	var (
		id      uint64
		members []*etcdserverpb.Member
		what    string
	)
	err = node.Poll(ctx, memberLimit, "etcd member add "+n.Name(), t.log, func(ctx context.Context) error {
		m, all, err := memberOf(ctx, cli, n)
		if err != nil {
			return err
		}
		if m != nil && m.Name != "" {
			// Started before: healthy only if its process still runs.
			if running, err := t.running(ctx, n); err != nil || running {
				id, what = m.ID, fmt.Sprintf("%s is member %x already", n.Name(), m.ID)
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			if _, err := cli.MemberRemove(cctx, m.ID); err != nil {
				return err
			}
			return errors.New("removed a stopped member; adding anew")
		}
		if m == nil {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			resp, err := cli.MemberAdd(cctx, []string{peerURL(n)})
			if err != nil {
				return err
			}
			m, all = resp.Member, resp.Members
		}
		// Added (now or by an attempt whose answer was lost), not started.
		id, members = m.ID, all
		what = fmt.Sprintf("added %s as new member %x", n.Name(), m.ID)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("add member %s: %w", n.Name(), err)
	}
	if members != nil {
		if err := t.wipe(ctx, n); err != nil {
			return what, err
		}
		t.ByNode[n.Name()] = t.daemon(n, t.initialCluster(members, n), "existing")
		t.setOut(n, false)
		if err := t.Daemons.Start(ctx, n); err != nil {
			return what, err
		}
	}
	t.setOut(n, false)
	start := time.Now()
	if err := t.WaitHealthy(ctx, memberLimit); err != nil {
		return what, fmt.Errorf("member %x (%s) joined, but: %w", id, n.Name(), err)
	}
	return fmt.Sprintf("%s; cluster healthy %.1fs later", what, time.Since(start).Seconds()), nil
}

// Start starts etcd on n with its existing data, unless n's member is
// removed: another fault's undo must not bring back a removed member.
func (t *Target) Start(ctx context.Context, n node.Node) error {
	t.mu.Lock()
	out := t.out[n.Name()]
	t.mu.Unlock()
	if out {
		t.log.Info("etcd: not starting a removed member", "node", n.Name())
		return nil
	}
	return t.Daemons.Start(ctx, n)
}

func (t *Target) setOut(n node.Node, out bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.out == nil {
		t.out = map[string]bool{}
	}
	t.out[n.Name()] = out
}

func (t *Target) running(ctx context.Context, n node.Node) (bool, error) {
	d, err := t.Of(n)
	if err != nil {
		return false, err
	}
	return d.Running(ctx, n)
}

// wipe stops etcd on n and removes its data.
func (t *Target) wipe(ctx context.Context, n node.Node) error {
	if err := t.Kill(ctx, n); err != nil {
		return err
	}
	if _, err := n.Exec(ctx, "rm", "-rf", dataDir); err != nil {
		return fmt.Errorf("%s: wipe etcd data: %w", n.Name(), err)
	}
	return nil
}

// dialOthers opens an admin client to every node but n.
func (t *Target) dialOthers(n node.Node) (*clientv3.Client, error) {
	var eps []string
	for _, m := range t.nodes {
		if m.Name() != n.Name() {
			eps = append(eps, endpoint(m))
		}
	}
	cli, err := connectAll(eps, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("etcd membership: %w", err)
	}
	return cli, nil
}

// memberOf lists the members and returns n's (by its peer URL), or nil.
func memberOf(ctx context.Context, cli *clientv3.Client, n node.Node) (*etcdserverpb.Member, []*etcdserverpb.Member, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.MemberList(cctx)
	if err != nil {
		return nil, nil, fmt.Errorf("member list: %w", err)
	}
	for _, m := range resp.Members {
		if slices.Contains(m.PeerURLs, peerURL(n)) {
			return m, resp.Members, nil
		}
	}
	return nil, resp.Members, nil
}

// initialCluster is --initial-cluster for n joining members: every
// member's name and peer URLs, n's (not started, so unnamed) under n's
// name. Members not started yet are named by the node at their address.
func (t *Target) initialCluster(members []*etcdserverpb.Member, n node.Node) []string {
	var out []string
	for _, m := range members {
		name := m.Name
		for _, x := range t.nodes {
			if name == "" && slices.Contains(m.PeerURLs, peerURL(x)) {
				name = x.Name()
			}
		}
		for _, u := range m.PeerURLs {
			out = append(out, name+"="+u)
		}
	}
	return out
}
