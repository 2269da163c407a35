package docker

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker/disk/diskcmd"
)

// Disk faults in Docker: a helper container per node shares the node's PID
// namespace (PidMode container:<id>), holds CAP_SYS_ADMIN (and SYS_PTRACE)
// and /dev/fuse, and
// runs "faultline-disk serve" (nuker/disk/diskcmd), which moves the node's
// data directory aside (to DIR.faultline, reached through /proc/1/root) and
// mounts the faultline filesystem over DIR inside the node's own mount
// namespace, from a thread that joined it. The node container gains no
// capability and no device: only the helper's process can mount, and the
// mount is all the node sees of it. The helper's binary is faultline itself
// (or a static faultline-disk) bind-mounted read-only, as for the clock
// helper. Stopping the helper (SIGTERM) unmounts; removing the node removes
// the mount with its namespace.

// diskHelperSuffix ends a disk helper's container name: <node container>-disk.
const diskHelperSuffix = "-disk"

// diskHelperRole is the disk helpers' LabelRole.
const diskHelperRole = "disk-helper"

// diskServerPath is where the disk program lives in a helper container.
const diskServerPath = "/usr/local/bin/faultline-disk"

// diskControl is the helper's control socket (inside the helper).
const diskControl = "/run/faultline-disk.sock"

// EnvDiskServer names a static linux/amd64 faultline or faultline-disk to
// run in disk helpers instead of this executable.
const EnvDiskServer = "FAULTLINE_DISK_SERVER"

// DiskServer returns the path of a linux/amd64 binary that acts as
// faultline-disk in a helper: $FAULTLINE_DISK_SERVER, this executable when
// it is faultline and runs on the nodes, or one built from faultline's
// source tree (cached like the clock injector).
func DiskServer(ctx context.Context, progress node.Progress) (string, error) {
	if p := os.Getenv(EnvDiskServer); p != "" {
		p, err := filepath.Abs(p)
		if err == nil {
			err = checkHelperExecutable(p, nodeGlibc())
		}
		if err != nil {
			return "", fmt.Errorf("disk server from $%s: %w", EnvDiskServer, err)
		}
		return p, nil
	}
	exe, err := os.Executable()
	if err == nil {
		var bi *buildinfo.BuildInfo
		if bi, err = buildinfo.ReadFile(exe); err == nil && bi.Path == "github.com/faultline/faultline/cmd/faultline" {
			if err = checkHelperExecutable(exe, nodeGlibc()); err == nil {
				return exe, nil
			}
		}
	}
	root, rootErr := moduleRoot()
	if rootErr != nil {
		return "", fmt.Errorf("disk server: this executable cannot serve (%v) and faultline's source tree is not here: "+
			"rebuild faultline static (CGO_ENABLED=0) or set $%s", err, EnvDiskServer)
	}
	return buildHelperBinary(ctx, root, helperBinary{name: diskcmd.Name, what: "disk server",
		pkg: "./nuker/disk/cmd/faultline-disk", srcs: []string{filepath.Join("nuker", "disk")}, cache: "disk"}, progress)
}

