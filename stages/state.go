package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/netplan"
)

// state is what the stages share: the inputs, what detect and select found,
// the undo journal, and the report being filled in.
type state struct {
	cfg  *netplan.Config
	opts Options
	k    kernel
	// ownHandle is set when Apply opened the handle and must close it.
	ownHandle bool

	base *slog.Logger // the run's logger
	log  *slog.Logger // base with the current stage
	opN  int          // last operation number

	// detect
	inv     inventory.Inventory
	carrier map[string]bool // NIC name → link seen during detect
	// select
	plan *netplan.Plan
	// address: DNS gathered over all bonds, written once
	dns dnsConfig

	// undo is the journal of changes made, undone last first.
	undo []undoStep
	// nics holds the state each touched NIC was found in, in the order first
	// touched; teardown restores them after the undo journal.
	nics     map[string]*nicSnapshot
	nicOrder []string

	rep *Report
}

// undoStep reverts one change.
type undoStep struct {
	desc string
	fn   func() error
}

func newState(cfg *netplan.Config, opts Options) (*state, error) {
	if opts.Root == "" {
		opts.Root = DefaultRoot
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
		opts.Inventory = func(ctx context.Context) (inventory.Inventory, error) {
			return detect.Probe(ctx, detect.Options{})
		}
	}
	s := &state{
		cfg:     cfg,
		opts:    opts,
		base:    opts.Logger,
		log:     opts.Logger,
		carrier: map[string]bool{},
		nics:    map[string]*nicSnapshot{},
	}
	if opts.Handle != nil {
		s.k = kernel{h: opts.Handle}
	} else {
		// Route only: a bare NewHandle also opens XFRM and netfilter sockets,
		// whose modules an initramfs does not load.
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("open rtnetlink: %w", err)
		}
		s.k = kernel{h: h}
		s.ownHandle = true
	}
	s.rep = newReport(cfg, opts, s.now())
	return s, nil
}

func (s *state) close() {
	if s.ownHandle {
		s.k.h.Close()
	}
}

func (s *state) now() time.Time { return s.opts.Now() }

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

// note logs one decision, the kind of line a person debugging a boot wants.
func (s *state) note(msg string, args ...any) { s.log.Info(msg, args...) }

// pushUndo records how to revert a change just made.
func (s *state) pushUndo(desc string, fn func() error) {
	s.undo = append(s.undo, undoStep{desc: desc, fn: fn})
}

// nicSnapshot is the state a NIC was found in before this run touched it.
type nicSnapshot struct {
	Name   string
	Up     bool
	MTU    int
	Master string // name of the master link, "" for none
	Addrs  []netip.Prefix
}

// remember snapshots the NIC name unless it already was, and returns the
// snapshot.
func (s *state) remember(name string) (*nicSnapshot, error) {
	if snap, ok := s.nics[name]; ok {
		return snap, nil
	}
	snap, err := s.k.snapshot(name)
	if err != nil {
		return nil, err
	}
	s.nics[name] = snap
	s.nicOrder = append(s.nicOrder, name)
	return snap, nil
}

// forget drops the snapshot of name after restoring it early (a NIC that
// select left out).
func (s *state) forget(name string) {
	delete(s.nics, name)
	for i, n := range s.nicOrder {
		if n == name {
			s.nicOrder = append(s.nicOrder[:i], s.nicOrder[i+1:]...)
			break
		}
	}
}

// restoreNIC puts one NIC back as its snapshot found it: master, MTU, admin
// state, in that order (a port must be down to be enslaved again, and
// releasing a port can change its flags).
func (s *state) restoreNIC(snap *nicSnapshot) error {
	return s.op(fmt.Sprintf("restoring %s (up=%t mtu=%d master=%q)", snap.Name, snap.Up, snap.MTU, snap.Master), func() error {
		return s.k.restore(snap)
	})
}

// teardownStage undoes this run: the journal last change first, then every
// touched NIC back to its snapshot. It goes on past errors, so one stuck step
// does not leave the rest undone, and reports them all.
func teardownStage(_ context.Context, s *state) error {
	var errs []error
	for i := len(s.undo) - 1; i >= 0; i-- {
		u := s.undo[i]
		if err := s.op("undo: "+u.desc, u.fn); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", u.desc, err))
			continue
		}
		s.rep.Teardown = append(s.rep.Teardown, u.desc)
	}
	s.undo = nil
	for i := len(s.nicOrder) - 1; i >= 0; i-- {
		snap := s.nics[s.nicOrder[i]]
		if err := s.restoreNIC(snap); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", snap.Name, err))
			continue
		}
		s.rep.Teardown = append(s.rep.Teardown, "restored "+snap.Name)
	}
	s.nics = map[string]*nicSnapshot{}
	s.nicOrder = nil
	if len(errs) > 0 {
		err := errors.Join(errs...)
		s.rep.TeardownErrors = append(s.rep.TeardownErrors, err.Error())
		return err
	}
	return nil
}
