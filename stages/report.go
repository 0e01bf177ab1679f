package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/bondstrap/bondstrap/netplan"
)

// Outcomes of a run and of a stage.
const (
	OutcomeOK       = "ok"
	OutcomeFailed   = "failed"
	OutcomeDegraded = "degraded" // the fallback got an address, or the bonds work but were not persisted
	OutcomeSkipped  = "skipped"
)

// ReportVersion is the version of the report's JSON form.
const ReportVersion = 1

// Report is what one Apply run did, as /run/bondstrap/report.json holds it.
type Report struct {
	Version  int       `json:"version"`
	Config   string    `json:"config,omitempty"`
	Root     string    `json:"root"`
	Started  time.Time `json:"started"`
	Duration Millis    `json:"duration_ms"`
	// Outcome is "ok", "failed" or "degraded".
	Outcome string `json:"outcome"`
	// Changed is false when the run found everything as configured.
	Changed     bool          `json:"changed"`
	Error       string        `json:"error,omitempty"`
	FailedStage string        `json:"failed_stage,omitempty"`
	Stages      []StageReport `json:"stages"`

	// Candidates are the NICs detect brought up to read their links;
	// NoLink those of them that got no link within link-timeout.
	Candidates []string             `json:"candidates,omitempty"`
	NoLink     []string             `json:"no_link,omitempty"`
	Inventory  *inventory.Inventory `json:"inventory,omitempty"`
	Plan       *netplan.Plan        `json:"plan,omitempty"`

	Bonds []*BondReport `json:"bonds,omitempty"`
	// Interfaces are the standalone NICs, VLANs and bridges, in the order
	// they were configured.
	Interfaces []*InterfaceReport `json:"interfaces,omitempty"`
	DNS        *DNSReport         `json:"dns,omitempty"`
	Units      *UnitsReport       `json:"units,omitempty"`
	// PersistError says why the units could not be written under the root
	// (they were written to /run for this boot instead).
	PersistError string `json:"persist_error,omitempty"`
	// Networkd is what keeps the network after bondstrap: "enabled",
	// "already-enabled", "not-installed" or "masked" (units.NetworkdState).
	Networkd string `json:"networkd,omitempty"`
	// Warnings are problems that did not stop the run.
	Warnings []string `json:"warnings,omitempty"`
	// Degraded says why a degraded run's network is not the one declared.
	Degraded []string `json:"degraded,omitempty"`

	FallbackUsed bool            `json:"fallback_used"`
	Fallback     *FallbackReport `json:"fallback,omitempty"`

	// Teardown lists what a failed run undid, in order.
	Teardown       []string `json:"teardown,omitempty"`
	TeardownErrors []string `json:"teardown_errors,omitempty"`
	// Down is what `bondstrap down` needs to undo the run (downstate.go).
	Down *DownState `json:"down,omitempty"`
	// Machine says which machine ran, for a fleet's collector
	// (reportsink.go).
	Machine *MachineInfo `json:"machine,omitempty"`
	// PeakRSSKiB is the process's peak resident memory when the report was
	// written (VmHWM): what the run cost the initramfs in memory.
	PeakRSSKiB int64 `json:"peak_rss_kib,omitempty"`
	// ReportError is set when the report file could not be written (the
	// summary on stdout still says everything else).
	ReportError string `json:"-"`
}

// Millis is a duration that marshals as whole milliseconds.
type Millis time.Duration

// MarshalJSON writes the duration in milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(m).Milliseconds())
}

// UnmarshalJSON reads the milliseconds MarshalJSON writes, so a report read
// back from report.json holds the durations it was written with.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("a duration in milliseconds: %w", err)
	}
	*m = Millis(time.Duration(ms) * time.Millisecond)
	return nil
}

// StageReport is one stage's timing and outcome.
type StageReport struct {
	Name     string `json:"name"`
	Duration Millis `json:"duration_ms"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"`
}

