package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// fallbackStage runs after a failed run was torn down, when the config says
// on-failure: fallback-dhcp: DHCP on the NICs that have link, one at a time in
// a fixed order, until one gets a lease, so a remote server stays reachable.
// All tries share one dhcp-timeout, split evenly among the NICs still to try:
// a bond may have failed because its uplinks have no DHCP server while a
// management port has one, and the fallback must not spend the whole deadline
// on the first NIC.
func fallbackStage(ctx context.Context, s *state) error {
	fr := &FallbackReport{Reason: s.rep.Error}
	s.rep.Fallback = fr
	s.dns = dnsConfig{}
	s.rep.DNS = nil

	nics := s.fallbackNICs()
	if len(nics) == 0 {
		return errors.New("no NIC had link during detect")
	}
	deadline := s.now().Add(s.cfg.DHCPTimeout())
	var errs []error
	for i, nic := range nics {
		share := deadline.Sub(s.now()) / time.Duration(len(nics)-i)
		if share <= 0 {
			errs = append(errs, fmt.Errorf("%s: dhcp-timeout spent before its turn", nic.Name))
			break
		}
		s.note("falling back to DHCP on a NIC with link", "nic", nic.Name, "try", i+1, "of", len(nics), "budget", share)
		fr.Tried = append(fr.Tried, nic.Name)
		tctx, cancel := context.WithTimeout(ctx, share)
		ar, err := s.fallbackOn(tctx, nic)
		cancel()
		if err == nil {
			fr.NIC, fr.Address = nic.Name, ar
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", nic.Name, err))
		if ctx.Err() != nil {
			break
		}
		if snap, ok := s.nics[nic.Name]; ok {
			// Put the NIC back before the next one is tried, so the host ends
			// with one NIC configured, not one configured and others half up.
			if err := s.restoreNIC(snap); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// fallbackOn brings nic up, waits for its link, runs DHCP on it within ctx,
// and on a lease applies it, writes DNS and persists the fallback units.
func (s *state) fallbackOn(ctx context.Context, nic detect.NIC) (*AddressReport, error) {
	snap, err := s.remember(nic.Name)
	if err != nil {
		return nil, err
	}
	if !snap.Up {
		if err := s.op("bringing "+nic.Name+" up", func() error {
			l, err := s.k.link(nic.Name)
			if err != nil {
				return err
			}
			return s.k.h.LinkSetUp(l)
		}); err != nil {
			return nil, err
		}
	}
	timeout := s.cfg.LinkTimeout()
	var up map[string]bool
	if err := s.op(fmt.Sprintf("waiting up to %s for link on %s", timeout, nic.Name), func() error {
		var err error
		up, err = s.k.waitCarrier(ctx, []string{nic.Name}, s.now().Add(timeout))
		return err
	}); err != nil {
		return nil, err
	}
	if !up[nic.Name] {
		return nil, fmt.Errorf("%s lost its link", nic.Name)
	}

	dhcp := true
	ar, err := s.configureInterface(ctx, nic.Name, netplan.Bond{DHCP4: &dhcp})
	if err != nil {
		return ar, err
	}
	if err := s.writeDNS(); err != nil {
		return ar, err
	}
	files, err := units.RenderFallback(nic)
	if err != nil {
		return ar, fmt.Errorf("render fallback units: %w", err)
	}
	return ar, s.writeUnits(files)
}

// fallbackNICs lists the NICs to fall back on, deterministically: those with
// link among the plan's members in plan order, then the others by name.
func (s *state) fallbackNICs() []detect.NIC {
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
	var nics []detect.NIC
	seen := map[string]bool{}
	for _, name := range order {
		n, ok := byName[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		if s.carrier[name] || n.Carrier {
			nics = append(nics, n)
		}
	}
	return nics
}
