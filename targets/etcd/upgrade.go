package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/faultline/faultline/harness/node"
)

// upgradeDefaults is the release each minor version moves to when the
// upgrade-to option is not given: etcd upgrades one minor version at a
// time, so the next minor's newest release on the Go module proxy when
// this was written, and for the newest minor the one before (a rolling
// downgrade first, an upgrade back at the stop).
var upgradeDefaults = map[int]string{5: DefaultVersion, 6: "v3.7.3", 7: DefaultVersion}

// DefaultUpgradeTo is the release the upgrade fault moves a cluster of
// version to when the upgrade-to option is not given.
func DefaultUpgradeTo(version string) string {
	if v, ok := upgradeDefaults[minorOf(version)]; ok {
		return v
	}
	return DefaultVersion
}

// minorOf is vX.Y.Z's Y, or -1.
func minorOf(version string) int {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// parseUpgradeTo checks the upgrade-to option of a cluster of version
// ("" = the default): a release faultline can build, not version itself,
// at most one minor version away (etcd upgrades and downgrades one minor
// version at a time).
func parseUpgradeTo(version, to string) (string, error) {
	if to == "" {
		to = DefaultUpgradeTo(version)
	}
	if _, err := Software(to); err != nil {
		return "", fmt.Errorf("etcd: option upgrade-to: %w", err)
	}
	if to == version {
		return "", fmt.Errorf("etcd: option upgrade-to=%s: the cluster runs %s already; name another release", to, version)
	}
	if d := minorOf(to) - minorOf(version); d > 1 || d < -1 {
		return "", fmt.Errorf("etcd: option upgrade-to=%s: etcd upgrades and downgrades one minor version at a time, and the cluster runs %s", to, version)
	}
	return to, nil
}

// UpgradeVersion implements nuker.Upgrader: the release the upgrade fault
// moves nodes to.
func (t *Target) UpgradeVersion() string { return t.upgradeTo }

// UpgradeSoftware implements nuker.Upgrader: the etcd of Software as
// /usr/local/bin/etcd and the other release's as etcd-<release> beside
// it. The first is the same build as always (cached by its recipe), so a
// run with the upgrade fault adds one build and one image, once.
func (t *Target) UpgradeSoftware() (node.Software, error) {
	sw, err := Software(t.version)
	if err != nil {
		return sw, err
	}
	other, err := Software(t.upgradeTo)
	if err != nil {
		return sw, err
	}
	b := other.Binaries[0]
	b.Name = "etcd-" + t.upgradeTo
	sw.Binaries = append(sw.Binaries, b)
	return sw, nil
}

// binaryOf is the etcd program n runs: the release it was last switched
// to.
func (t *Target) binaryOf(n node.Node) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.binaryLocked(n)
}

func (t *Target) binaryLocked(n node.Node) string {
	if v := t.versionLocked(n); v != t.version {
		return "/usr/local/bin/etcd-" + v
	}
	return "/usr/local/bin/etcd"
}

// versionOn is the release n's etcd runs (or would run when started).
func (t *Target) versionOn(n node.Node) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.versionLocked(n)
}

func (t *Target) versionLocked(n node.Node) string {
	if v, ok := t.releases[n.Name()]; ok {
		return v
	}
	return t.version
}

func (t *Target) setVersionOn(n node.Node, version string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.releases == nil {
		t.releases = map[string]string{}
	}
	t.releases[n.Name()] = version
}

