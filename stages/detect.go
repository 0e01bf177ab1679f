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

	up, err := s.bringUpAndWait(ctx, cands, "to read its link", enoughLinks(s.cfg, first, cands))
	if err != nil {
		return err
	}
	for _, name := range cands {
		s.carrier[name] = up[name]
		if up[name] {
			s.note("link up", "nic", name)
		} else {
			s.note("no link (link-timeout, or link-settle once enough NICs had link)", "nic", name,
				"link_timeout", s.cfg.LinkTimeout(), "link_settle", s.cfg.LinkSettle())
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
//
// enough, when not nil, ends the wait early: once it holds for the links up
// so far, the others get bondstrap.link-settle more, then the wait ends. An
// unplugged candidate NIC then costs every boot link-settle, not
// link-timeout.
func (s *state) bringUpAndWait(ctx context.Context, names []string, why string, enough func(up map[string]bool) bool) (map[string]bool, error) {
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
	if enough == nil {
		var up map[string]bool
		err := s.op(fmt.Sprintf("waiting up to %s for link on %s", time.Until(deadline).Round(100*time.Millisecond),
			strings.Join(names, ", ")), func() error {
			var err error
			up, err = s.k.WaitCarrier(ctx, names, deadline)
			return err
		})
		return up, err
	}
	settle := s.cfg.LinkSettle()
	var settledAt time.Time // when enough first held
	up := make(map[string]bool, len(names))
	look := func(links []kernel.Link) bool {
		all := true
		for _, n := range names {
			up[n] = false
			for _, l := range links {
				if l.Name == n {
					up[n] = l.Carrier
				}
			}
			all = all && up[n]
		}
		if all {
			return true
		}
		if !enough(up) {
			settledAt = time.Time{}
			return false
		}
		if settledAt.IsZero() {
			settledAt = time.Now()
		}
		return time.Since(settledAt) >= settle
	}
	err := s.op(fmt.Sprintf("waiting up to %s for link on %s (%s more once every bond has enough)",
		time.Until(deadline).Round(100*time.Millisecond), strings.Join(names, ", "), settle), func() error {
		links, _, err := s.k.WaitFor(ctx, deadline, look)
		if err == nil {
			look(links)
		}
		return err
	})
	return up, err
}

// enoughLinks is the early end of detect's wait: every bond has at least
// min-members candidates with link, and every standalone ethernets id one.
func enoughLinks(cfg *netplan.Config, inv inventory.Inventory, cands []string) func(up map[string]bool) bool {
	type need struct {
		ids []string
		min int
	}
	var needs []need
	for _, name := range cfg.BondNames() {
		b := cfg.Network.Bonds[name]
		needs = append(needs, need{ids: b.Interfaces, min: b.MinMembersOrDefault()})
	}
	for _, id := range cfg.Standalone() {
		needs = append(needs, need{ids: []string{id}, min: 1})
	}
	// The candidates each need counts, decided once.
	counted := make([][]string, len(needs))
	for i, n := range needs {
		for _, nic := range inv.Interfaces {
			if slices.Contains(cands, nic.Name) && slices.ContainsFunc(n.ids, func(id string) bool { return matchesIgnoringLink(cfg, id, nic) }) {
				counted[i] = append(counted[i], nic.Name)
			}
		}
	}
	return func(up map[string]bool) bool {
		for i, n := range needs {
			have := 0
			for _, name := range counted[i] {
				if up[name] {
					have++
				}
			}
			if have < n.min {
				return false
			}
		}
		return true
	}
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
	if m.Name == "" && m.MACAddress == "" && len(m.Driver) == 0 && len(m.PCIID) == 0 && m.BootIF == nil {
		return true
	}
	ok, _ = m.Explain(nic)
	return ok
}
