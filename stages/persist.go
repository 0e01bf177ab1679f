package stages

import (
	"context"
	"fmt"

	"github.com/bondstrap/bondstrap/units"
)

// persistStage writes the systemd-networkd units (and the udev rules for what
// networkd cannot set) for the plan under Root, and makes sure
// systemd-networkd runs there to keep them: it is what renews the DHCP lease
// once bondstrap exits, and what brings the bonds back on every boot. It runs
// only once the network works.
//
// Rendering cannot fail here for a config that validated (validation renders
// the same values). Writing can: a read-only or full root. Then the network
// stays up for this boot, the units go to /run/systemd/network instead, and
// the run is degraded (exit 3): tearing down a working network over a disk
// would strand the server for nothing, and a first-boot unit tries again on
// the next boot.
func persistStage(_ context.Context, s *state) error {
	files, err := units.Render(s.cfg, s.plan)
	if err != nil {
		return fmt.Errorf("render units: %w", err)
	}
	err = s.writeUnits(s.opts.Root, s.opts.Layout, files)
	if err == nil {
		return s.enableNetworkd(s.opts.Root, s.opts.Layout)
	}
	if s.opts.Layout == units.Runtime {
		return err
	}
	s.rep.PersistError = err.Error()
	s.warn("units not persisted under "+s.opts.Root+"; written for this boot only", "error", err)
	if rerr := s.writeUnits(s.opts.RuntimeRoot, units.Runtime, files); rerr != nil {
		return fmt.Errorf("%w; for this boot only, too: %w", err, rerr)
	}
	if rerr := s.enableNetworkd(s.opts.RuntimeRoot, units.Runtime); rerr != nil {
		s.warn("systemd-networkd not enabled for this boot", "error", rerr)
	}
	return nil
}

// writeUnits writes files under root and records what changed.
func (s *state) writeUnits(root string, l units.Layout, files []units.File) error {
	var res units.WriteResult
	err := s.op(fmt.Sprintf("writing %d units under %s", len(files), root), func() error {
		var err error
		res, err = units.Write(root, l, files)
		return err
	})
	s.rep.Units = &UnitsReport{Root: root, Written: res.Written, Unchanged: res.Unchanged, Removed: res.Removed}
	if err != nil {
		return err
	}
	for _, p := range res.Written {
		s.note("unit written", "path", p)
	}
	for _, p := range res.Removed {
		s.note("stale unit removed", "path", p)
	}
	if len(res.Written) == 0 && len(res.Removed) == 0 {
		s.note("units already up to date", "unchanged", len(res.Unchanged))
	}
	return nil
}

// enableNetworkd makes systemd-networkd run on the system under root (for
// this boot only with the Runtime layout). A root without networkd keeps the
// network only until the lease expires: that is a warning in the report, not
// a failure, since a static address or an image build may not need it.
func (s *state) enableNetworkd(root string, l units.Layout) error {
	var state units.NetworkdState
	var made []string
	err := s.op("making sure systemd-networkd runs under "+root, func() error {
		var err error
		state, made, err = units.EnableNetworkd(root, l)
		return err
	})
	if err != nil {
		return err
	}
	s.rep.Networkd = string(state)
	for _, m := range made {
		s.note("enabled systemd-networkd", "link", m)
	}
	switch state {
	case units.NetworkdNotInstalled:
		s.warn("systemd-networkd is not installed under " + root +
			": the units will not be read, and a DHCP lease expires when nobody renews it")
	case units.NetworkdMasked:
		s.warn("systemd-networkd is masked under " + root + ": the units will not be read; unmask it to keep the network")
	}
	return nil
}
