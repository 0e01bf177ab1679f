package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// state is what the stages share: the inputs, what detect and select found,
// the undo journal, the snapshot of every link touched, and the report being
// filled in.
type state struct {
	cfg  *netplan.Config
	opts Options
	k    kernel.Kernel
	// closeKernel is set when Apply opened the kernel and must close it.
	closeKernel func()

	base *slog.Logger // the run's logger
	log  *slog.Logger // base with the current stage
	opN  int          // last operation number

	// start is when the run began; deadline when it must be over
	// (bondstrap.deadline), fallback included. mainDeadline is when the
	// pipeline must be over, leaving the fallback its share.
	start, deadline, mainDeadline time.Time

	// detect
	inv     inventory.Inventory
	carrier map[string]bool // NIC name → link seen during detect
	// select
	plan *netplan.Plan
	// bond: when each bond's last port was enslaved by this run, the start
	// of its LACP negotiation
	enslaved map[string]time.Time
	// address: DNS gathered over all bonds, written once
	dns dnsConfig

	// degraded says why the network built is not the one declared (an
	// 802.3ad bond that fell back to active-backup).
	degraded []string

	// routesSet are the routes this run installed, by key, with their
	// interface: two interfaces giving the same route is worth a warning.
	routesSet map[kernel.RouteKey]string
	// created are the links this run made (bonds, VLANs, bridges).
	created map[string]bool

	// journal is the changes made, undone last first.
	journal []undoStep
	// snap holds every link as found before this run first touched it;
	// teardown restores them after the journal is undone.
	snap *kernel.Snapshot

	rep *Report
}

// undoStep reverts one change. nic names the NIC a change concerned, for the
// steps select undoes early (the NICs no bond took).
type undoStep struct {
	desc string
	nic  string
	fn   kernel.Undo
}

func newState(cfg *netplan.Config, opts Options) (*state, error) {
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	if opts.RuntimeRoot == "" {
		opts.RuntimeRoot = DefaultRoot
	}
	if opts.Layout == (units.Layout{}) {
		opts.Layout = units.Persistent
	}
	if opts.ReportPath == "" {
		opts.ReportPath = DefaultReportPath
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = DefaultResolvConf
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Inventory == nil {
		log := opts.Logger
		opts.Inventory = func(ctx context.Context) (inventory.Inventory, error) {
			return detect.Probe(ctx, detect.Options{Logger: log})
		}
	}
	if opts.DHCP == nil {
		opts.DHCP = nclientDHCP{}
	}
	s := &state{
		cfg:     cfg,
		opts:    opts,
		base:    opts.Logger,
		log:     opts.Logger,
		carrier: map[string]bool{},
		created: map[string]bool{},
		k:       opts.Kernel,
	}
	if s.k == nil {
		k, err := kernel.Open(opts.Logger)
		if err != nil {
			return nil, err
		}
		s.k, s.closeKernel = k, k.Close
	}
	if s.opts.DHCP6 == nil {
		s.opts.DHCP6 = newNclient6DHCP(s.k.Addrs)
	}
	s.start = s.now()
	s.snap = &kernel.Snapshot{Taken: s.start}
	s.deadline = s.start.Add(cfg.Deadline())
	s.mainDeadline = s.deadline
	if cfg.OnFailure() == netplan.OnFailureFallbackDHCP {
		s.mainDeadline = s.deadline.Add(-fallbackReserve(cfg))
	}
	s.rep = newReport(cfg, opts, s.start)
	return s, nil
}

// fallbackReserve is the part of the deadline kept for the fallback: a link
// wait and a DHCP exchange, at most half of it.
func fallbackReserve(cfg *netplan.Config) time.Duration {
	return min(cfg.LinkTimeout()+cfg.DHCPTimeout(), cfg.Deadline()/2)
}

func (s *state) close() {
	if s.closeKernel != nil {
		s.closeKernel()
	}
}

func (s *state) now() time.Time { return s.opts.Now() }

// until returns the earlier of now+d and the pipeline's deadline, on the
// real clock (what contexts and timers run on): the time left is measured on
// the run's clock, which tests may replace.
func (s *state) until(d time.Duration) time.Time {
	return time.Now().Add(max(min(d, s.mainDeadline.Sub(s.now())), 0))
}

// op runs fn as the next numbered operation, logged Ignition-style:
//
//	op(7): [started]  enslaving eth1 to bond0
//	op(7): [finished] enslaving eth1 to bond0
func (s *state) op(desc string, fn func() error) error {
	s.opN++
	n := s.opN
	start := s.now()
	s.log.Info(fmt.Sprintf("op(%d): [started]  %s", n, desc), "op", n)
	err := fn()
	d := s.now().Sub(start)
	if err != nil {
		s.log.Error(fmt.Sprintf("op(%d): [failed]   %s: %v", n, desc, err), "op", n, "duration", d)
		return err
	}
	s.log.Info(fmt.Sprintf("op(%d): [finished] %s", n, desc), "op", n, "duration", d)
	return nil
}

// change runs one kernel change as an operation and records its undo.
func (s *state) change(desc, undoDesc, nic string, fn func() (kernel.Undo, error)) error {
	return s.op(desc, func() error {
		undo, err := fn()
		if err != nil {
			return err
		}
		s.journal = append(s.journal, undoStep{desc: undoDesc, nic: nic, fn: undo})
		return nil
	})
}

// note logs one decision, the kind of line a person debugging a boot wants.
func (s *state) note(msg string, args ...any) { s.log.Info(msg, args...) }

// warn logs a problem that does not stop the run and keeps it for the
// report.
func (s *state) warn(msg string, args ...any) {
	s.log.Warn(msg, args...)
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(args); i += 2 {
		sep := " ("
		if i > 0 {
			sep = ", "
		}
		fmt.Fprintf(&b, "%s%v: %v", sep, args[i], args[i+1])
	}
	if len(args) > 1 {
		b.WriteString(")")
	}
	s.rep.Warnings = append(s.rep.Warnings, b.String())
}

// remember snapshots links before this run changes them. A link this run
// created has nothing to restore: its undo deletes it.
func (s *state) remember(ctx context.Context, names ...string) error {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return s.created[n] })
	if len(names) == 0 {
		return nil
	}
	if err := s.snap.Add(ctx, s.k, names...); err != nil {
		return fmt.Errorf("snapshot %v: %w", names, err)
	}
	return nil
}

