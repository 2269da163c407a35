package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/models/catalog"
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/nuker/delay"
	"github.com/faultline/faultline/targets"
	targetcatalog "github.com/faultline/faultline/targets/catalog"
	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/targets/targetfile"
	"github.com/faultline/faultline/workloads"
)

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:  "images",
		Usage: "build the images faultline needs (when missing) and list them",
		Description: `The Docker engine may have no registry: faultline builds a Debian base image
from the host's apt sources (mmdebstrap) and each target's static Go binaries
from the Go module proxy. Images are tagged by a hash of their recipe and
rebuilt only when the recipe changes.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "target", Usage: "build only for these targets, names or target files (default: all shipped)"},
			&cli.StringFlag{Name: "target-version", Usage: "release to build (default: each target's default)"},
			&cli.BoolFlag{Name: "list", Aliases: []string{"l"}, Usage: "only list, build nothing"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
		},
		Subcommands: []*cli.Command{imagesSaveCommand(), imagesLoadCommand()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("images takes no arguments (subcommands: save DIR, load DIR)")
			}
			cli0, err := docker.Connect(c.Context)
			if err != nil {
				return harnessError{err}
			}
			defer cli0.Close()
			if !c.Bool("list") {
				cat := targetcatalog.Default()
				names := c.StringSlice("target")
				every := len(names) == 0
				if every {
					names = cat.Names()
				}
				prog := progress(c.App.ErrWriter, c.Bool("quiet"))
				res := targetResolver()
				for _, name := range names {
					t, err := res.NewTarget(name, c.String("target-version"), nil)
					if err != nil && every {
						// A target that needs options (maelstrom's node
						// program) builds its image when a run gives them.
						fmt.Fprintf(c.App.ErrWriter, "%s: skipped, it needs options: %v\n", name, err)
						continue
					}
					if err != nil {
						return usageError{err}
					}
					sw, err := t.Software()
					if err != nil {
						return usageError{err}
					}
					ref, err := docker.EnsureImage(c.Context, cli0, sw, prog)
					if err != nil {
						return harnessError{fmt.Errorf("build image for %s: %w", name, err)}
					}
					fmt.Fprintf(c.App.ErrWriter, "%s %s: %s\n", name, t.Version(), ref)
				}
			}
			imgs, err := docker.ListImages(c.Context, cli0)
			if err != nil {
				return harnessError{err}
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tSIZE\tCREATED")
			for _, im := range imgs {
				fmt.Fprintf(tw, "%s\t%.0f MB\t%s\n", im.Ref, float64(im.Size)/1e6, im.Created.Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}

func cleanCommand() *cli.Command {
	return &cli.Command{
		Name:  "clean",
		Usage: "remove the containers and networks of runs whose controller is gone (label io.faultline.run)",
		Description: `Every container and network of a run records the process that runs it (host
name, machine id, boot id, pid namespace, pid and the pid's start time). clean
removes a run only when that process is gone, so runs in other terminals and CI
jobs on the same engine go on undisturbed; it lists the runs it kept, and why.

Runs made on another machine (a shared DOCKER_HOST) or in another pid
namespace are "unknown": their controller cannot be checked from here, so they
are kept. Objects of older faultline versions record only the run id, which
ends in the controller's pid: they are removed when no process with that pid
runs here, else kept as unknown (an older faultline on another machine sharing
the engine cannot be told from a dead one). --force removes every run,
live or not.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "run", Usage: "only this run id (default: every run)"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"all"}, Usage: "also remove live and unknown runs"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "remove nothing; say what would be removed"},
		}, runtimeFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("clean takes no arguments")
			}
			if rt, err := sshRuntime(c); err != nil {
				return usageError{err}
			} else if rt != nil {
				return cleanSSH(c, rt, c.Bool("force"), c.Bool("dry-run"))
			}
			cli0, err := docker.Connect(c.Context)
			if err != nil {
				return harnessError{err}
			}
			defer cli0.Close()
			opt := docker.CleanOptions{RunID: c.String("run"), Force: c.Bool("force"), DryRun: c.Bool("dry-run")}
			rep, err := docker.CleanRuns(c.Context, cli0, opt)
			verb := "removed"
			if opt.DryRun {
				verb = "would remove"
			}
			for _, r := range rep.Removed {
				fmt.Fprintf(c.App.Writer, "%s %s %s (run %s)\n", verb, r.Kind, r.Name, r.RunID)
			}
			for _, k := range rep.Kept {
				hint := ""
				if k.Liveness.State == docker.Unknown {
					hint = "; --force removes it"
				}
				fmt.Fprintf(c.App.Writer, "kept %s run %s (%d objects): %s%s\n", k.Liveness.State, k.RunID, len(k.Objects), k.Liveness.Reason, hint)
			}
			if err != nil {
				return harnessError{err}
			}
			if len(rep.Removed) == 0 && len(rep.Kept) == 0 {
				fmt.Fprintln(c.App.Writer, "nothing to clean")
			}
			return nil
		},
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list targets, workloads, faults, protocols and models, one line each; with --target FILE, what a target file serves",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "target", Usage: "describe only the target file `FILE.yaml` (checked as a run would check it)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("list takes no arguments, got %q", c.Args().Slice())
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			if path := c.String("target"); path != "" {
				f, err := targetfile.Parse(path, protocols.Default())
				if err != nil {
					return usageError{err}
				}
				t, err := f.Target("", nil)
				if err != nil {
					return usageError{err}
				}
				listTarget(w, f.Name(), f.Summary(), f.DefaultVersion(), f.Options(), t)
				return w.Flush()
			}
			fmt.Fprintln(w, "TARGETS (--target NAME, or a target file: docs/target-file.md)")
			tc := targetcatalog.Default()
			for _, n := range tc.Names() {
				e := tc[n]
				t, _ := e.New("", nil)
				listTarget(w, n, e.Summary, e.DefaultVersion, e.Options, t)
			}
			fmt.Fprintln(w, "PROTOCOLS (a target file's client.protocol: docs/protocol.md for http-json)")
			pc := protocols.Default()
			for _, n := range pc.Names() {
				p := pc[n]
				fmt.Fprintf(w, "  %s\t%s (port %d; workloads %s)\n", n, p.Summary, p.DefaultPort, strings.Join(p.Workloads, ", "))
			}
			fmt.Fprintln(w, "WORKLOADS")
			wc := workloads.Default()
			for _, n := range wc.Names() {
				fmt.Fprintf(w, "  %s\t%s (models: %s)\n", n, wc[n].Summary(), strings.Join(wc[n].Models(), ", "))
			}
			fmt.Fprintln(w, "FAULTS (--nemesis; pin a variant in --schedule as fault/variant)")
			for _, k := range nuker.Kinds() {
				fmt.Fprintf(w, "  %s\t%s\n", k.Name(), k.Summary())
				if v := k.Variants(); len(v) > 0 {
					fmt.Fprintf(w, "  \t  variants: %s\n", strings.Join(v, ", "))
				}
				if k.Needs().Delay {
					// Which packet delay mechanisms this machine's kernel
					// (the local Docker engine's) has.
					fmt.Fprintf(w, "  \t  this machine: %s\n", delay.Detect())
				}
			}
			fmt.Fprintln(w, "SCHEDULES (--schedule; lanes joined by +, options @interval=D,quiet=D,jitter=D,after=D)")
			for _, d := range nuker.KnownSchedules() {
				fmt.Fprintf(w, "  %s\t%s\n", d.Name, d.Summary)
			}
			fmt.Fprintln(w, "PARTITIONS (--partitions)")
			for _, p := range nuker.KnownPartitions() {
				fmt.Fprintf(w, "  %s\t%s\n", p.Name, p.Summary)
			}
			fmt.Fprintln(w, "MODELS (--model)")
			mc := catalog.Default()
			for _, n := range mc.Names() {
				fmt.Fprintf(w, "  %s\t%s\n", n, mc[n].Summary)
			}
			return w.Flush()
		},
	}
}

