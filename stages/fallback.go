package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// fallbackStage runs after a failed run was torn down, when the config says
// on-failure: fallback-dhcp: DHCP on the NICs that have link, one at a time in
// a fixed order, until one gets a lease, so a remote server stays reachable.
//
// Every NIC of the inventory is a candidate, not only the bonds' members: at
// early boot all NICs are down, and the port that still reaches a DHCP server
// may be a management port no bond wanted. They are brought up together and
// given one link-timeout. The DHCP tries share one dhcp-timeout, split evenly
// among the NICs still to try, so the first NIC cannot spend it all. NICs
// other than the one that got a lease are put back as they were found.
func fallbackStage(ctx context.Context, s *state) error {
	fr := &FallbackReport{Reason: s.rep.Error}
	s.rep.Fallback = fr
	s.dns = dnsConfig{}
	s.rep.DNS = nil

	names := s.fallbackOrder()
	if len(names) == 0 {
		return errors.New("no NIC to fall back on")
	}
	up, err := s.bringUpAndWait(ctx, names, "to look for a link to fall back on")
	if err != nil {
		return err
	}
	var withLink []string
	for _, name := range names {
		if up[name] {
			withLink = append(withLink, name)
		}
	}
	if len(withLink) == 0 {
		return fmt.Errorf("none of %s has link", strings.Join(names, ", "))
	}

	deadline := s.now().Add(s.cfg.DHCPTimeout())
	var errs []error
	for i, name := range withLink {
		share := deadline.Sub(s.now()) / time.Duration(len(withLink)-i)
		if share <= 0 || ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: dhcp-timeout spent before its turn", name))
			break
		}
		s.note("falling back to DHCP on a NIC with link", "nic", name, "try", i+1, "of", len(withLink), "budget", share)
		fr.Tried = append(fr.Tried, name)
		tctx, cancel := context.WithTimeout(ctx, share)
		ar, err := s.fallbackOn(tctx, name)
		cancel()
		if err == nil {
			fr.NIC, fr.Address = name, ar
			return s.restoreAllBut(name)
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return errors.Join(errs...)
}

// fallbackOn runs DHCP on one NIC within ctx and, on a lease, applies it,
// writes DNS and persists the fallback units.
func (s *state) fallbackOn(ctx context.Context, name string) (*AddressReport, error) {
	nic, ok := s.inv.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s is not in the inventory", name)
	}
	dhcp := true
	ar, err := s.configureInterface(ctx, name, netplan.Bond{DHCP4: &dhcp})
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

// restoreAllBut puts every NIC this run touched, except keep, back as it was
// found.
func (s *state) restoreAllBut(keep string) error {
	var errs []error
	for _, name := range slices.Clone(s.nicOrder) {
		if name == keep {
			continue
		}
		if err := s.restoreNIC(s.nics[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fallbackOrder lists every NIC of the inventory in the order the fallback
// tries them: the plan's members in plan order, then the others by name.
func (s *state) fallbackOrder() []string {
	known := map[string]bool{}
	var names []string
	for _, n := range s.inv.Interfaces {
		known[n.Name] = true
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
	var out []string
	seen := map[string]bool{}
	for _, name := range order {
		if known[name] && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}
