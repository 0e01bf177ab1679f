// Command bstvm boots a bondstrap test VM (see package test/vm), runs commands in
// it and shows their output: the base of `make demo`, and a way to poke at a guest
// by hand. Run as root on a machine prepared by test/setup.sh.
//
//	go run ./test/vm/cmd/bstvm -config examples/bond.yaml \
//	    'bondstrap plan -c /etc/bondstrap/bondstrap.yaml' \
//	    'bondstrap apply -c /etc/bondstrap/bondstrap.yaml' \
//	    'bondstrap status'
//
// With -i it then reads further commands from standard input, one a line.
// The exit status is 1 when a command exited non-zero or the VM failed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bstvm:", err)
		os.Exit(1)
	}
}

func run() error {
	nics := flag.String("nics", "virtio:10000,virtio:10000,e1000", "guest NICs, in PCI order: virtio[:SPEED] or e1000, with @SEGMENT for a NIC on the second segment (e1000@1)")
	config := flag.String("config", "", "bondstrap config to install as /etc/bondstrap/bondstrap.yaml")
	bonding := flag.String("bonding", vm.BondingMaxBondsZero, "how the guest loads bonding: max0, default (creates bond0), none")
	dhcp := flag.Bool("dhcp", true, "serve DHCP on the segments")
	noBondstrap := flag.Bool("no-bondstrap", false, "do not build and install bondstrap")
	interactive := flag.Bool("i", false, "after the arguments, read commands from standard input")
	keep := flag.Bool("keep", false, "keep the VM's directory (console log, dnsmasq log)")
	verbose := flag.Bool("v", false, "debug logging")
	timeout := flag.Duration("timeout", 5*time.Minute, "deadline of each command")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := vm.Config{Bonding: *bonding, KeepDir: *keep, Logger: log}
	var err error
	if cfg.NICs, err = parseNICs(*nics); err != nil {
		return err
	}
	segs := 1
	for _, n := range cfg.NICs {
		segs = max(segs, n.Segment+1)
	}
	for range segs {
		s := vm.Segment{}
		if *dhcp {
			s.DHCP = &vm.DHCP{}
		}
		cfg.Segments = append(cfg.Segments, s)
	}
	if *config != "" {
		data, err := os.ReadFile(*config)
		if err != nil {
			return err
		}
		cfg.Files = append(cfg.Files, initrd.File{Path: "/etc/bondstrap/bondstrap.yaml", Data: data, Mode: 0o644})
	}
	if _, err := vm.Prepare(ctx, func(s string) { log.Info(s) }); err != nil {
		return err
	}
	if !*noBondstrap {
		log.Info("building bondstrap")
		if cfg.Bondstrap, err = vm.BuildBondstrap(ctx); err != nil {
			return err
		}
	}

	log.Info("booting VM (TCG: expect 10 to 40 s)")
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer v.Close()
	fmt.Printf("# VM up in %v; NICs:", v.Timings.Boot.Round(100*time.Millisecond))
	for _, n := range v.NICs {
		fmt.Printf(" %s=%s(%d Mb/s, %s, segment %d)", n.Iface, n.Model, n.Speed, n.MAC, n.Segment)
	}
	fmt.Println()

	failed := false
	runOne := func(cmd string) error {
		fmt.Printf("\n$ %s\n", cmd)
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		start := time.Now()
		r, err := v.Exec(cctx, cmd)
		if err != nil {
			return err
		}
		// The guest's two streams come back apart. Standard error first: it
		// is bondstrap's log of what it did, and its standard output is the
		// summary at the end.
		if r.Stderr != "" {
			fmt.Fprint(os.Stderr, r.Stderr)
		}
		fmt.Print(r.Stdout)
		if r.Exit != 0 {
			failed = true
			fmt.Printf("# exit status %d\n", r.Exit)
		}
		log.Debug("command done", "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	for _, cmd := range flag.Args() {
		if err := runOne(cmd); err != nil {
			return err
		}
	}
	if *interactive {
		sc := bufio.NewScanner(os.Stdin)
		fmt.Print("guest> ")
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				if err := runOne(line); err != nil {
					return err
				}
			}
			fmt.Print("guest> ")
		}
		fmt.Println()
	}
	if *keep {
		fmt.Printf("# logs in %s\n", v.Dir())
	}
	if failed {
		return errors.New("a command failed")
	}
	return nil
}

// parseNICs parses "virtio:10000,virtio:25000@1,e1000".
func parseNICs(s string) ([]vm.NIC, error) {
	var nics []vm.NIC
	for _, f := range strings.Split(s, ",") {
		spec, seg, hasSeg := strings.Cut(strings.TrimSpace(f), "@")
		model, speed, _ := strings.Cut(spec, ":")
		var n vm.NIC
		switch model {
		case "virtio":
			n = vm.Virtio(0)
		case "e1000":
			n = vm.E1000()
		default:
			return nil, fmt.Errorf("NIC %q: want virtio[:SPEED] or e1000", f)
		}
		if speed != "" {
			sp, err := strconv.Atoi(speed)
			if err != nil {
				return nil, fmt.Errorf("NIC %q: %w", f, err)
			}
			n.Speed = sp
		}
		if hasSeg {
			sg, err := strconv.Atoi(seg)
			if err != nil {
				return nil, fmt.Errorf("NIC %q: %w", f, err)
			}
			n.Segment = sg
		}
		nics = append(nics, n)
	}
	return nics, nil
}