// BondReport is what the bond and address stages did to one bond.
type BondReport struct {
	Name string `json:"name"`
	// Mode is the mode the bond was built in; Declared the config's, when
	// the bond fell back to another (802.3ad without a partner).
	Mode     string   `json:"mode"`
	Declared string   `json:"declared_mode,omitempty"`
	Members  []string `json:"members"`
	Primary  string   `json:"primary,omitempty"`
	// Action is created, recreated, updated or unchanged; failed when the
	// bond stage failed on this bond.
	Action  string         `json:"action"`
	Changes []string       `json:"changes,omitempty"`
	MAC     string         `json:"mac,omitempty"`
	MTU     int            `json:"mtu,omitempty"`
	Carrier bool           `json:"carrier"`
	LACP    *LACPReport    `json:"lacp,omitempty"`
	Address *AddressReport `json:"address,omitempty"`
}

// InterfaceReport is what apply did to a standalone NIC, a VLAN or a
// bridge.
type InterfaceReport struct {
	Name string `json:"name"`
	// Kind is ethernet, vlan or bridge.
	Kind string `json:"kind"`
	// NIC is a standalone NIC's name before set-name.
	NIC string `json:"nic,omitempty"`
	// Link is what a VLAN sits on; Ports a bridge's ports.
	Link  string   `json:"link,omitempty"`
	Ports []string `json:"ports,omitempty"`
	// Action is created, configured or unchanged; failed when its stage
	// failed on it.
	Action  string         `json:"action"`
	Changes []string       `json:"changes,omitempty"`
	MAC     string         `json:"mac,omitempty"`
	MTU     int            `json:"mtu,omitempty"`
	Carrier bool           `json:"carrier"`
	Address *AddressReport `json:"address,omitempty"`
}

// AddressReport is the layer-3 configuration applied to one interface.
type AddressReport struct {
	Interface string `json:"interface"`
	// Method is "static", "dhcp4", "dhcp6" or "dhcp4+dhcp6".
	Method    string       `json:"method"`
	Addresses []string     `json:"addresses,omitempty"`
	Routes    []string     `json:"routes,omitempty"`
	MTU       int          `json:"mtu,omitempty"`
	Lease     *LeaseReport `json:"lease,omitempty"`
	// Lease6 is the DHCPv6 lease; RA what router advertisements gave (the
	// IPv6 default route), when accept-ra is on.
	Lease6 *Lease6Report `json:"lease6,omitempty"`
	RA     string        `json:"ra,omitempty"`
	// Changes lists what was not there before; empty on a converged re-run.
	Changes []string `json:"changes,omitempty"`
}

// LeaseReport is the DHCPv4 lease an interface got.
type LeaseReport struct {
	ClientID     string    `json:"client_id"`
	Server       string    `json:"server,omitempty"`
	Address      string    `json:"address,omitempty"`
	LeaseSeconds int64     `json:"lease_seconds,omitempty"`
	Obtained     time.Time `json:"obtained,omitzero"`
	Routes       []string  `json:"routes,omitempty"`
	// Classless is true when the routes came from option 121.
	Classless bool     `json:"classless_routes,omitempty"`
	DNS       []string `json:"dns,omitempty"`
	Search    []string `json:"search,omitempty"`
	MTU       int      `json:"mtu,omitempty"`
}

// DNSReport is the resolver configuration applied.
type DNSReport struct {
	Path    string   `json:"path"`
	Servers []string `json:"servers,omitempty"`
	Search  []string `json:"search,omitempty"`
	// Written is false when the file already said this, or is not ours.
	Written bool   `json:"written"`
	Note    string `json:"note,omitempty"`
	// Before is the file as it was before apply wrote it, for `bondstrap
	// down`; the report's Down record carries it.
	Before *FileBefore `json:"-"`
}

// UnitsReport is what persist did under Root.
type UnitsReport struct {
	Root      string   `json:"root"`
	Written   []string `json:"written,omitempty"`
	Unchanged []string `json:"unchanged,omitempty"`
	Removed   []string `json:"removed,omitempty"`
}

