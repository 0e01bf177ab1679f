// Package stages is bondstrap's apply pipeline: detect, select, bond, address,
// persist and report, run in that order over one shared state value.
//
// The stages are orchestration over the kernel.Kernel seam: they run against
// the real kernel (kernel.Open) or its model (kernel/fake). Every change to
// the kernel is a numbered operation, logged as started, finished or failed
// with its duration (the console of a failed boot reads like a transcript),
// and recorded with its undo. Before a run first touches a link it takes a
// snapshot of it. A run that fails undoes its journal, last change first,
// then restores every link it touched to its snapshot: master, MTU, MAC,
// admin state, a bond's mode, options, ports and primary, and the addresses
// and routes the kernel flushed on its own. It succeeds whole or leaves the
// machine as it was. With on-failure: fallback-dhcp it then gets an address
// by DHCP on a NIC with link instead, so a remote server is never stranded.
//
// One deadline (bondstrap.deadline) bounds the whole run, fallback included.
//
// Apply works in the network namespace of the calling thread: the DHCP client
// opens its raw socket there, and the kernel is opened there. Tests lock the
// OS thread and switch into a namespace they made, or pass a fake kernel.
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

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// Default paths of Options.
const (
	DefaultRoot       = "/"
	DefaultReportPath = "/run/bondstrap/report.json"
	DefaultResolvConf = "/etc/resolv.conf"
)

// Options configure one Apply run. The zero value is usable: every empty field
// takes the default its comment names.
type Options struct {
	// Root is the directory under which the systemd-networkd units are
	// written ("/" by default; "/sysroot" from an initramfs).
	Root string
	// Layout says where under Root the units go: units.Persistent (the
	// default: /etc, every boot) or units.Runtime (/run, this boot: what an
	// initramfs writes for the real root's networkd to take over).
	Layout units.Layout
	// RuntimeRoot is the running system's root ("/" by default), under
	// whose /run the fallback's unit, and units a read-only Root could not
	// take, go for this boot (units.Runtime).
	RuntimeRoot string
	// ReportPath is where the JSON report goes (DefaultReportPath). It is an
	// absolute path of the running system, not under Root.
	ReportPath string
	// ReportURL is where the report is POSTed as JSON once written
	// (bondstrap.report-url=): a fleet's collector. Empty: nowhere.
	ReportURL string
	// ReportTimeout bounds the POST (DefaultReportTimeout), within the
	// run's deadline; a collector that does not answer is a warning.
	ReportTimeout time.Duration
	// ResolvConf is the resolver file of the running system
	// (DefaultResolvConf). It is not under Root: DNS is applied for the
	// system that runs now, while the persisted units carry DNS to the booted
	// one. When it is a symlink into /run/systemd/resolve, systemd-resolved
	// owns it and apply leaves it alone; another symlink has its target
	// rewritten, so the link stays.
	ResolvConf string
	// Logger receives the numbered operations; nil discards them.
	Logger *slog.Logger
	// Out receives the human summary; nil discards it.
	Out io.Writer

	// Kernel is the kernel to change; nil opens the one of the calling
	// thread's network namespace.
	Kernel kernel.Kernel
	// Inventory probes the NICs; nil calls detect.Probe.
	Inventory func(context.Context) (inventory.Inventory, error)
	// DHCP gets DHCPv4 leases; nil uses a DHCP client on a raw socket.
	DHCP DHCPClient
	// DHCP6 gets DHCPv6 leases; nil uses a DHCPv6 client on a UDP socket
	// bound to the interface's link-local address.
	DHCP6 DHCPv6Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// StageError is the error Apply returns when a stage fails: which stage, and
// why. Its message reads "stage bond failed: ...".
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return "stage " + e.Stage + " failed: " + e.Err.Error() }

// Unwrap returns the stage's error.
func (e *StageError) Unwrap() error { return e.Err }

// ErrDegraded is matched (errors.Is) by the error of a degraded run: the
// config could not be applied as declared, but the host has a network (the
// fallback's, or the bonds' without persisted units). The CLI exits 3, so a
// first-boot unit tries again on the next boot.
var ErrDegraded = errors.New("degraded")

// DegradedError is the error of a degraded run: Cause is what failed.
type DegradedError struct {
	Cause error
	// Network says what the host runs on instead.
	Network string
}

func (e *DegradedError) Error() string {
	return "degraded: " + e.Network + ": " + e.Cause.Error()
}

// Unwrap returns the cause.
func (e *DegradedError) Unwrap() error { return e.Cause }

// Is matches ErrDegraded.
func (e *DegradedError) Is(target error) bool { return target == ErrDegraded }

// stage is one step of the pipeline: a name for the logs and the report, and a
// small function over the shared state.
type stage struct {
	name string
	run  func(context.Context, *state) error
}

