package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/units"
)

// Outcomes of Down besides OutcomeOK and OutcomeFailed.
const (
	// OutcomeNothing: the report's record was torn down already.
	OutcomeNothing = "nothing to do"
)

// ErrNoDownRecord is matched by the error of Down when the report has no
// record of the machine as it was (written by a bondstrap before down
// existed).
var ErrNoDownRecord = errors.New("the report has no record of the machine before apply")

// ErrOtherBoot is matched by the error of Down when the report is from
// another boot: its links, indexes and states are not this boot's.
var ErrOtherBoot = errors.New("the report is from another boot")

// DownOptions configure Down. The zero value is usable.
type DownOptions struct {
	// Kernel is the kernel to change; nil opens the one of the calling
	// thread's network namespace.
	Kernel kernel.Kernel
	// Logger receives the numbered operations; nil discards them.
	Logger *slog.Logger
	// Out receives the human summary; nil discards it.
	Out io.Writer
	// Now is the clock; nil means time.Now. Addresses put back get what is
	// left of their lifetimes by it.
	Now func() time.Time

	// RemoveUnits removes every bondstrap unit from where the report says
	// apply wrote them (units.Remove), and the fallback's from
	// RuntimeRoot's /run. Without it the units stay, and bring the
	// network back on the next boot.
	RemoveUnits bool
	// Root, when set, is where the units are instead of the report's root:
	// an initramfs wrote under /sysroot what is under / after switch_root.
	Root string
	// RuntimeRoot is the running system's root ("/" by default), under
	// whose /run the fallback's units are.
	RuntimeRoot string
	// ReportPath, when set, is where the report is written back with its
	// down record marked torn down (the report Down was given, read from
	// there): a second down then has nothing to do, and the next apply
	// does not carry the record forward.
	ReportPath string
}

// DownReport is what Down did.
type DownReport struct {
	Started  time.Time `json:"started"`
	Duration Millis    `json:"duration_ms"`
	// Outcome is "ok", "failed" or "nothing to do".
	Outcome string `json:"outcome"`
	// Deleted are the links apply made, deleted, in order.
	Deleted []string `json:"deleted,omitempty"`
	// Removed are the addresses and routes found on the links apply
	// changed that were not there before it.
	Removed []string `json:"removed,omitempty"`
	// Renamed are the NICs given their names back ("mgmt0 → eth2").
	Renamed []string `json:"renamed,omitempty"`
	// Restored are the links put back as found.
	Restored []string     `json:"restored,omitempty"`
	DNS      string       `json:"dns,omitempty"`
	Units    *UnitsReport `json:"units,omitempty"`
	Notes    []string     `json:"notes,omitempty"`
	Errors   []string     `json:"errors,omitempty"`
}

// ReadReport reads a report as apply writes it.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	return &r, nil
}

