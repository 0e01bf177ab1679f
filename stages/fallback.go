package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// fallbackStage runs after a failed run was torn down, when the config says
// on-failure: fallback-dhcp: DHCP on the NICs that have link, one at a time in
// a fixed order, until one gets a lease, so a remote server stays reachable.
// It works whatever stage failed: without an inventory (detect failed) it
// probes again, and without a probe it takes the kernel's Ethernet links.
//
// Every NIC is a candidate, not only the bonds' members: at early boot all
// NICs are down, and the port that still reaches a DHCP server may be a
// management port no bond wanted. They are brought up together and given
// one link-timeout. The DHCP tries share one dhcp-timeout, split evenly
// among the NICs still to try, so the first NIC cannot spend it all; all of
// it within the run's deadline. NICs other than the one that got a lease are
// put back as they were found.
//
// The fallback's network is for this boot only: its unit goes to
// /run/systemd/network (systemd-networkd keeps the lease until the reboot),
// the persisted bond units are left as they are, and the run exits 3, so a
// first-boot unit tries the bonds again on the next boot.
func fallbackStage(ctx context.Context, s *state) error {
	fr := &FallbackReport{Reason: s.rep.Error}
	s.rep.Fallback = fr
	s.dns = dnsConfig{}
	s.rep.DNS = nil
	s.mainDeadline = s.deadline

	names, err := s.fallbackOrder(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return errors.New("no NIC to fall back on")
	}
	up, err := s.bringUpAndWait(ctx, names, "to look for a link to fall back on", nil)
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

	deadline := s.until(s.cfg.DHCPTimeout())
	var errs []error
	for i, name := range withLink {
		share := time.Until(deadline) / time.Duration(len(withLink)-i)
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
			return s.putBackAllBut(ctx, names, name)
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return errors.Join(errs...)
}

// fallbackOn runs DHCP on one NIC within ctx and, on a lease, applies it,
// writes DNS and the fallback unit for this boot.
func (s *state) fallbackOn(ctx context.Context, name string) (*AddressReport, error) {
	dhcp := true
	ar, err := s.configureInterface(ctx, name, netplan.Addressing{DHCP4: &dhcp})
	if err != nil {
		return ar, err
	}
	if err := s.writeDNS(); err != nil {
		return ar, err
	}
	nic, ok := s.inv.Lookup(name)
	if !ok {
		l, err := s.k.Link(ctx, name)
		if err != nil {
			return ar, err
		}
		nic = inventory.NIC{Name: name, MAC: l.MAC.String(), PermanentMAC: l.PermMAC.String()}
	}
	files, err := units.RenderFallback(nic)
	if err == nil {
		err = s.op("writing the fallback unit under "+s.opts.RuntimeRoot+" for this boot only", func() error {
			res, err := units.Add(s.opts.RuntimeRoot, units.Runtime, files)
			s.rep.Fallback.Units = res.Written
			return err
		})
	}
	if err == nil {
		err = s.enableNetworkd(s.opts.RuntimeRoot, units.Runtime)
	}
	if err != nil {
		// The address works; only keeping it after bondstrap exits is lost.
		s.warn("the fallback network is up, but its unit was not written: nothing renews the lease", "error", err)
	}
	return ar, nil
}

// putBackAllBut puts every NIC the fallback brought up, except keep, back as
// it was found.
func (s *state) putBackAllBut(ctx context.Context, names []string, keep string) error {
	var errs []error
	for _, name := range names {
		if name != keep {
			errs = append(errs, s.undoNIC(ctx, name))
		}
	}
	return errors.Join(errs...)
}

// fallbackOrder lists the NICs the fallback tries, in order: the plan's
// members in plan order, then the others by name. Without an inventory (the
// run failed in detect) it probes; without a probe, it takes the kernel's
// Ethernet links that are neither virtual nor enslaved.
func (s *state) fallbackOrder(ctx context.Context) ([]string, error) {
	var names []string
	if len(s.inv.Interfaces) == 0 {
		inv, err := s.opts.Inventory(ctx)
		if err == nil {
			s.inv = inv
		} else {
			s.warn("fallback: probing the NICs failed; taking the kernel's Ethernet links", "error", err)
		}
	}
	if len(s.inv.Interfaces) > 0 {
		for _, n := range s.inv.Interfaces {
			names = append(names, n.Name)
		}
	} else {
		links, err := s.k.Links(ctx)
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		for _, l := range links {
			if l.Kind == "" && l.EncapType == "ether" && l.Master == "" {
				names = append(names, l.Name)
			}
		}
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
	for _, name := range order {
		if slices.Contains(names, name) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}