// FallbackReport is what the DHCP fallback did.
type FallbackReport struct {
	// Reason is the failure that led to the fallback.
	Reason string `json:"reason"`
	// Tried lists the NICs DHCP was tried on, in order; NIC is the one that
	// got a lease.
	Tried   []string       `json:"tried,omitempty"`
	NIC     string         `json:"nic,omitempty"`
	Address *AddressReport `json:"address,omitempty"`
	// Units are the fallback's units, written under /run for this boot.
	Units []string `json:"units,omitempty"`
	Error string   `json:"error,omitempty"`
}

func newReport(cfg *netplan.Config, opts Options, now time.Time) *Report {
	return &Report{Version: ReportVersion, Config: cfg.File, Root: opts.Root, Started: now}
}

func (r *Report) stage(name string, d time.Duration, outcome string, err error) {
	sr := StageReport{Name: name, Duration: Millis(d), Outcome: outcome}
	if err != nil {
		sr.Error = err.Error()
	}
	r.Stages = append(r.Stages, sr)
}

// finish settles the outcome and whether anything changed.
func (s *state) finish(failure *StageError, result error) {
	r := s.rep
	switch {
	case result == nil:
		r.Outcome = OutcomeOK
	case errors.Is(result, ErrDegraded):
		r.Outcome = OutcomeDegraded
		r.FallbackUsed = failure != nil
	default:
		r.Outcome = OutcomeFailed
	}
	r.Changed = false
	if failure == nil && result == nil {
		for _, b := range r.Bonds {
			if b.Action != BondUnchanged || len(b.Changes) > 0 || (b.Address != nil && len(b.Address.Changes) > 0) {
				r.Changed = true
			}
		}
		for _, i := range r.Interfaces {
			if i.Action != InterfaceUnchanged || len(i.Changes) > 0 || (i.Address != nil && len(i.Address.Changes) > 0) {
				r.Changed = true
			}
		}
	} else {
		// A failed run undid its changes; a degraded one kept some.
		r.Changed = r.Outcome == OutcomeDegraded
	}
	if r.DNS != nil && r.DNS.Written {
		r.Changed = true
	}
	if u := r.Units; u != nil && (len(u.Written) > 0 || len(u.Removed) > 0) {
		r.Changed = true
	}
	r.Duration = Millis(s.now().Sub(r.Started))
}