// MountDisk mounts the faultline filesystem over dir, an absolute directory
// of the node (created when missing), served by the node's disk helper;
// dirs makes directory entries durable only by a directory fsync. Mount
// before the node's daemon starts: a daemon that holds files open in dir
// keeps using the directory underneath.
func (n *Node) MountDisk(ctx context.Context, dir string, dirs bool) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%s: disk: data directory %q is not absolute", n.name, dir)
	}
	if _, err := n.Exec(ctx, "mkdir", "-p", dir); err != nil {
		return fmt.Errorf("%s: disk: create %s: %w", n.name, dir, err)
	}
	target, err := n.cli.ContainerInspect(ctx, n.id)
	if err != nil {
		return fmt.Errorf("%s: inspect: %w", n.name, err)
	}
	bin, err := DiskServer(ctx, nil)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(target.Name, "/") + diskHelperSuffix
	cmd := []string{diskServerPath, "serve", "--pid", "1", "--dir", dir, "--control", diskControl}
	if dirs {
		cmd = append(cmd, "--dirs")
	}
	resp, err := n.cli.ContainerCreate(ctx,
		&container.Config{Image: clockHelperImage(target), Cmd: cmd, Labels: helperLabels(target.Config.Labels, diskHelperRole)},
		&container.HostConfig{
			PidMode:     container.PidMode("container:" + target.ID),
			NetworkMode: "none",
			// SYS_PTRACE: reaching the node's files through /proc/1/root
			// is a ptrace access check, which fails against a node holding
			// capabilities the helper lacks (NET_ADMIN).
			CapAdd: []string{"SYS_ADMIN", "SYS_PTRACE"},
			Resources: container.Resources{Devices: []container.DeviceMapping{
				{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"}}},
			Mounts: []mount.Mount{{Type: mount.TypeBind, Source: bin, Target: diskServerPath, ReadOnly: true}},
		}, nil, nil, name)
	if err != nil {
		return fmt.Errorf("%s: create disk helper: %w", n.name, err)
	}
	h := &Node{cli: n.cli, name: n.name + diskHelperSuffix, id: resp.ID}
	if err := n.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return errors.Join(fmt.Errorf("%s: start disk helper: %w", n.name, err), removeHelper(ctx, h))
	}
	// Ready once it answers on its control socket (it listens after mounting).
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Each try is bounded: an exec into a helper that is exiting may
		// never answer.
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := h.diskControl(tctx, "pending")
		cancel()
		if err == nil {
			n.disk = filepath.Clean(dir)
			return nil
		}
		exited := false
		if insp, ierr := n.cli.ContainerInspect(ctx, h.id); ierr == nil && insp.State != nil && !insp.State.Running {
			exited, err = true, fmt.Errorf("it exited (%d)", insp.State.ExitCode)
		}
		if exited || time.Now().After(deadline) || ctx.Err() != nil {
			logs := h.logs(ctx)
			return errors.Join(fmt.Errorf("%s: disk helper not ready: %w %s", n.name, err, logs), removeHelper(ctx, h))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Disk sends one control command (nuker/disk's protocol, e.g. "power-fail",
// "eio-fsync on", "clear") to the node's disk helper and returns its answer.
func (n *Node) Disk(ctx context.Context, command string) (string, error) {
	h, err := n.diskHelper(ctx)
	if err != nil {
		return "", err
	}
	return h.diskControl(ctx, command)
}

// UnmountDisk stops the node's disk helper, which unmounts, and removes it.
// Without a helper it does nothing.
func (n *Node) UnmountDisk(ctx context.Context) error {
	h, err := n.diskHelper(ctx)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	timeout := 10
	stopErr := n.cli.ContainerStop(ctx, h.id, container.StopOptions{Timeout: &timeout})
	return errors.Join(stopErr, removeHelper(ctx, h))
}

func (n *Node) diskHelper(ctx context.Context) (*Node, error) {
	target, err := n.cli.ContainerInspect(ctx, n.id)
	if err != nil {
		return nil, fmt.Errorf("%s: inspect: %w", n.name, err)
	}
	h, err := n.cli.ContainerInspect(ctx, strings.TrimPrefix(target.Name, "/")+diskHelperSuffix)
	if err != nil {
		return nil, fmt.Errorf("%s: no disk helper: %w", n.name, err)
	}
	return &Node{cli: n.cli, name: n.name + diskHelperSuffix, id: h.ID}, nil
}

func (h *Node) diskControl(ctx context.Context, command string) (string, error) {
	args := append([]string{diskServerPath, "send", "--control", diskControl}, strings.Fields(command)...)
	res, err := h.Exec(ctx, args...)
	if err != nil {
		return "", fmt.Errorf("%s: disk %q: %w %s", h.name, command, err, strings.TrimSpace(string(res.Stderr)))
	}
	return strings.TrimSpace(string(res.Stdout)), nil
}

// logs returns the tail of a container's output, for error messages.
func (h *Node) logs(ctx context.Context) string {
	rc, err := h.cli.ContainerLogs(ctx, h.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b := make([]byte, 4096)
	k, _ := rc.Read(b)
	return strings.TrimSpace(string(b[:k]))
}

// removeHelper force-removes a helper container, also when ctx has ended.
func removeHelper(ctx context.Context, h *Node) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := h.cli.ContainerRemove(rctx, h.id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", h.name, err)
	}
	return nil
}
