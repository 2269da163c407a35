package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/harness/node"
)

// Preflight checks, before a run starts its cluster, that fault mechanisms
// work on this engine, in one throwaway container of the run's image
// (labelled with the run id, network "none", removed afterwards): the
// checks act exactly as the nuker later does on the nodes, through a tools
// helper when the image is a user's (see LabelToolsImage).
type Preflight struct {
	cli   *client.Client
	runID string
	image string
	id    string // the throwaway container, once started
	tools string // its tools helper, when the image needs one
}

// preflightRole labels the throwaway container (io.faultline.role).
const preflightRole = "preflight"

// preflightPidfile is where the throwaway container's shell records the
// pid of its sleeping process, the clock check's patient.
const preflightPidfile = node.RunDir + "/preflight.pid"

// StartPreflight starts the throwaway container from image; netAdmin gives
// it CAP_NET_ADMIN as the nodes have it (for the partition check), or,
// for a user's image, starts a tools helper with it in the container's
// namespaces, as StartCluster does for nodes. Close removes both.
func StartPreflight(ctx context.Context, cli *client.Client, runID, image string, netAdmin bool) (*Preflight, error) {
	p := &Preflight{cli: cli, runID: runID, image: image}
	tools, err := toolsImageOf(ctx, cli, image)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	hc := &container.HostConfig{NetworkMode: "none"}
	if netAdmin && tools == "" {
		hc.CapAdd = []string{"NET_ADMIN"}
	}
	init := true
	hc.Init = &init
	// The run's controller labels: clean keeps it while this run is live.
	labels := RunLabels(runID)
	labels[LabelRole] = preflightRole
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image: image,
			// $$ stays the pid of the sleep the shell execs.
			Cmd:    []string{"sh", "-c", "mkdir -p " + node.RunDir + " && echo $$ >" + preflightPidfile + " && exec sleep infinity"},
			Labels: labels,
		}, hc, nil, nil, runID+"-preflight")
	if err != nil {
		return nil, fmt.Errorf("preflight: create a container of %s: %w", image, err)
	}
	p.id = resp.ID
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		p.Close()
		return nil, fmt.Errorf("preflight: start a container of %s: %w", image, err)
	}
	if netAdmin && tools != "" {
		if p.tools, err = startToolsHelper(ctx, cli, runID+"-preflight"+toolsHelperSuffix, tools, resp.ID, labels); err != nil {
			p.Close()
			return nil, fmt.Errorf("preflight: %w", err)
		}
	}
	return p, nil
}

// node returns the throwaway container as a node, for Exec, with its tools
// helper when it has one.
func (p *Preflight) node() *Node {
	n := &Node{cli: p.cli, name: "preflight", id: p.id}
	if p.tools != "" {
		n.tools = &Node{cli: p.cli, name: "preflight" + toolsHelperSuffix, id: p.tools}
	}
	return n
}

// CheckIptables reports whether iptables can add a chain, a jump from
// INPUT and a DROP rule in the container's network namespace, as a
// partition does on every node: where node.ToolsOf says, as the nuker.
func (p *Preflight) CheckIptables(ctx context.Context) error {
	const script = `set -e
iptables -w -N faultline-preflight
iptables -w -I INPUT 1 -j faultline-preflight
iptables -w -A faultline-preflight -s 192.0.2.1 -j DROP
iptables -w -n -L faultline-preflight >/dev/null`
	if _, err := node.ToolsOf(p.node()).Exec(ctx, "sh", "-c", script); err != nil {
		if p.tools != "" {
			return fmt.Errorf("iptables does not work in faultline's tools helper with NET_ADMIN in the network namespace of a container of %s: %s", p.image, oneLine(err))
		}
		return fmt.Errorf("iptables does not work in a container of %s with NET_ADMIN: %s", p.image, oneLine(err))
	}
	return nil
}