// Down tears down what apply built on this machine, from its report: the
// bridges and VLANs it made (the last made first), then its bonds (their
// ports released), the addresses and routes on the links it changed that
// were not there before (static, DHCP, SLAAC), the NICs it renamed given
// their names back, and every link it changed put back as it was (master,
// MTU, MAC, admin state, a converted bond's mode and options, bridge port
// settings, LRO, IPv6 settings, and the addresses and routes the kernel
// flushed). The resolver file it wrote is put back while it still says
// what apply wrote; with RemoveUnits its units are removed.
//
// Every change is a numbered operation, as in apply. Down goes on past
// errors, so one stuck step does not leave the rest up, and returns them
// all. DHCP leases are not released: the server keeps them until they
// expire. A systemd-networkd that still runs with bondstrap's units may
// configure the links again: stop it, or remove the units.
func Down(ctx context.Context, rep *Report, opts DownOptions) (*DownReport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RuntimeRoot == "" {
		opts.RuntimeRoot = DefaultRoot
	}
	rec := rep.Down
	switch {
	case rec == nil:
		return nil, ErrNoDownRecord
	case rec.BootID != readBootID():
		return nil, fmt.Errorf("%w (boot %s, this is %s): bondstrap down undoes an apply of this boot only",
			ErrOtherBoot, orDash(rec.BootID), orDash(readBootID()))
	}
	log := opts.Logger.With("stage", "down")
	// The operation log is apply's: a state with only what op needs.
	s := &state{opts: Options{Now: opts.Now}, base: log, log: log, k: opts.Kernel}
	dr := &DownReport{Started: s.now()}
	if !rec.TornDown.IsZero() {
		dr.Outcome = OutcomeNothing
		s.note("the report's record was torn down already; nothing to do", "at", rec.TornDown)
		dr.Notes = append(dr.Notes, "torn down already at "+rec.TornDown.Format(time.RFC3339))
		writeDownSummary(opts.Out, dr)
		return dr, nil
	}
	if s.k == nil {
		k, err := kernel.Open(opts.Logger)
		if err != nil {
			return nil, err
		}
		defer k.Close()
		s.k = k
	}
	s.log.Info("down started", "report_started", rep.Started, "outcome", rep.Outcome)

	d := &downRun{state: s, rec: rec, dr: dr}
	d.deleteCreated(ctx)
	d.removeExcess(ctx)
	d.renameBack(ctx)
	d.restore(ctx)
	d.restoreDNS()
	if opts.RemoveUnits {
		d.removeUnits(rep, opts)
	}

	dr.Duration = Millis(s.now().Sub(dr.Started))
	var err error
	if len(d.errs) > 0 {
		dr.Outcome = OutcomeFailed
		err = fmt.Errorf("down: %w", errors.Join(d.errs...))
	} else {
		dr.Outcome = OutcomeOK
	}
	if opts.ReportPath != "" && err == nil {
		if werr := markTornDown(opts.ReportPath, rep, s.now()); werr != nil {
			s.log.Warn("the report was not marked torn down", "path", opts.ReportPath, "error", werr)
			dr.Notes = append(dr.Notes, "report not marked torn down: "+werr.Error())
		}
	}
	s.log.Info("down finished", "outcome", dr.Outcome, "duration", time.Duration(dr.Duration))
	writeDownSummary(opts.Out, dr)
	return dr, err
}

// downRun is one Down: apply's operation log, the record, and what it did.
type downRun struct {
	*state
	rec  *DownState
	dr   *DownReport
	errs []error
}

func (d *downRun) fail(err error) {
	if err != nil {
		d.errs = append(d.errs, err)
		d.dr.Errors = append(d.dr.Errors, err.Error())
	}
}

func (d *downRun) links(ctx context.Context) []kernel.Link {
	links, err := d.k.Links(ctx)
	d.fail(err)
	return links
}

// deleteCreated deletes the links apply made, the last made first (a
// bridge before the bond in it, a VLAN before its parent). A link of that
// name that is not the one apply made (another index or kind) is left.
func (d *downRun) deleteCreated(ctx context.Context) {
	links := d.links(ctx)
	for _, c := range slices.Backward(d.rec.Created) {
		i := slices.IndexFunc(links, func(l kernel.Link) bool { return l.Name == c.Name })
		switch {
		case i < 0:
			d.note("already gone", "link", c.Name)
			continue
		case links[i].Kind != c.Kind || (c.Index != 0 && links[i].Index != c.Index):
			msg := fmt.Sprintf("%s is not the %s apply made (now a %s link, index %d); left alone", c.Name, c.Kind,
				kindName(links[i].Kind), links[i].Index)
			d.log.Warn(msg)
			d.dr.Notes = append(d.dr.Notes, msg)
			continue
		}
		if err := d.op(fmt.Sprintf("deleting %s %s", c.Kind, c.Name), func() error {
			return d.k.DeleteLink(ctx, c.Name)
		}); err != nil {
			d.fail(fmt.Errorf("delete %s: %w", c.Name, err))
			continue
		}
		d.dr.Deleted = append(d.dr.Deleted, c.Name)
	}
}

// current maps the record's links to the links there are now, by index:
// a NIC apply renamed is found under its new name.
func (d *downRun) current(links []kernel.Link) map[string]kernel.Link {
	out := map[string]kernel.Link{}
	if d.rec.Before == nil {
		return out
	}
	for _, want := range d.rec.Before.Links {
		i := slices.IndexFunc(links, func(l kernel.Link) bool { return l.Index == want.Index })
		if i < 0 || (len(want.PermMAC) > 0 && links[i].PermMAC.String() != want.PermMAC.String()) {
			continue
		}
		out[want.Name] = links[i]
	}
	return out
}

