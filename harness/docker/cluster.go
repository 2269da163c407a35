package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline/faultline/harness/node"
)

// ClusterSpec says what cluster to start.
type ClusterSpec struct {
	// RunID labels every object (io.faultline.run) and prefixes names.
	RunID string
	// Image is the reference of the image every node runs.
	Image string
	// Nodes is the number of nodes, named n1..nN.
	Nodes int
}

// Cluster is a running set of containers on a private network.
type Cluster struct {
	cli     *client.Client
	runID   string
	netID   string
	nodes   []*Node
	subnet  netip.Prefix
	gateway netip.Addr
}

// Node is one container of a cluster; it implements node.Node.
type Node struct {
	cli  *client.Client
	name string
	id   string
	addr netip.Addr
	// tools is the node's tools helper (see tools.go), nil when its image
	// has faultline's tools.
	tools *Node
	// disk is the directory MountDisk mounted the disk filesystem over, ""
	// when none: the engine's archive API writes beneath that mount.
	disk string
}

var _ node.Node = (*Node)(nil)

// StartCluster creates a private bridge network with a free /24 subnet and
// one container per node with a fixed address and hostname (n1 gets .11,
// n2 .12, ...), capability NET_ADMIN only (for iptables/tc in its own
// network namespace), an init process as PID 1 and every object labelled
// with the run id. A node of an image made from a user's image (one with
// LabelToolsImage) gets no capability; a tools helper in its namespaces
// holds NET_ADMIN and the tools instead (see Node.Tools). On error,
// whatever was created is removed again.
func StartCluster(ctx context.Context, cli *client.Client, spec ClusterSpec) (_ *Cluster, err error) {
	if spec.RunID == "" {
		return nil, errors.New("a cluster needs a run id")
	}
	if spec.Nodes < 1 || spec.Nodes > 200 {
		return nil, fmt.Errorf("nodes must be between 1 and 200, got %d", spec.Nodes)
	}
	c := &Cluster{cli: cli, runID: spec.RunID}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if rerr := c.Remove(ctx); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	tools, err := toolsImageOf(ctx, cli, spec.Image)
	if err != nil {
		return nil, err
	}
	if err := c.createNetwork(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= spec.Nodes; i++ {
		n, err := c.createNode(ctx, spec.Image, i, tools == "")
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	// Start in parallel: container start is the slow part.
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cli.ContainerStart(ctx, n.id, container.StartOptions{}); err != nil {
				errs[i] = fmt.Errorf("start container %s: %w", n.name, err)
				return
			}
			if tools == "" {
				return
			}
			hid, err := startToolsHelper(ctx, cli, c.prefix()+"-"+n.name+toolsHelperSuffix, tools, n.id, c.labels())
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.name, err)
				return
			}
			n.tools = &Node{cli: cli, name: n.name + toolsHelperSuffix, id: hid, addr: n.addr}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// labels are the run id and this controller (see RunLabels), so that
// `faultline clean` in another terminal leaves the cluster alone while we run.
func (c *Cluster) labels() map[string]string { return RunLabels(c.runID) }

func (c *Cluster) prefix() string { return "faultline-" + c.runID }

// createNetwork picks a random 10.x.y.0/24 until the engine accepts one
// that overlaps nothing else.
func (c *Cluster) createNetwork(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 30; attempt++ {
		third, second := rand.IntN(256), 100+rand.IntN(100)
		subnet := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", second, third))
		gw := netip.AddrFrom4([4]byte{10, byte(second), byte(third), 1})
		resp, err := c.cli.NetworkCreate(ctx, c.prefix(), network.CreateOptions{
			Driver: "bridge",
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet: subnet.String(), Gateway: gw.String(),
			}}},
			Labels: c.labels(),
		})
		if err == nil {
			c.netID, c.subnet, c.gateway = resp.ID, subnet, gw
			return nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return fmt.Errorf("create network %s: %w", c.prefix(), lastErr)
}