// reportStage writes the JSON report atomically and the human summary. It
// runs last whatever happened. A report that cannot be written is logged,
// not fatal: undoing a working network over a file in /run would be worse.
func reportStage(ctx context.Context, s *state) error {
	s.recordDown(ctx)
	s.describeMachine()
	s.rep.PeakRSSKiB = peakRSS("/proc/self/status")
	data, err := json.MarshalIndent(s.rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	data = append(data, '\n')
	if err := s.op("writing report to "+s.opts.ReportPath, func() error {
		return writeFileAtomic(s.opts.ReportPath, data, 0o644)
	}); err != nil {
		s.rep.ReportError = err.Error()
		s.log.Warn("report file not written", "path", s.opts.ReportPath, "error", err)
	}
	s.publishReport(ctx, data)
	writeSummary(s.opts.Out, s.rep)
	return nil
}

// writeSummary prints what the run did for a person at the console.
func writeSummary(w io.Writer, r *Report) {
	var b strings.Builder
	verdict := r.Outcome
	switch {
	case r.Outcome == OutcomeOK && !r.Changed:
		verdict = "ok, no changes"
	case r.Outcome == OutcomeOK:
		verdict = "ok, changed"
	case r.Outcome == OutcomeDegraded && r.FallbackUsed:
		verdict = "DEGRADED (fallback DHCP, this boot only)"
	case r.Outcome == OutcomeDegraded:
		verdict = "DEGRADED (" + strings.Join(r.Degraded, "; ") + ")"
	case r.Outcome == OutcomeFailed:
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "bondstrap apply: %s in %s\n", verdict, time.Duration(r.Duration).Round(time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	if len(r.NoLink) > 0 {
		fmt.Fprintf(&b, "  no link: %s\n", strings.Join(r.NoLink, ", "))
	}
	for _, br := range r.Bonds {
		members := strings.Join(br.Members, ", ")
		if br.Primary != "" {
			members += " (primary " + br.Primary + ")"
		}
		mode := br.Mode
		if br.Declared != "" {
			mode += " (declared " + br.Declared + ")"
		}
		fmt.Fprintf(&b, "  %-8s %-13s %s: %s\n", br.Name, mode, members, br.Action)
		for _, c := range br.Changes {
			fmt.Fprintf(&b, "           - %s\n", c)
		}
		if l := br.LACP; l != nil {
			fmt.Fprintf(&b, "           lacp %s: partner %s key %d, aggregator %d, %d of %d ports joined (%s) in %s",
				l.Outcome, orDash(l.PartnerMAC), l.PartnerKey, l.AggregatorID, len(l.Joined), len(l.Expected),
				strings.Join(l.Joined, ", "), time.Duration(l.Took).Round(time.Millisecond))
			if l.Action != "" {
				fmt.Fprintf(&b, "; %s", l.Action)
			}
			b.WriteString("\n")
		}
		if a := br.Address; a != nil {
			writeAddress(&b, a)
		}
	}
	for _, i := range r.Interfaces {
		what := i.Kind
		switch {
		case i.Link != "":
			what += " on " + i.Link
		case len(i.Ports) > 0:
			what += " over " + strings.Join(i.Ports, ", ")
		case i.NIC != "" && i.NIC != i.Name:
			what += " (was " + i.NIC + ")"
		}
		fmt.Fprintf(&b, "  %-8s %s: %s\n", i.Name, what, i.Action)
		for _, c := range i.Changes {
			fmt.Fprintf(&b, "           - %s\n", c)
		}
		if a := i.Address; a != nil {
			writeAddress(&b, a)
		}
	}
	if f := r.Fallback; f != nil {
		fmt.Fprintf(&b, "  fallback on %s", orDash(f.NIC))
		if f.Error != "" {
			fmt.Fprintf(&b, ": failed: %s", f.Error)
		}
		b.WriteString("\n")
		if f.Address != nil {
			writeAddress(&b, f.Address)
		}
	}
	if d := r.DNS; d != nil {
		state := "unchanged"
		if d.Written {
			state = "written"
		}
		if d.Note != "" {
			state = d.Note
		}
		fmt.Fprintf(&b, "  dns      %s search %s: %s %s\n", orDash(strings.Join(d.Servers, " ")),
			orDash(strings.Join(d.Search, " ")), d.Path, state)
	}
	if u := r.Units; u != nil {
		fmt.Fprintf(&b, "  units    under %s: %d written, %d unchanged, %d removed\n", u.Root, len(u.Written),
			len(u.Unchanged), len(u.Removed))
	}
	if r.PersistError != "" {
		fmt.Fprintf(&b, "  not persisted: %s\n", r.PersistError)
	}
	if r.Networkd != "" {
		fmt.Fprintf(&b, "  systemd-networkd: %s\n", r.Networkd)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	if len(r.Teardown) > 0 {
		fmt.Fprintf(&b, "  undone:  %s\n", strings.Join(r.Teardown, "; "))
	}
	for _, e := range r.TeardownErrors {
		fmt.Fprintf(&b, "  teardown error: %s\n", e)
	}
	if r.ReportError != "" {
		fmt.Fprintf(&b, "  report not written: %s\n", r.ReportError)
	}
	io.WriteString(w, b.String())
}

func writeAddress(b *strings.Builder, a *AddressReport) {
	fmt.Fprintf(b, "           %s %s", a.Method, orDash(strings.Join(a.Addresses, " ")))
	if len(a.Routes) > 0 {
		fmt.Fprintf(b, ", routes: %s", strings.Join(a.Routes, "; "))
	}
	if a.MTU > 0 {
		fmt.Fprintf(b, ", mtu %d", a.MTU)
	}
	b.WriteString("\n")
	if l := a.Lease; l != nil && l.Address != "" {
		fmt.Fprintf(b, "           lease %s from %s for %ds, client id %s\n", l.Address, orDash(l.Server),
			l.LeaseSeconds, l.ClientID)
	}
	if len(a.Changes) == 0 {
		b.WriteString("           (no address changes)\n")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// peakRSS reads VmHWM, in KiB, from a /proc/PID/status file; 0 when it
// cannot.
func peakRSS(status string) int64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}
