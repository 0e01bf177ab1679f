// Command bondstrap brings a bare-metal server up on a bonded network at first
// boot: it reads a netplan v2 config extended with NIC-selection rules, probes
// the NICs, picks each bond's members, builds the bonds, obtains addressing and
// writes systemd-networkd units so the same network comes back on every boot.
//
// Usage:
//
//	bondstrap detect   [-o table|json] [--include-virtual]
//	bondstrap validate [-c FILE]
//	bondstrap plan     [-c FILE] [--inventory FILE|DIR ...] [-o table|json]
//	bondstrap render   [-c FILE] --inventory FILE --root DIR
//	bondstrap apply    [-c FILE] [--root DIR | --runtime] [--report FILE] [--report-url URL]
//	bondstrap down     [--report FILE] [--remove-units [--root DIR]] [-o table|json]
//	bondstrap status   [-o table|json]
//	bondstrap version
//
// Without -c, validate, plan, render and apply read the config's source from
// the kernel command line (bondstrap.config=, or dracut's network options);
// --cmdline LINE reads LINE instead of /proc/cmdline.
//
// Exit status: 0 success; 1 failed (apply undid everything); 2 the config or
// the arguments are wrong (nothing was changed); 3 apply was degraded (the
// host has a network, but not the declared one, or not persisted).
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/bondstrap/bondstrap/netplan/cmdline"
)

// procCmdline is the kernel command line bondstrap reads without --cmdline
// (a variable for the tests).
var procCmdline = "/proc/cmdline"

// Exit statuses.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitDegraded = 3
)

// gcPercent is the Go collector's GOGC unless the environment sets one.
// bondstrap's live heap stays under 1 MB, but at Go's default (100) the
// garbage of netlink and DHCP buffers reaches the 4 MB minimum goal before
// each collection; at 50 the goal is 2 MB. Measured on apply in the test VM
// (make bench's guest): peak RSS 10.0–10.9 MiB → 8.7–9.4 MiB, for 9
// collections instead of 3 (about 30 ms). A soft memory limit instead
// (GOMEMLIMIT=6MiB) made 27 collections and cost 200 ms.
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: its name, a one-line synopsis and its body.
type command struct {
	name     string
	synopsis string
	run      func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand may use of the process: its outputs and logger.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

var commands = []command{
	{"detect", "[-o table|json] [--include-virtual]     the NIC inventory of this machine", runDetect},
	{"validate", "[-c FILE]                               check a config, change nothing", runValidate},
	{"plan", "[-c FILE] [--inventory FILE|DIR ...] [-o table|json]  which NICs each bond gets, and why (several inventories: the fleet lint)", runPlan},
	{"render", "[-c FILE] --inventory FILE --root DIR     write the networkd units of that plan", runRender},
	{"apply", "[-c FILE] [--root DIR | --runtime] [--report FILE] [--report-url URL]  provision now: bond, address, persist", runApply},
	{"down", "[--report FILE] [--remove-units [--root DIR]] [-o table|json]  undo this boot's apply, from its report", runDown},
	{"status", "[-o table|json]                           the live bonds", runStatus},
	{"version", "                                          print the version", runVersion},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	e := &env{stdout: stdout, stderr: stderr, log: newLogger(stderr)}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		if err == nil {
			return exitOK
		}
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "bondstrap %s: %v\n", c.name, err)
		return exitCode(err)
	}
	fmt.Fprintf(stderr, "bondstrap: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  bondstrap %-8s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintln(w, "\nwithout -c, the config comes from the kernel command line: bondstrap.config= (a path or an http:// URL), else dracut's bond=, vlan=, bridge=, ip=")
	fmt.Fprintln(w, "\nexit status: 0 success, 1 failed (nothing left changed), 2 the config or the arguments are wrong,\n3 degraded (a network for this boot, not the declared one or not persisted)")
}

// newLogger logs at the level BONDSTRAP_LOG names (debug, info, warn,
// error; default info), or that the kernel command line sets with
// bondstrap.log=LEVEL, to the target BONDSTRAP_LOG_TARGET or
// bondstrap.log-target= names (auto, journal, kmsg, stderr; default auto:
// see newLogHandler). A target that cannot be used logs to w, and says so.
func newLogger(w io.Writer) *slog.Logger {
	line, _ := os.ReadFile(procCmdline) // unreadable: no kernel settings
	level := cmp.Or(os.Getenv("BONDSTRAP_LOG"), cmdline.Lookup(string(line), cmdline.KeyLog))
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	target := cmp.Or(os.Getenv("BONDSTRAP_LOG_TARGET"), cmdline.Lookup(string(line), cmdline.KeyLogTarget))
	h, _, err := newLogHandler(target, l, w)
	log := slog.New(h)
	if err != nil {
		log.Warn("logging to stderr", "error", err)
	}
	return log
}
