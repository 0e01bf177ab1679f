package stages

import (
	"context"
	"fmt"

	"github.com/bondstrap/bondstrap/units"
)

// persistStage writes the systemd-networkd units for the plan under Root. It
// runs only once the network works, so a failed run leaves no units behind.
func persistStage(_ context.Context, s *state) error {
	files, err := units.Render(s.cfg, s.plan)
	if err != nil {
		return fmt.Errorf("render units: %w", err)
	}
	return s.writeUnits(files)
}

// writeUnits writes files under Root and records what changed.
func (s *state) writeUnits(files []units.File) error {
	var res units.WriteResult
	err := s.op(fmt.Sprintf("writing %d units under %s", len(files), s.opts.Root), func() error {
		var err error
		res, err = units.Write(s.opts.Root, files)
		return err
	})
	s.rep.Units = &UnitsReport{Root: s.opts.Root, Written: res.Written, Unchanged: res.Unchanged, Removed: res.Removed}
	if err != nil {
		return fmt.Errorf("write units: %w", err)
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
