// Command bstbench is `make bench`'s measurement run: one table, and the
// same numbers as JSON, of what an operator weighs bondstrap by.
//
//   - size: the static binary as `make build` makes it (no inlining), and
//     as Go builds it by default;
//   - detect: `bondstrap detect` at 16, 64, 256 and 1,024 NICs (veth in a
//     namespace) against the shell loop of ethtool and sysfs per NIC
//     (test/bench);
//   - time to network, in one Debian guest (systemd, Debian's kernel under
//     TCG, two virtio 10G NICs and an e1000, dnsmasq without its probe
//     delay), rebooted between rounds: bondstrap apply, the seed method
//     scripted with sysfs bonding, a 1 s settle and busybox udhcpc, and
//     systemd-networkd bringing up the same bond from the units bondstrap
//     wrote; each from its exec to the bond's lease and default route, the
//     median of -boots rounds, the order rotated every round; apply's peak
//     RSS (VmHWM, from its report);
//   - failover: pings 10 ms apart from the host across a cut of the active
//     member, for miimon 100 ms, miimon 50 ms and ARP monitoring at 100 ms;
//   - LACP: negotiation against a second guest's 802.3ad bond (from the
//     last port joining to the partner verified) and the fallback when the
//     partner never answers LACPDUs.
//
// Run as root on a machine test/setup.sh prepared (make bench does both).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bondstrap/bondstrap/test/vm"
)

// Results is what bstbench measured; bench/results.json holds it.
type Results struct {
	Date    time.Time `json:"date"`
	Version string    `json:"version"`
	Host    string    `json:"host"`

	Size     *SizeResult       `json:"size,omitempty"`
	Detect   []DetectRow       `json:"detect,omitempty"`
	Network  *NetworkResult    `json:"time_to_network,omitempty"`
	Failover []FailoverResult  `json:"failover,omitempty"`
	LACP     *LACPResult       `json:"lacp,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bstbench:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "bench", "write results.json and results.md into `DIR`")
	boots := flag.Int("boots", 5, "rounds of time to network, one boot each")
	runs := flag.Int("runs", 5, "runs of each detect size and failover case (the median is shown)")
	only := flag.String("only", "size,detect,network,failover,lacp", "the sections to run, comma-separated")
	verbose := flag.Bool("v", false, "the VM harness's log too")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	say := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bstbench: "+format+"\n", args...)
	}
	if _, err := vm.Prepare(ctx, func(s string) { say("%s", s) }); err != nil {
		return err
	}
	say("building bondstrap as make build does")
	bin, err := vm.BuildBondstrap(ctx)
	if err != nil {
		return err
	}
	res := &Results{Date: time.Now().UTC(), Version: gitVersion(ctx), Host: hostDescription(), Errors: map[string]string{}}
	sections := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		sections[strings.TrimSpace(s)] = true
	}
	// A section that fails is said in the results and fails the run; the
	// others still run.
	section := func(name string, f func() error) {
		if !sections[name] {
			return
		}
		say("%s", name)
		start := time.Now()
		if err := f(); err != nil {
			res.Errors[name] = err.Error()
			say("%s FAILED: %v", name, err)
			return
		}
		say("%s done in %v", name, time.Since(start).Round(time.Second))
	}
	section("size", func() error {
		res.Size, err = measureSize(ctx, bin)
		return err
	})
	section("detect", func() error {
		res.Detect, err = measureDetect(ctx, bin, *runs, log)
		return err
	})
	section("network", func() error {
		res.Network, err = measureNetwork(ctx, bin, *boots, log, say)
		return err
	})
	section("failover", func() error {
		res.Failover, err = measureFailover(ctx, bin, *runs, log, say)
		return err
	})
	section("lacp", func() error {
		res.LACP, err = measureLACP(ctx, bin, *runs, log, say)
		return err
	})

	table := formatTable(res)
	fmt.Print(table)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(table), 0o644); err != nil {
		return err
	}
	say("wrote %s and %s", filepath.Join(*out, "results.json"), filepath.Join(*out, "results.md"))
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d section(s) failed: see the errors in results.json", len(res.Errors))
	}
	return nil
}
