// Package stages is bondstrap's apply pipeline: detect, select, bond, address,
// persist and report, run in that order over one shared state value.
//
// Every change to the kernel is a numbered operation, logged as started,
// finished or failed with its duration (the console of a failed boot reads like
// a transcript), and every change is recorded with its undo. A run that fails
// undoes what it did, in reverse, and restores each NIC it touched to the
// admin state, MTU and master it found: it succeeds whole or leaves the
// machine as it was. With on-failure: fallback-dhcp it then gets an address by
// DHCP on the first NIC with link instead, so a remote server is never
// stranded.
//
// Apply works in the network namespace of the calling thread: the DHCP client
// opens its raw socket there, and link events are subscribed there. Tests lock
// the OS thread, switch into a namespace they made, and pass a handle for it.
package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/vishvananda/netlink"

	"github.com/bondstrap/bondstrap/netplan"
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
	// ReportPath is where the JSON report goes (DefaultReportPath). It is an
	// absolute path of the running system, not under Root.
	ReportPath string
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

	// Handle talks rtnetlink; nil opens one in the calling thread's
	// namespace. It must belong to that namespace.
	Handle *netlink.Handle
	// Inventory probes the NICs; nil calls detect.Probe. The VM harness and
	// namespace tests substitute their own.
	Inventory func(context.Context) (inventory.Inventory, error)
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

// stage is one step of the pipeline: a name for the logs and the report, and a
// small function over the shared state.
type stage struct {
	name string
	run  func(context.Context, *state) error
}

// pipeline is the order of apply, in one place. The report stage is not in
// it: it runs last whatever happened, after teardown and fallback.
var pipeline = []stage{
	{"detect", detectStage},
	{"select", selectStage},
	{"bond", bondStage},
	{"address", addressStage},
	{"persist", persistStage},
}

// teardownTimeout bounds undoing a failed run, which must happen even when
// the caller's context is already cancelled.
const teardownTimeout = 30 * time.Second

// Apply provisions the bonds of cfg now: it runs the pipeline, and on failure
// tears down what this run created and restores the NICs it touched.
//
// It returns the report in every case. On failure the error is a *StageError
// naming the stage, and no units are written. With on-failure: fallback-dhcp
// and a working fallback the error is nil and the report says Outcome
// "degraded", FallbackUsed, and the original error: the host is reachable,
// which is what a remote server needs most, and the boot should go on.
func Apply(ctx context.Context, cfg *netplan.Config, opts Options) (*Report, error) {
	if cfg == nil {
		return nil, errors.New("apply: no config")
	}
	s, err := newState(cfg, opts)
	if err != nil {
		return nil, err
	}
	defer s.close()

	s.log.Info("apply started", "config", cfg.File, "bonds", cfg.BondNames(), "root", s.opts.Root)
	var failure *StageError
	for _, st := range pipeline {
		if failure != nil {
			s.rep.stage(st.name, 0, OutcomeSkipped, nil)
			continue
		}
		if err := s.runStage(ctx, st.name, st.run); err != nil {
			failure = &StageError{Stage: st.name, Err: err}
		}
	}

	var result error
	if failure != nil {
		s.rep.FailedStage = failure.Stage
		s.rep.Error = failure.Error()
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
		_ = s.runStage(tctx, "teardown", teardownStage)
		cancel()
		result = failure
		if s.cfg.OnFailure() == netplan.OnFailureFallbackDHCP && ctx.Err() == nil {
			if err := s.runStage(ctx, "fallback", fallbackStage); err != nil {
				s.rep.Fallback.Error = err.Error()
				tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
				_ = s.runStage(tctx, "fallback-teardown", teardownStage)
				cancel()
			} else {
				result = nil
			}
		}
	}
	s.finish(failure, result)
	_ = s.runStage(context.WithoutCancel(ctx), "report", reportStage)
	return s.rep, result
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