// undoNIC undoes, now, the journal's steps for one NIC (a NIC select left
// out), last first, and drops them from the journal.
func (s *state) undoNIC(ctx context.Context, nic string) error {
	var errs []error
	for i := len(s.journal) - 1; i >= 0; i-- {
		u := s.journal[i]
		if u.nic != nic {
			continue
		}
		if err := s.op("undo: "+u.desc, func() error { return u.fn(ctx) }); err != nil {
			errs = append(errs, err)
		}
		s.journal = slices.Delete(s.journal, i, i+1)
	}
	return errors.Join(errs...)
}

// teardownStage undoes this run: the journal, last change first, then every
// link it touched back to its snapshot (what the kernel flushed on its own:
// routes of a NIC that went down, IPv6 addresses, a bond's ports). It goes
// on past errors, so one stuck step does not leave the rest undone, and
// reports them all.
func teardownStage(ctx context.Context, s *state) error {
	var errs []error
	for i := len(s.journal) - 1; i >= 0; i-- {
		u := s.journal[i]
		if err := s.op("undo: "+u.desc, func() error { return u.fn(ctx) }); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", u.desc, err))
			continue
		}
		s.rep.Teardown = append(s.rep.Teardown, u.desc)
	}
	s.journal = nil
	if len(s.snap.Links) > 0 {
		names := make([]string, len(s.snap.Links))
		for i, l := range s.snap.Links {
			names[i] = l.Name
		}
		if err := s.op(fmt.Sprintf("restoring %v as found (master, MTU, MAC, state, addresses, routes)", names), func() error {
			return s.snap.Restore(ctx, s.k, s.now())
		}); err != nil {
			errs = append(errs, fmt.Errorf("restore: %w", err))
		} else {
			s.rep.Teardown = append(s.rep.Teardown, fmt.Sprintf("restored %v", names))
		}
	}
	s.snap = &kernel.Snapshot{Taken: s.now()}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		s.rep.TeardownErrors = append(s.rep.TeardownErrors, err.Error())
		return err
	}
	return nil
}