// SwitchVersion implements nuker.Upgrader: for each node in turn, etcd is
// stopped (SIGTERM, as an operator stops it: a leader hands its
// leadership on), started on version with the same data and flags, and
// the cluster waited for until every node agrees on the leader and
// serves a linearizable read. Before the first node moves down a minor
// version, etcd's downgrade procedure (docs: "Downgrade etcd from v3.7 to
// v3.6") runs: `downgrade validate` and `downgrade enable` of the target
// minor version, then a wait until every member's storage version is that
// version. Before a node moves back up while a downgrade is still
// enabled, it is cancelled (`downgrade cancel`), as etcd's rollback
// advice says. etcd ends the downgrade by itself once every member runs
// the older release.
func (t *Target) SwitchVersion(ctx context.Context, nodes []node.Node, version string, moved func(n node.Node, from, to string)) ([]string, error) {
	if version != t.version && version != t.upgradeTo {
		return nil, fmt.Errorf("etcd: no release %s on the nodes (they have %s and %s)", version, t.version, t.upgradeTo)
	}
	var out []string
	prepared := false
	for _, n := range nodes {
		from := t.versionOn(n)
		if from == version {
			out = append(out, fmt.Sprintf("%s on %s already", n.Name(), version))
			continue
		}
		if t.isOut(n) {
			// A removed member (the member fault) has no process to
			// restart: it joins on version when it is added back.
			t.setProgram(n, version)
			out = append(out, fmt.Sprintf("%s is removed from the cluster: it joins on %s", n.Name(), version))
			continue
		}
		var pre string
		if !prepared {
			var err error
			if pre, err = t.prepareSwitch(ctx, version); err != nil {
				return out, err
			}
			prepared = true
		}
		began := time.Now()
		if err := t.restartOn(ctx, n, version); err != nil {
			return out, err
		}
		moved(n, from, version)
		start := time.Now()
		if err := t.WaitHealthy(ctx, memberLimit); err != nil {
			// n moved: its line says so; the roll stops here.
			out = append(out, fmt.Sprintf("%s%s from %s to %s: up in %.1fs, the cluster not healthy", pre, n.Name(), from, version, start.Sub(began).Seconds()))
			return out, fmt.Errorf("%s on %s, but: %w", n.Name(), version, err)
		}
		line := fmt.Sprintf("%s from %s to %s: up in %.1fs, cluster healthy %.1fs later", n.Name(), from, version,
			start.Sub(began).Seconds(), time.Since(start).Seconds())
		out = append(out, pre+line)
	}
	if len(out) == 0 || !t.allOn(version) {
		return out, nil
	}
	// Every member runs version: an upgrade is complete once the leader
	// has raised the cluster version, which it does on its own a few
	// seconds later. A downgrade must not begin before that, or it would
	// be taken for a partial upgrade and skip etcd's procedure.
	start := time.Now()
	err := node.Poll(ctx, memberLimit, "etcd cluster version "+version, t.log, func(ctx context.Context) error {
		cv, err := t.clusterVersion(ctx)
		if err == nil && cv != minorOf(version) {
			err = fmt.Errorf("cluster version 3.%d, not 3.%d yet", cv, minorOf(version))
		}
		return err
	})
	if err != nil {
		return out, fmt.Errorf("etcd: every member on %s, but: %w", version, err)
	}
	out[len(out)-1] += fmt.Sprintf("; cluster version 3.%d after %.1fs", minorOf(version), time.Since(start).Seconds())
	return out, nil
}

// allOn reports whether every node's etcd runs version.
func (t *Target) allOn(version string) bool {
	for _, n := range t.nodes {
		if t.versionOn(n) != version {
			return false
		}
	}
	return true
}

// prepareSwitch does what etcd asks before the first member switches to
// version: the downgrade procedure when version is a lower minor version
// than the cluster's, the cancellation of a downgrade still enabled when
// version is higher. It returns what it did, as the start of a line.
func (t *Target) prepareSwitch(ctx context.Context, version string) (string, error) {
	cv, err := t.clusterVersion(ctx)
	if err != nil {
		return "", err
	}
	cli, err := t.dialAll()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	target := fmt.Sprintf("3.%d", minorOf(version))
	switch {
	case minorOf(version) < cv:
		return t.enableDowngrade(ctx, cli, target)
	case minorOf(version) > cv:
		return "", nil // an upgrade: nothing to do first
	}
	// The same minor version as the cluster's: a downgrade to it may be
	// enabled still (a roll cut short); moving up, cancel it.
	info, err := t.downgradeInfo(ctx, cli)
	if err != nil || !info.enabled || minorOf(version) <= minorOf("v"+info.target) {
		return "", err
	}
	return t.cancelDowngrade(ctx, cli)
}