// createNode creates node i of image; netAdmin gives it CAP_NET_ADMIN.
func (c *Cluster) createNode(ctx context.Context, image string, i int, netAdmin bool) (*Node, error) {
	name := fmt.Sprintf("n%d", i)
	a := c.subnet.Addr().As4()
	a[3] = byte(10 + i)
	addr := netip.AddrFrom4(a)
	init := true
	var caps []string
	if netAdmin {
		caps = []string{"NET_ADMIN"}
	}
	resp, err := c.cli.ContainerCreate(ctx,
		&container.Config{
			Hostname: name,
			Image:    image,
			Cmd:      []string{"sleep", "infinity"},
			Labels:   c.labels(),
			Env:      []string{"FAULTLINE_NODE=" + name},
		},
		&container.HostConfig{
			CapAdd: caps,
			Init:   &init,
			// The DB's own data lives in the container; nothing is mounted
			// from the host, so removal leaves nothing behind.
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			c.prefix(): {
				IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: addr.String()},
				Aliases:    []string{name},
			},
		}},
		nil, c.prefix()+"-"+name)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", name, err)
	}
	return &Node{cli: c.cli, name: name, id: resp.ID, addr: addr}, nil
}

// Nodes returns the cluster's nodes in order n1..nN.
func (c *Cluster) Nodes() []node.Node {
	out := make([]node.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n
	}
	return out
}

// Gateway is the controller's address on the cluster network.
func (c *Cluster) Gateway() netip.Addr { return c.gateway }

// Remove deletes the cluster's containers and network. It is safe to call
// more than once and on a partly created cluster.
func (c *Cluster) Remove(ctx context.Context) error {
	return Clean(ctx, c.cli, c.runID)
}

// Leftover is an object a run left behind.
type Leftover struct {
	Kind, Name, RunID string
}

// List returns containers and networks labelled with runID, or with any run
// id when runID is empty.
func List(ctx context.Context, cli *client.Client, runID string) ([]Leftover, error) {
	f := filters.NewArgs(filters.Arg("label", labelFilter(runID)))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []Leftover
	for _, ct := range cs {
		name := ct.ID[:12]
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		out = append(out, Leftover{"container", name, ct.Labels[LabelRun]})
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		out = append(out, Leftover{"network", n.Name, n.Labels[LabelRun]})
	}
	return out, nil
}

func labelFilter(runID string) string {
	if runID == "" {
		return LabelRun
	}
	return LabelRun + "=" + runID
}

// Clean force-removes every container and network labelled with runID,
// live or not: it is for the run's own controller (and `clean --force`).
// Other runs are never touched: an empty runID is an error.
func Clean(ctx context.Context, cli *client.Client, runID string) error {
	_, err := CleanList(ctx, cli, runID)
	return err
}

// CleanList is Clean returning the removed objects.
func CleanList(ctx context.Context, cli *client.Client, runID string) ([]Leftover, error) {
	if runID == "" {
		return nil, errors.New("remove a run's objects: no run id")
	}
	f := filters.NewArgs(filters.Arg("label", labelFilter(runID)))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
		out  []Leftover
	)
	for _, ct := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !client.IsErrNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", ct.ID[:12], err))
				return
			}
			name := ct.ID[:12]
			if len(ct.Names) > 0 {
				name = strings.TrimPrefix(ct.Names[0], "/")
			}
			out = append(out, Leftover{"container", name, ct.Labels[LabelRun]})
		}()
	}
	wg.Wait()
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return out, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		out = append(out, Leftover{"network", n.Name, n.Labels[LabelRun]})
	}
	return out, errors.Join(errs...)
}

// Name is the node's name (n1, n2, ...), also its hostname.
func (n *Node) Name() string { return n.name }

// Addr is the node's fixed address on the cluster network.
func (n *Node) Addr() netip.Addr { return n.addr }

// ContainerID is the Docker id of the node's container.
func (n *Node) ContainerID() string { return n.id }