// removeExcess removes from the links apply changed the addresses and
// routes they did not have before it: what apply set, what DHCP and router
// advertisements gave. The kernel's own (IPv6 link-local addresses, the
// prefix routes of addresses) go with their links' state or addresses.
func (d *downRun) removeExcess(ctx context.Context) {
	before := d.rec.Before
	if before == nil {
		return
	}
	cur := d.current(d.links(ctx))
	oldName := map[string]string{}
	for name, l := range cur {
		oldName[l.Name] = name
	}
	routes, err := d.k.Routes(ctx)
	d.fail(err)
	for _, r := range routes {
		name, ok := oldName[r.Link]
		if !ok || r.Protocol == kernel.ProtoKernel || kernel.IsLinkLocal(r.Dst) {
			continue
		}
		was := r
		was.Link = name
		if slices.ContainsFunc(before.Routes, func(b kernel.Route) bool {
			return b.Key() == was.Key() && b.Link == was.Link && b.Gw == was.Gw
		}) {
			continue
		}
		desc := fmt.Sprintf("route %s via %v dev %s", r.Dst, r.Gw, r.Link)
		if err := d.op("removing "+desc, func() error { _, err := d.k.DelRoute(ctx, r); return err }); err != nil {
			d.fail(fmt.Errorf("remove %s: %w", desc, err))
			continue
		}
		d.dr.Removed = append(d.dr.Removed, desc)
	}
	addrs, err := d.k.Addrs(ctx)
	d.fail(err)
	for _, a := range addrs {
		name, ok := oldName[a.Link]
		if !ok || kernel.IsLinkLocal(a.Prefix) ||
			slices.ContainsFunc(before.Addrs, func(b kernel.Addr) bool { return b.Link == name && b.Prefix == a.Prefix }) {
			continue
		}
		desc := fmt.Sprintf("address %s dev %s", a.Prefix, a.Link)
		if err := d.op("removing "+desc, func() error { _, err := d.k.DelAddr(ctx, a); return err }); err != nil {
			d.fail(fmt.Errorf("remove %s: %w", desc, err))
			continue
		}
		d.dr.Removed = append(d.dr.Removed, desc)
	}
}

// renameBack gives the links apply renamed their names back; a link must
// be down to be renamed (restore brings it up again if it was).
func (d *downRun) renameBack(ctx context.Context) {
	if d.rec.Before == nil {
		return
	}
	cur := d.current(d.links(ctx))
	for _, want := range d.rec.Before.Links {
		have, ok := cur[want.Name]
		if !ok || have.Name == want.Name {
			continue
		}
		desc := fmt.Sprintf("renaming %s back to %s", have.Name, want.Name)
		if err := d.op(desc, func() error {
			if have.Up {
				if _, err := d.k.SetUp(ctx, have.Name, false); err != nil {
					return err
				}
			}
			_, err := d.k.Rename(ctx, have.Name, want.Name)
			return err
		}); err != nil {
			d.fail(fmt.Errorf("rename %s back to %s: %w", have.Name, want.Name, err))
			continue
		}
		d.dr.Renamed = append(d.dr.Renamed, have.Name+" → "+want.Name)
	}
}

// restore puts every link of the record back as it was found.
func (d *downRun) restore(ctx context.Context) {
	before := d.rec.Before
	if before == nil || len(before.Links) == 0 {
		return
	}
	names := make([]string, len(before.Links))
	for i, l := range before.Links {
		names[i] = l.Name
	}
	if err := d.op(fmt.Sprintf("restoring %v as found (master, MTU, MAC, state, LRO, IPv6, addresses, routes)", names), func() error {
		return before.Restore(ctx, d.k, d.now())
	}); err != nil {
		d.fail(fmt.Errorf("restore: %w", err))
		return
	}
	d.dr.Restored = names
}