// enableDowngrade runs etcd's downgrade procedure up to the point where
// members may be replaced: a healthy cluster, `downgrade validate`,
// `downgrade enable`, every member's storage version at target.
func (t *Target) enableDowngrade(ctx context.Context, cli *clientv3.Client, target string) (string, error) {
	began := time.Now()
	if err := t.WaitHealthy(ctx, memberLimit); err != nil {
		return "", fmt.Errorf("etcd downgrade to %s: the cluster must be healthy first: %w", target, err)
	}
	info, err := t.downgradeInfo(ctx, cli)
	if err != nil {
		return "", err
	}
	if !info.enabled {
		err = node.Poll(ctx, memberLimit, "etcd downgrade enable "+target, t.log, func(ctx context.Context) error {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			if _, err := cli.Downgrade(cctx, clientv3.DowngradeValidate, target); err != nil {
				return fmt.Errorf("downgrade validate %s: %w", target, err)
			}
			if _, err := cli.Downgrade(cctx, clientv3.DowngradeEnable, target); err != nil {
				return fmt.Errorf("downgrade enable %s: %w", target, err)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("etcd: %w", err)
		}
	}
	want := target + ".0"
	err = t.waitVersions(ctx, "etcd storage version "+want, t.nodes, func(n node.Node, v Versions) error {
		if v.Storage != want {
			return fmt.Errorf("%s: storage version %s, not %s yet", n.Name(), v.Storage, want)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("etcd downgrade to %s: %w", target, err)
	}
	return fmt.Sprintf("downgrade to %s enabled, storage version %s on every member %.1fs later; ", target, want, time.Since(began).Seconds()), nil
}

// cancelDowngrade runs `downgrade cancel`.
func (t *Target) cancelDowngrade(ctx context.Context, cli *clientv3.Client) (string, error) {
	err := node.Poll(ctx, memberLimit, "etcd downgrade cancel", t.log, func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		_, err := cli.Downgrade(cctx, clientv3.DowngradeCancel, "")
		return err
	})
	if err != nil {
		return "", fmt.Errorf("etcd downgrade cancel: %w", err)
	}
	return "downgrade cancelled; ", nil
}

type downgradeState struct {
	enabled bool
	target  string // e.g. "3.6.0"
}

// downgradeInfo is the downgrade state the first member that answers
// reports. A stopped member (a roll cut short) costs its timeout, kept
// short.
func (t *Target) downgradeInfo(ctx context.Context, cli *clientv3.Client) (downgradeState, error) {
	var errs []error
	for _, ep := range cli.Endpoints() {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(cctx, ep)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.DowngradeInfo == nil {
			return downgradeState{}, nil
		}
		return downgradeState{enabled: st.DowngradeInfo.Enabled, target: st.DowngradeInfo.TargetVersion}, nil
	}
	return downgradeState{}, fmt.Errorf("etcd: downgrade status: %w", errors.Join(errs...))
}

// restartOn stops etcd on n gracefully (SIGTERM; SIGKILL after 10 s) and
// starts it on version with the same data and flags, then waits until n
// itself answers on version.
func (t *Target) restartOn(ctx context.Context, n node.Node, version string) error {
	d, err := t.Of(n)
	if err != nil {
		return err
	}
	if up, err := d.Running(ctx, n); err != nil {
		return err
	} else if up {
		_ = d.Signal(ctx, n, "TERM") // gone meanwhile: the wait below sees it
		if err := node.Poll(ctx, 10*time.Second, "etcd stop on "+n.Name(), t.log, func(ctx context.Context) error {
			if up, err := d.Running(ctx, n); err != nil || up {
				return errors.Join(err, errors.New("still running"))
			}
			return nil
		}); err != nil {
			t.log.Warn("etcd: no exit 10s after SIGTERM; killing", "node", n.Name())
			if err := d.Kill(ctx, n); err != nil {
				return err
			}
		}
	}
	t.setProgram(n, version)
	if err := t.Start(ctx, n); err != nil {
		return err
	}
	want := strings.TrimPrefix(version, "v")
	return t.waitVersions(ctx, "etcd "+version+" on "+n.Name(), []node.Node{n}, func(n node.Node, v Versions) error {
		if v.Server != want {
			return fmt.Errorf("%s answers as etcd %s, not %s", n.Name(), v.Server, want)
		}
		return nil
	})
}

// waitVersions polls, for up to memberLimit, until the /version of every
// node of nodes passes ok.
func (t *Target) waitVersions(ctx context.Context, what string, nodes []node.Node, ok func(node.Node, Versions) error) error {
	return node.Poll(ctx, memberLimit, what, t.log, func(ctx context.Context) error {
		return node.Each(nodes, func(n node.Node) error {
			v, err := t.versions(ctx, n)
			if err != nil {
				return err
			}
			return ok(n, v)
		})
	})
}

// setProgram makes version's program the one n's etcd starts with.
func (t *Target) setProgram(n node.Node, version string) {
	t.setVersionOn(n, version)
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.ByNode[n.Name()]; ok {
		d.Argv = slices.Clone(d.Argv)
		d.Argv[0] = t.binaryLocked(n)
		t.ByNode[n.Name()] = d
	}
}

func (t *Target) isOut(n node.Node) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out[n.Name()]
}

// Versions is what an etcd server's /version endpoint reports.
type Versions struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
	Storage string `json:"storage"`
}

// NodeVersions asks etcd on n for its /version: the release it runs, the
// cluster's version and its storage version.
func (t *Target) NodeVersions(ctx context.Context, n node.Node) (Versions, error) {
	return t.versions(ctx, n)
}

func (t *Target) versions(ctx context.Context, n node.Node) (Versions, error) {
	var v Versions
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(n.Addr().String(), strconv.Itoa(ClientPort)) + "/version"
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	if err != nil {
		return v, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, fmt.Errorf("%s: etcd version: %w", n.Name(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%s: etcd version: %s", n.Name(), resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("%s: etcd version: %w", n.Name(), err)
	}
	return v, nil
}

// clusterVersion is the cluster's minor version as the first node that
// answers reports it ("3.7.0": 7).
func (t *Target) clusterVersion(ctx context.Context) (int, error) {
	var errs []error
	for _, n := range t.nodes {
		v, err := t.versions(ctx, n)
		if err == nil && v.Cluster != "" && v.Cluster != "not_decided" {
			return minorOf("v" + v.Cluster), nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("etcd: no node reports the cluster version: %w", errors.Join(errs...))
}

// dialAll opens an admin client to every node.
func (t *Target) dialAll() (*clientv3.Client, error) {
	var eps []string
	for _, n := range t.nodes {
		eps = append(eps, endpoint(n))
	}
	cli, err := connectAll(eps, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	return cli, nil
}