// Exec runs argv in the container as root and waits for it.
func (n *Node) Exec(ctx context.Context, argv ...string) (node.ExecResult, error) {
	var res node.ExecResult
	ex, err := n.cli.ContainerExecCreate(ctx, n.id, container.ExecOptions{
		Cmd: argv, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return res, fmt.Errorf("%s: exec %q: %w", n.name, strings.Join(argv, " "), err)
	}
	att, err := n.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return res, fmt.Errorf("%s: exec attach: %w", n.name, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return res, fmt.Errorf("%s: exec %q: read output: %w", n.name, strings.Join(argv, " "), err)
		}
	case <-ctx.Done():
		return res, fmt.Errorf("%s: exec %q: %w", n.name, strings.Join(argv, " "), ctx.Err())
	}
	insp, err := n.cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return res, fmt.Errorf("%s: exec inspect: %w", n.name, err)
	}
	res = node.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: insp.ExitCode}
	if insp.ExitCode != 0 {
		return res, &node.ExitError{Node: n.name, Argv: argv, ExitCode: insp.ExitCode, Stderr: stderr.String() + stdout.String()}
	}
	return res, nil
}

// ExecDetached starts argv in the container without waiting for it.
func (n *Node) ExecDetached(ctx context.Context, argv ...string) error {
	ex, err := n.cli.ContainerExecCreate(ctx, n.id, container.ExecOptions{Cmd: argv})
	if err != nil {
		return fmt.Errorf("%s: exec %q: %w", n.name, strings.Join(argv, " "), err)
	}
	if err := n.cli.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}); err != nil {
		return fmt.Errorf("%s: exec start %q: %w", n.name, strings.Join(argv, " "), err)
	}
	return nil
}

// WriteFile writes data to p in the container. Under the disk
// filesystem's mount the engine's archive API would write to the hidden
// directory beneath it, so the file is staged in /tmp and copied into
// place by a command in the node, then synced: a file faultline wrote
// stands for one installed long before, which a power failure keeps.
func (n *Node) WriteFile(ctx context.Context, p string, data []byte, mode int64) error {
	dir := path.Dir(p)
	if _, err := n.Exec(ctx, "mkdir", "-p", dir); err != nil {
		return err
	}
	name := path.Base(p)
	mounted := n.disk != "" && (dir == n.disk || strings.HasPrefix(dir, n.disk+"/"))
	if mounted {
		dir, name = "/tmp", fmt.Sprintf(".faultline-write-%d-%s", rand.Uint64(), name)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := n.cli.CopyToContainer(ctx, n.id, dir, &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%s: write %s: %w", n.name, p, err)
	}
	if mounted {
		staged := path.Join(dir, name)
		if _, err := n.Exec(ctx, "sh", "-c", `cat "$1" > "$2" && chmod "$3" "$2" && sync "$2" && rm -f "$1"`,
			"sh", staged, p, strconv.FormatInt(mode&0o7777, 8)); err != nil {
			return fmt.Errorf("%s: write %s: %w", n.name, p, err)
		}
	}
	return nil
}

// CopyOut copies src (file or directory) from the container into dst.
func (n *Node) CopyOut(ctx context.Context, src, dst string) error {
	rc, _, err := n.cli.CopyFromContainer(ctx, n.id, src)
	if err != nil {
		return fmt.Errorf("%s: copy %s: %w", n.name, src, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: copy %s: %w", n.name, src, err)
		}
		target := filepath.Join(dst, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.Create(target)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(f, tr)
			if err := errors.Join(cerr, f.Close()); err != nil {
				return fmt.Errorf("%s: copy %s: %w", n.name, h.Name, err)
			}
		}
	}
}

// Reach is one line per node: its address and a shell in its container.
func (c *Cluster) Reach() []string {
	lines := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		lines[i] = fmt.Sprintf("%s %s: docker exec -it %s-%s bash", n.name, n.addr, c.prefix(), n.name)
	}
	return lines
}

// Describe is one line for people: "3 containers on 10.167.199.1".
func (c *Cluster) Describe() string {
	return fmt.Sprintf("%d containers on %s", len(c.nodes), c.gateway)
}