func imagesSaveCommand() *cli.Command {
	return &cli.Command{
		Name:      "save",
		Usage:     "save faultline's images into DIR (one tar per image, named by recipe hash) for a CI cache",
		ArgsUsage: "DIR",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "prune", Usage: "also remove tars of images this engine no longer has"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("images save takes one DIR")
			}
			cli0, err := docker.Connect(c.Context)
			if err != nil {
				return harnessError{err}
			}
			defer cli0.Close()
			prog := progress(c.App.ErrWriter, false)
			saved, err := docker.SaveImages(c.Context, cli0, c.Args().First(), prog)
			for _, p := range saved {
				fmt.Fprintln(c.App.Writer, "saved", p)
			}
			if err != nil {
				return harnessError{err}
			}
			if c.Bool("prune") {
				removed, err := docker.PruneImageCache(c.Context, cli0, c.Args().First(), prog)
				for _, p := range removed {
					fmt.Fprintln(c.App.Writer, "pruned", p)
				}
				if err != nil {
					return harnessError{err}
				}
			}
			return nil
		},
	}
}

func imagesLoadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "load the images saved in DIR that this engine lacks (a missing DIR loads nothing)",
		ArgsUsage: "DIR",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("images load takes one DIR")
			}
			cli0, err := docker.Connect(c.Context)
			if err != nil {
				return harnessError{err}
			}
			defer cli0.Close()
			loaded, err := docker.LoadImages(c.Context, cli0, c.Args().First(), progress(c.App.ErrWriter, false))
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(c.App.Writer, "no image cache at %s yet: nothing to load\n", c.Args().First())
				return nil
			}
			for _, ref := range loaded {
				fmt.Fprintln(c.App.Writer, "loaded", ref)
			}
			if err != nil {
				return harnessError{err}
			}
			return nil
		},
	}
}

// listTarget prints one target: its summary, options, workloads and the
// faults it supports (t nil: only what the entry says).
func listTarget(w io.Writer, name, summary, version string, options map[string]string, t targets.Target) {
	fmt.Fprintf(w, "  %s\t%s (default version %s)\n", name, summary, version)
	opts := make([]string, 0, len(options))
	for k := range options {
		opts = append(opts, k)
	}
	sort.Strings(opts)
	for _, k := range opts {
		fmt.Fprintf(w, "    --target-opt %s=…\t%s\n", k, options[k])
	}
	if t != nil {
		fmt.Fprintf(w, "    workloads\t%s\n", strings.Join(t.Workloads(), ", "))
		fmt.Fprintf(w, "    faults\t%s\n", strings.Join(targets.SupportedFaults(t), ", "))
	}
}