// restoreDNS puts the resolver file back as it was before apply wrote it,
// unless something else has written it since.
func (d *downRun) restoreDNS() {
	rc := d.rec.ResolvConf
	if rc == nil {
		return
	}
	now, err := os.ReadFile(rc.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.fail(fmt.Errorf("read %s: %w", rc.Path, err))
		return
	}
	if !bytes.Equal(now, []byte(rc.Written)) {
		d.dr.DNS = rc.Path + " changed since apply wrote it; left as it is"
		d.note("resolver file changed since apply wrote it; left alone", "path", rc.Path)
		return
	}
	verb := "restoring " + rc.Path + " as it was before apply"
	if !rc.Existed {
		verb = "removing " + rc.Path + ", which apply made"
	}
	if err := d.op(verb, func() error {
		if !rc.Existed {
			return os.Remove(rc.Path)
		}
		return writeFileAtomic(rc.Path, []byte(rc.Content), 0o644)
	}); err != nil {
		d.fail(fmt.Errorf("resolver file %s: %w", rc.Path, err))
		return
	}
	d.dr.DNS = "restored " + rc.Path
	if !rc.Existed {
		d.dr.DNS = "removed " + rc.Path
	}
}

// removeUnits removes bondstrap's units where apply wrote them, and the
// fallback's.
func (d *downRun) removeUnits(rep *Report, opts DownOptions) {
	type place struct {
		root   string
		layout units.Layout
	}
	var places []place
	if u := rep.Units; u != nil && u.Root != "" {
		p := place{root: u.Root, layout: units.Persistent}
		if opts.Root != "" {
			p.root = opts.Root
		}
		if slices.ContainsFunc(append(slices.Clone(u.Written), u.Unchanged...), func(f string) bool {
			return strings.HasPrefix(f, "run/")
		}) {
			p.layout = units.Runtime
		}
		places = append(places, p)
	}
	if f := rep.Fallback; f != nil && len(f.Units) > 0 {
		p := place{root: opts.RuntimeRoot, layout: units.Runtime}
		if !slices.Contains(places, p) {
			places = append(places, p)
		}
	}
	d.dr.Units = &UnitsReport{}
	for _, p := range places {
		var res units.WriteResult
		if err := d.op("removing bondstrap's units under "+p.root, func() error {
			var err error
			res, err = units.Remove(p.root, p.layout)
			return err
		}); err != nil {
			d.fail(fmt.Errorf("remove units under %s: %w", p.root, err))
		}
		d.dr.Units.Root = p.root
		d.dr.Units.Removed = append(d.dr.Units.Removed, res.Removed...)
	}
}

// markTornDown writes the report back to path with its record marked torn
// down at when.
func markTornDown(path string, rep *Report, when time.Time) error {
	marked := *rep
	rec := *rep.Down
	rec.TornDown = when
	marked.Down = &rec
	data, err := json.MarshalIndent(&marked, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return writeFileAtomic(path, append(data, '\n'), 0o644)
}

// writeDownSummary prints what Down did for a person at the console.
func writeDownSummary(w io.Writer, dr *DownReport) {
	var b strings.Builder
	fmt.Fprintf(&b, "bondstrap down: %s in %s\n", dr.Outcome, time.Duration(dr.Duration).Round(time.Millisecond))
	for _, l := range []struct {
		what  string
		items []string
	}{
		{"deleted", dr.Deleted}, {"removed", dr.Removed}, {"renamed", dr.Renamed}, {"restored", dr.Restored},
	} {
		if len(l.items) > 0 {
			fmt.Fprintf(&b, "  %-9s %s\n", l.what, strings.Join(l.items, ", "))
		}
	}
	if dr.DNS != "" {
		fmt.Fprintf(&b, "  dns       %s\n", dr.DNS)
	}
	if u := dr.Units; u != nil {
		fmt.Fprintf(&b, "  units     %d removed\n", len(u.Removed))
	}
	for _, n := range dr.Notes {
		fmt.Fprintf(&b, "  note:     %s\n", n)
	}
	for _, e := range dr.Errors {
		fmt.Fprintf(&b, "  error:    %s\n", e)
	}
	io.WriteString(w, b.String())
}
