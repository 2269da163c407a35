package delay

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os/signal"
	"syscall"
	"time"
)

// Subcommand makes a faultline binary (or faultline-clock, which carries
// the same helpers) act as the delayer: "faultline __packet-delayer run
// --queue 7 --delay 200ms --jitter 100ms". Not in faultline's help.
const Subcommand = "__packet-delayer"

// Ready is what "run" prints once its queue is bound, and "probe" once it
// bound and unbound one: the helper's starter waits for it.
const Ready = "faultline delayer bound queue"

// Main runs the delayer's command line and returns the exit status:
//
//	run   --queue N --delay D --jitter J --reorder P   delay until SIGTERM
//	probe --queue N                                   bind and unbind queue N
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "run" && args[0] != "probe") {
		fmt.Fprintln(stderr, "usage: "+Subcommand+" run|probe --queue N [--delay D --jitter J --reorder PERCENT]")
		return 2
	}
	fs := flag.NewFlagSet(Subcommand+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	num := fs.Uint("queue", 0, "nfnetlink queue number (0..65535)")
	var cfg Config
	fs.DurationVar(&cfg.Delay, "delay", 0, "mean hold of each packet")
	fs.DurationVar(&cfg.Jitter, "jitter", 0, "half-width of the uniform spread around --delay")
	fs.IntVar(&cfg.Reorder, "reorder", 0, "percentage of packets sent on at once")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *num > 65535 {
		fmt.Fprintf(stderr, "queue %d is not in 0..65535\n", *num)
		return 2
	}
	if args[0] == "run" {
		if err := cfg.Check(); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	q, err := OpenQueue(uint16(*num))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if args[0] == "probe" {
		if err := q.Close(); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s %d\n", Ready, *num)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintf(stdout, "%s %d: delay %v jitter %v reorder %d%%\n", Ready, *num, cfg.Delay, cfg.Jitter, cfg.Reorder)
	start := time.Now()
	st, err := Run(ctx, q, cfg, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(*num))), stderr)
	cerr := q.Close()
	fmt.Fprintf(stdout, "delayer stopped after %v: %d packets, %d held, %d at once\n", time.Since(start).Round(time.Millisecond), st.Packets, st.Held, st.AtOnce)
	if err != nil || cerr != nil {
		fmt.Fprintln(stderr, err, cerr)
		return 1
	}
	return 0
}
