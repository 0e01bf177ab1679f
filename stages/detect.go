package stages

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"

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
	cands := candidates(s.cfg, first)
	s.rep.Candidates = cands
	if len(cands) == 0 {
		s.note("no NIC can match any bond's rules; probing as found")
	}

	timeout := s.cfg.LinkTimeout()
	up, err := s.bringUpAndWait(ctx, cands, "to read its link")
	if err != nil {
		return err
	}
	for _, name := range cands {
		s.carrier[name] = up[name]
		if up[name] {
			s.note("link up", "nic", name)
		} else {
			s.note("no link within link-timeout", "nic", name, "timeout", timeout)
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
// link-timeout deadline for all. It reports which got link.
func (s *state) bringUpAndWait(ctx context.Context, names []string, why string) (map[string]bool, error) {
	for _, name := range names {
		snap, err := s.remember(name)
		if err != nil {
			return nil, err
		}
		if snap.Up {
			s.note("NIC already up", "nic", name)
			continue
		}
		if err := s.op("bringing "+name+" up "+why, func() error {
			l, err := s.k.link(name)
			if err != nil {
				return err
			}
			return s.k.h.LinkSetUp(l)
		}); err != nil {
			return nil, fmt.Errorf("bring %s up: %w", name, err)
		}
	}
	timeout := s.cfg.LinkTimeout()
	var up map[string]bool
	err := s.op(fmt.Sprintf("waiting up to %s for link on %s", timeout, strings.Join(names, ", ")), func() error {
		var err error
		up, err = s.k.waitCarrier(ctx, names, s.now().Add(timeout))
		return err
	})
	return up, err
}

// candidates returns, sorted by name, the NICs of inv that some bond of cfg
// could select once their links are up.
func candidates(cfg *netplan.Config, inv inventory.Inventory) []string {
	var out []string
	for _, nic := range inv.Interfaces {
		if couldMatch(cfg, nic) {
			out = append(out, nic.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// couldMatch reports whether any bond's ethernets entry matches nic on the
// keys that do not depend on link: speed and carrier are dropped.
func couldMatch(cfg *netplan.Config, nic inventory.NIC) bool {
	for _, bondName := range cfg.BondNames() {
		for _, id := range cfg.Network.Bonds[bondName].Interfaces {
			eth, ok := cfg.Network.Ethernets[id]
			if !ok {
				continue
			}
			if eth.Match == nil {
				if nic.Name == id {
					return true
				}
				continue
			}
			m := *eth.Match
			m.MinSpeed, m.MaxSpeed, m.Carrier = nil, nil, nil
			if ok, _ := m.Explain(nic); ok {
				return true
			}
		}
	}
	return false
}
