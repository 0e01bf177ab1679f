package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// fallbackStage runs after a failed run was torn down, when the config says
// on-failure: fallback-dhcp: DHCP on the first NIC that has link, so a remote
// server stays reachable. It tries one NIC, not each in turn: every try may
// cost a whole dhcp-timeout.
func fallbackStage(ctx context.Context, s *state) error {
	fr := &FallbackReport{Reason: s.rep.Error}
	s.rep.Fallback = fr
	s.dns = dnsConfig{}
	s.rep.DNS = nil

	nic, ok := s.fallbackNIC()
	if !ok {
		return errors.New("no NIC had link during detect")
	}
	fr.NIC = nic.Name
	s.note("falling back to DHCP on the first NIC with link", "nic", nic.Name)

	snap, err := s.remember(nic.Name)
	if err != nil {
		return err
	}
	if !snap.Up {
		if err := s.op("bringing "+nic.Name+" up", func() error {
			l, err := s.k.link(nic.Name)
			if err != nil {
				return err
			}
			return s.k.h.LinkSetUp(l)
		}); err != nil {
			return err
		}
	}
	timeout := s.cfg.LinkTimeout()
	var up map[string]bool
	if err := s.op(fmt.Sprintf("waiting up to %s for link on %s", timeout, nic.Name), func() error {
		var err error
		up, err = s.k.waitCarrier(ctx, []string{nic.Name}, s.now().Add(timeout))
		return err
	}); err != nil {
		return err
	}
	if !up[nic.Name] {
		return fmt.Errorf("%s lost its link", nic.Name)
	}

	dhcp := true
	ar, err := s.configureInterface(ctx, nic.Name, netplan.Bond{DHCP4: &dhcp})
	fr.Address = ar
	if err != nil {
		return err
	}
	if err := s.writeDNS(); err != nil {
		return err
	}
	files, err := units.RenderFallback(nic)
	if err != nil {
		return fmt.Errorf("render fallback units: %w", err)
	}
	return s.writeUnits(files)
}

// fallbackNIC picks the NIC to fall back on, deterministically: the first
// with link among the plan's members in plan order, then among all NICs by
// name.
func (s *state) fallbackNIC() (detect.NIC, bool) {
	byName := map[string]detect.NIC{}
	var names []string
	for _, n := range s.inv.Interfaces {
		byName[n.Name] = n
		names = append(names, n.Name)
	}
	slices.Sort(names)
	var order []string
	if s.plan != nil {
		for _, b := range s.plan.Bonds {
			order = append(order, b.Members...)
		}
	}
	order = append(order, names...)
	for _, name := range order {
		n, ok := byName[name]
		if !ok {
			continue
		}
		if s.carrier[name] || n.Carrier {
			return n, true
		}
	}
	return detect.NIC{}, false
}