// pipeline is the order of apply, in one place: ethernets readies the
// standalone NICs, lacp checks the 802.3ad bonds' negotiation (and falls
// back) before anything sits on them, stack builds the VLANs and bridges on
// the bonds and NICs, and address configures every interface. The report
// stage is not in it: it runs last whatever happened, after teardown and
// fallback.
var pipeline = []stage{
	{"detect", detectStage},
	{"select", selectStage},
	{"ethernets", ethernetsStage},
	{"bond", bondStage},
	{"lacp", lacpStage},
	{"stack", stackStage},
	{"address", addressStage},
	{"persist", persistStage},
}

// teardownTimeout bounds undoing a failed run, which must happen even when
// the run's deadline has passed.
const teardownTimeout = 30 * time.Second

// Apply provisions the bonds of cfg now: it runs the pipeline, and on failure
// tears down what this run did and restores the links it touched.
//
// It returns the report in every case. On failure the error is a *StageError
// naming the stage, and no units are written. A degraded run (the fallback
// got an address, or the bonds work but their units could not be written)
// returns a *DegradedError (errors.Is ErrDegraded): the host is reachable,
// which is what a remote server needs most, and the boot goes on.
func Apply(ctx context.Context, cfg *netplan.Config, opts Options) (*Report, error) {
	if cfg == nil {
		return nil, errors.New("apply: no config")
	}
	s, err := newState(cfg, opts)
	if err != nil {
		return nil, err
	}
	defer s.close()

	runCtx, cancel := context.WithTimeout(ctx, s.deadline.Sub(s.start))
	defer cancel()
	mainCtx, cancelMain := context.WithTimeout(runCtx, s.mainDeadline.Sub(s.start))
	defer cancelMain()

	s.log.Info("apply started", "config", cfg.File, "bonds", cfg.BondNames(), "root", s.opts.Root,
		"deadline", cfg.Deadline())
	var failure *StageError
	for _, st := range pipeline {
		if failure != nil {
			s.rep.stage(st.name, 0, OutcomeSkipped, nil)
			continue
		}
		if err := s.runStage(mainCtx, st.name, st.run); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && mainCtx.Err() != nil {
				err = fmt.Errorf("%w (the run's deadline, bondstrap.deadline %s, leaves the fallback its share)", err, cfg.Deadline())
			}
			failure = &StageError{Stage: st.name, Err: err}
		}
	}

	var result error
	switch {
	case failure == nil && (s.rep.PersistError != "" || len(s.degraded) > 0):
		reasons := slices.Clone(s.degraded)
		network := "the bonds as built"
		if s.rep.PersistError != "" {
			reasons = append(reasons, "units not persisted: "+s.rep.PersistError)
			network += ", for this boot only"
		}
		s.rep.Degraded = reasons
		result = &DegradedError{Cause: errors.New(strings.Join(reasons, "; ")), Network: network}
	case failure != nil:
		s.rep.FailedStage = failure.Stage
		s.rep.Error = failure.Error()
		s.teardown(ctx, "teardown")
		result = failure
		if s.cfg.OnFailure() == netplan.OnFailureFallbackDHCP {
			if runCtx.Err() != nil {
				s.rep.Fallback = &FallbackReport{Reason: s.rep.Error, Error: "no time left: the run's deadline has passed"}
			} else if err := s.runStage(runCtx, "fallback", fallbackStage); err != nil {
				s.rep.Fallback.Error = err.Error()
				s.teardown(ctx, "fallback-teardown")
			} else {
				result = &DegradedError{Cause: failure, Network: "fallback DHCP on " + s.rep.Fallback.NIC}
			}
		}
	}
	s.finish(failure, result)
	_ = s.runStage(context.WithoutCancel(ctx), "report", reportStage)
	return s.rep, result
}

// teardown runs the teardown stage with its own time, even when ctx is done.
func (s *state) teardown(ctx context.Context, name string) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	_ = s.runStage(tctx, name, teardownStage)
}

// runStage runs one stage with its timing logged and recorded in the report.
func (s *state) runStage(ctx context.Context, name string, run func(context.Context, *state) error) error {
	prev := s.log
	s.log = s.base.With("stage", name)
	defer func() { s.log = prev }()

	start := s.now()
	s.log.Info(fmt.Sprintf("stage %s: [started]", name))
	err := run(ctx, s)
	d := s.now().Sub(start)
	if err != nil {
		s.log.Error(fmt.Sprintf("stage %s: [failed] after %s: %v", name, d.Round(time.Millisecond), err),
			"duration", d)
		s.rep.stage(name, d, OutcomeFailed, err)
		return err
	}
	s.log.Info(fmt.Sprintf("stage %s: [finished] in %s", name, d.Round(time.Millisecond)), "duration", d)
	s.rep.stage(name, d, OutcomeOK, nil)
	return nil
}
