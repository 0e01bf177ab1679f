package stages

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
)

// detectStage finds the NICs, brings the candidates up and waits for their
// links, then probes again: at early boot every NIC is down, and a NIC
// reports its speed only once its link has negotiated.
//
// A candidate is a NIC that some bond could take once it has link: its name,
// MAC, driver and PCI ID match one of the bond's ethernets entries (speed and
// carrier rules are left for select, after the wait). One deadline,
// link-timeout, covers all of them; NICs that never get link are reported as
// such, and select sees them without carrier or speed.
func detectStage(ctx context.Context, s *state) error {
	first, err := s.opts.Inventory(ctx)
	if err != nil {
		return fmt.Errorf("probe NICs: %w", err)
	}
	s.inv = first
	cands := candidates(s.cfg, first)
	s.rep.Candidates = cands
	if len(cands) == 0 {
		s.note("no NIC can match any bond's rules; probing as found")
	}

	up, err := s.bringUpAndWait(ctx, cands, "to read its link")
	if err != nil {
		return err
	}
	for _, name := range cands {
		s.carrier[name] = up[name]
		if up[name] {
			s.note("link up", "nic", name)
		} else {
			s.note("no link within link-timeout", "nic", name, "timeout", s.cfg.LinkTimeout())
			s.rep.NoLink = append(s.rep.NoLink, name)
		}
	}

	inv, err := s.opts.Inventory(ctx)
	if err != nil {
		return fmt.Errorf("probe NICs after link: %w", err)
	}
	// The kernel is the authority on carrier; a probe may have raced the
	// event.
	for i := range inv.Interfaces {
		n := &inv.Interfaces[i]
		if s.carrier[n.Name] {
			n.Carrier = true
		}
		s.note("NIC", "nic", n.Name, "pci", n.PCIID(), "driver", n.Driver, "speed_mbps", n.SpeedMbps,
			"carrier", n.Carrier, "mac", n.HardwareMAC())
	}
	s.inv = inv
	s.rep.Inventory = &s.inv
	return nil
}

// bringUpAndWait brings each NIC of names up that is down (remembering how it
// was found, for teardown) and waits for their links on netlink events, one
// link-timeout deadline for all, within the run's. It reports which got link.
func (s *state) bringUpAndWait(ctx context.Context, names []string, why string) (map[string]bool, error) {
	if len(names) == 0 {
		return map[string]bool{}, nil
	}
	if err := s.remember(ctx, names...); err != nil {
		return nil, err
	}
	for _, name := range names {
		l, err := s.k.Link(ctx, name)
		if err != nil {
			return nil, err
		}
		if l.Up {
			s.note("NIC already up", "nic", name)
			continue
		}
		if err := s.change("bringing "+name+" up "+why, "set "+name+" down", name, func() (kernel.Undo, error) {
			return s.k.SetUp(ctx, name, true)
		}); err != nil {
			return nil, fmt.Errorf("bring %s up: %w", name, err)
		}
	}
	deadline := s.until(s.cfg.LinkTimeout())
	var up map[string]bool
	err := s.op(fmt.Sprintf("waiting up to %s for link on %s", time.Until(deadline).Round(100*time.Millisecond),
		strings.Join(names, ", ")), func() error {
		var err error
		up, err = s.k.WaitCarrier(ctx, names, deadline)
		return err
	})
	return up, err
}

// candidates lists the NICs that could be members of some bond, or a
// standalone NIC, once their links are up: those matched by a bond's or a
// standalone ethernets entry when speed and carrier are not asked. They are
// brought up before selection.
func candidates(cfg *netplan.Config, inv inventory.Inventory) []string {
	ids := cfg.Standalone()
	for _, name := range cfg.BondNames() {
		ids = append(ids, cfg.Network.Bonds[name].Interfaces...)
	}
	var out []string
	for _, nic := range inv.Interfaces {
		if slices.ContainsFunc(ids, func(id string) bool { return matchesIgnoringLink(cfg, id, nic) }) {
			out = append(out, nic.Name)
		}
	}
	slices.Sort(out)
	return out
}

// matchesIgnoringLink reports whether the ethernets entry id would match nic
// if its speed and carrier were whatever the rule asks.
func matchesIgnoringLink(cfg *netplan.Config, id string, nic inventory.NIC) bool {
	eth, ok := cfg.Network.Ethernets[id]
	if !ok {
		return false
	}
	if eth.Match == nil {
		return nic.Name == id
	}
	m := *eth.Match
	m.MinSpeed, m.MaxSpeed, m.Carrier = nil, nil, nil
	if m.Name == "" && m.MACAddress == "" && len(m.Driver) == 0 && len(m.PCIID) == 0 {
		return true
	}
	ok, _ = m.Explain(nic)
	return ok
}