// CheckPacket reports whether the packet fault's mechanisms work in the
// container's network namespace, as the nuker uses them: iptables'
// statistic match with DROP and with TEE, and a tbf qdisc (on lo: the
// throwaway container has no other interface). The container is removed
// afterwards, so nothing is undone here.
func (p *Preflight) CheckPacket(ctx context.Context) error {
	const script = `set -e
iptables -w -N faultline-preflight-pkt
iptables -w -A faultline-preflight-pkt -s 192.0.2.1 -m statistic --mode random --probability 0.5 -j DROP
iptables -w -t mangle -N faultline-preflight-pkt
iptables -w -t mangle -A faultline-preflight-pkt -d 192.0.2.1 -m statistic --mode random --probability 0.5 -j TEE --gateway 192.0.2.1
tc qdisc add dev lo root handle fa17: tbf rate 1024kbit burst 16kb latency 200ms
tc qdisc del dev lo root`
	if _, err := node.ToolsOf(p.node()).Exec(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("iptables statistic/TEE or tc tbf does not work with NET_ADMIN in the network namespace of a container of %s: %s", p.image, oneLine(err))
	}
	return nil
}

// CheckDelay reports whether the delay fault's mechanisms work in the
// container's network namespace: an iptables NFQUEUE rule with
// --queue-bypass, and a packet delayer in a delay helper that binds an
// nfnetlink queue (the kernel's nfnetlink_queue), as a delay step starts
// them. The helper is removed here; the rule goes with the container.
func (p *Preflight) CheckDelay(ctx context.Context) error {
	const script = `set -e
iptables -w -t raw -N faultline-preflight-delay
iptables -w -t raw -A faultline-preflight-delay -d 192.0.2.1 -j NFQUEUE --queue-num 1000 --queue-bypass`
	if _, err := node.ToolsOf(p.node()).Exec(ctx, "sh", "-c", script); err != nil {
		return fmt.Errorf("iptables NFQUEUE does not work with NET_ADMIN in the network namespace of a container of %s: %s", p.image, oneLine(err))
	}
	n := p.node()
	if err := n.StartDelayer(ctx, 1000, []string{"--delay", "1ms"}); err != nil {
		return fmt.Errorf("no packet delayer (nfnetlink_queue) in a container of %s: %s", p.image, oneLine(err))
	}
	if err := n.StopDelayers(ctx); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	return nil
}

// CheckClock reports whether the clock injector is at hand and may ptrace
// a process of the image: it skews the throwaway container's sleeping
// process by one second through a clock helper, as a clock fault does.
func (p *Preflight) CheckClock(ctx context.Context) error {
	if err := p.waitPidfile(ctx); err != nil {
		return err
	}
	target, err := p.cli.ContainerInspect(ctx, p.id)
	if err != nil {
		return fmt.Errorf("inspect the preflight container: %w", err)
	}
	hid, err := createClockHelper(ctx, p.cli, strings.TrimPrefix(target.Name, "/")+clockHelperSuffix, target)
	if err != nil {
		return fmt.Errorf("no clock helper: %s", oneLine(err))
	}
	defer p.remove(hid)
	h := &Node{cli: p.cli, name: "preflight" + clockHelperSuffix, id: hid}
	res, err := h.Exec(ctx, clockInjectorPath, "set", "--pidfile", "/proc/1/root"+preflightPidfile, "--offset", "1s")
	if err != nil {
		return fmt.Errorf("the clock injector cannot skew a process of %s (ptrace with CAP_SYS_PTRACE in its PID namespace): %s %s",
			p.image, oneLine(err), strings.Join(strings.Fields(string(res.Stdout)), " "))
	}
	return nil
}

// waitPidfile waits for the container's shell to write its pid file.
func (p *Preflight) waitPidfile(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.node().Exec(ctx, "test", "-s", preflightPidfile)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("preflight container of %s did not start its process: %s", p.image, oneLine(err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close removes the throwaway container and its tools helper.
func (p *Preflight) Close() {
	if p.tools != "" {
		p.remove(p.tools)
	}
	if p.id != "" {
		p.remove(p.id)
	}
}

// remove force-removes a container, also after ctx was cancelled.
func (p *Preflight) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A user's image may declare volumes: they go with the container.
	_ = p.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// oneLine says what err says on one line; a failed command is its exit
// status and standard error, not its script.
func oneLine(err error) string {
	var ee *node.ExitError
	if errors.As(err, &ee) {
		msg := fmt.Sprintf("exit status %d", ee.ExitCode)
		if s := strings.Join(strings.Fields(ee.Stderr), " "); s != "" {
			msg += ": " + s
		}
		return msg
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
