package stages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/netplan"
)

// Bond actions in the report.
const (
	BondCreated   = "created"   // no link of that name existed
	BondRecreated = "recreated" // one existed in another mode, or refused a change
	BondUpdated   = "updated"   // the existing bond was changed in place
	BondUnchanged = "unchanged" // the existing bond already was as configured
)

// bondStage makes every planned bond as the config says, then waits for
// carrier on all of them with one deadline.
func bondStage(ctx context.Context, s *state) error {
	for _, bp := range s.plan.Bonds {
		br := &BondReport{Name: bp.Name, Mode: modeOf(bp), Members: bp.Members, Primary: bp.Primary}
		s.rep.Bonds = append(s.rep.Bonds, br)
		if err := s.ensureBond(bp, br); err != nil {
			br.Action = "failed"
			return fmt.Errorf("%s: %w", bp.Name, err)
		}
		if br.Action == "" {
			br.Action = BondUnchanged
			if len(br.Changes) > 0 {
				br.Action = BondUpdated
			}
		}
		if br.Action == BondUnchanged {
			s.note("bond already as configured: no changes", "bond", bp.Name)
		}
	}

	names := make([]string, 0, len(s.plan.Bonds))
	for _, bp := range s.plan.Bonds {
		names = append(names, bp.Name)
	}
	timeout := s.cfg.LinkTimeout()
	var up map[string]bool
	if err := s.op(fmt.Sprintf("waiting up to %s for carrier on %s", timeout, strings.Join(names, ", ")), func() error {
		var err error
		up, err = s.k.waitCarrier(ctx, names, s.now().Add(timeout))
		return err
	}); err != nil {
		return err
	}
	var missing []string
	for _, br := range s.rep.Bonds {
		br.Carrier = up[br.Name]
		if l, err := s.k.link(br.Name); err == nil {
			br.MAC = l.Attrs().HardwareAddr.String()
			br.MTU = l.Attrs().MTU
		}
		if !br.Carrier {
			missing = append(missing, br.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no carrier on %s within link-timeout %s (%s)", strings.Join(missing, ", "), timeout,
			s.memberLinks(missing))
	}
	return nil
}

func modeOf(bp netplan.BondPlan) string {
	if bp.Mode == "" {
		return "balance-rr"
	}
	return bp.Mode
}

// memberLinks describes the carrier of the members of the named bonds, for an
// error message.
func (s *state) memberLinks(bonds []string) string {
	var parts []string
	for _, bp := range s.plan.Bonds {
		if !slices.Contains(bonds, bp.Name) {
			continue
		}
		for _, m := range bp.Members {
			state := "no link"
			if l, err := s.k.link(m); err == nil && hasCarrier(l.Attrs()) {
				state = "link"
			}
			parts = append(parts, m+": "+state)
		}
	}
	return strings.Join(parts, ", ")
}

// ensureBond converges one bond: the link with its mode and options, MTU and
// MAC, its ports in plan order, the primary, and everything up.
func (s *state) ensureBond(bp netplan.BondPlan, br *BondReport) error {
	want, err := desiredBond(bp.Name, modeOf(bp), bp.Config)
	if err != nil {
		return err
	}
	// The bond is made with its MAC, not left to take its first port's: udev
	// (MACAddressPolicy=persistent) gives a new bond a generated MAC, which
	// the bond would keep, and the lease would not come back after a reboot.
	if want.HardwareAddr, err = net.ParseMAC(bp.MAC()); err != nil {
		return fmt.Errorf("MAC of %s: %w", bp.Name, err)
	}
	l, err := s.k.linkOrNil(bp.Name)
	if err != nil {
		return err
	}

	var bond *netlink.Bond
	switch have := l.(type) {
	case nil:
		if bond, err = s.createBond(want); err != nil {
			return err
		}
		br.Action = BondCreated
		br.Changes = append(br.Changes, "created in mode "+want.Mode.String())
	case *netlink.Bond:
		bond, err = s.convergeBond(have, want, br)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s exists and is a %s link, not a bond", bp.Name, l.Type())
	}

	if err := s.ensurePorts(bond, bp, br); err != nil {
		return err
	}
	if err := s.ensurePrimary(bp, br); err != nil {
		return err
	}
	return s.ensureUp(bp, br)
}

// convergeBond brings an existing bond to the wanted mode and options. The
// mode can change only while the bond is down and has no ports, so a bond in
// the wrong mode (the balance-rr bond0 that loading bonding.ko makes) is
// deleted and made anew; options are changed in place, and a bond that
// refuses is made anew too.
func (s *state) convergeBond(have, want *netlink.Bond, br *BondReport) (*netlink.Bond, error) {
	name := have.Name
	if have.Mode != want.Mode {
		s.note("bond exists in another mode; recreating it", "bond", name, "have", have.Mode.String(),
			"want", want.Mode.String())
		br.Changes = append(br.Changes, fmt.Sprintf("mode %s → %s", have.Mode, want.Mode))
		return s.recreateBond(have, want, br)
	}

	if changes := optionChanges(have, want); len(changes) > 0 {
		desc := make([]string, len(changes))
		for i, c := range changes {
			desc[i] = c.String()
		}
		err := s.op(fmt.Sprintf("changing %s: %s", name, strings.Join(desc, ", ")), func() error {
			return s.k.h.LinkModify(changeMessage(have, changes, want))
		})
		if err != nil {
			s.note("bond refused the change in place; recreating it", "bond", name, "error", err)
			return s.recreateBond(have, want, br)
		}
		undo := changeMessage(have, changes, have)
		s.pushUndo(fmt.Sprintf("restore options of %s", name), func() error { return s.k.h.LinkModify(undo) })
		br.Changes = append(br.Changes, desc...)
	}

	if want.MTU > 0 && have.MTU != want.MTU {
		old := have.MTU
		if err := s.op(fmt.Sprintf("setting MTU of %s to %d", name, want.MTU), func() error {
			return s.k.h.LinkSetMTU(have, want.MTU)
		}); err != nil {
			return nil, err
		}
		s.pushUndo(fmt.Sprintf("restore MTU %d of %s", old, name), func() error { return s.k.h.LinkSetMTU(have, old) })
		br.Changes = append(br.Changes, fmt.Sprintf("mtu %d → %d", old, want.MTU))
	}
	if want.HardwareAddr != nil && !bytes.Equal(have.HardwareAddr, want.HardwareAddr) {
		old := have.HardwareAddr
		if err := s.op(fmt.Sprintf("setting MAC of %s to %s", name, want.HardwareAddr), func() error {
			return s.k.h.LinkSetHardwareAddr(have, want.HardwareAddr)
		}); err != nil {
			return nil, err
		}
		s.pushUndo(fmt.Sprintf("restore MAC %s of %s", old, name), func() error { return s.k.h.LinkSetHardwareAddr(have, old) })
		br.Changes = append(br.Changes, fmt.Sprintf("mac %s → %s", old, want.HardwareAddr))
	}
	return have, nil
}

// recreateBond deletes a bond and makes it anew as wanted. Its ports are
// remembered first, so a teardown puts them back into the old bond, which the
// undo journal recreates in its old mode.
func (s *state) recreateBond(have, want *netlink.Bond, br *BondReport) (*netlink.Bond, error) {
	ports, err := s.ports(have)
	if err != nil {
		return nil, err
	}
	for _, p := range ports {
		if _, err := s.remember(p.Attrs().Name); err != nil {
			return nil, err
		}
	}
	if err := s.op(fmt.Sprintf("deleting %s (mode %s)", have.Name, have.Mode), func() error {
		return s.k.h.LinkDel(have)
	}); err != nil {
		return nil, err
	}
	old := oldBond(have)
	s.pushUndo(fmt.Sprintf("recreate %s in mode %s", have.Name, have.Mode), func() error { return s.k.h.LinkAdd(old) })

	bond, err := s.createBond(want)
	if err != nil {
		return nil, err
	}
	br.Action = BondRecreated
	return bond, nil
}

// oldBond is what teardown recreates for a bond apply deleted: its name,
// mode and MII monitor. The kernel picks the rest, as when it made it.
func oldBond(have *netlink.Bond) *netlink.Bond {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = have.Name
	if have.MTU > 0 {
		attrs.MTU = have.MTU
	}
	b := netlink.NewLinkBond(attrs)
	b.Mode = have.Mode
	b.Miimon = have.Miimon
	return b
}

// createBond adds the bond over rtnetlink with every option of the config.
func (s *state) createBond(want *netlink.Bond) (*netlink.Bond, error) {
	err := s.op(fmt.Sprintf("creating bond %s (mode %s)", want.Name, want.Mode), func() error {
		return s.k.h.LinkAdd(want)
	})
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("create: %w (the kernel has no bonding driver: is bonding.ko loaded or in the initramfs?)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	name := want.Name
	s.pushUndo("delete bond "+name, func() error {
		l, err := s.k.linkOrNil(name)
		if err != nil || l == nil {
			return err
		}
		return s.k.h.LinkDel(l)
	})
	l, err := s.k.link(name)
	if err != nil {
		return nil, err
	}
	bond, ok := l.(*netlink.Bond)
	if !ok {
		return nil, fmt.Errorf("%s was created but reads back as a %s link", name, l.Type())
	}
	return bond, nil
}

// ports lists the links enslaved to bond, by ifindex order.
func (s *state) ports(bond netlink.Link) ([]netlink.Link, error) {
	all, err := s.k.links()
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, l := range all {
		if l.Attrs().MasterIndex == bond.Attrs().Index {
			out = append(out, l)
		}
	}
	return out, nil
}

// ensurePorts makes the bond's ports exactly the plan's members: strangers
// released, missing members enslaved in plan order, each down first (the
// kernel refuses to enslave a port that is up).
func (s *state) ensurePorts(bond *netlink.Bond, bp netplan.BondPlan, br *BondReport) error {
	ports, err := s.ports(bond)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range ports {
		name := p.Attrs().Name
		have[name] = true
		if slices.Contains(bp.Members, name) {
			continue
		}
		if _, err := s.remember(name); err != nil {
			return err
		}
		if err := s.op(fmt.Sprintf("releasing %s from %s (not selected)", name, bond.Name), func() error {
			return s.k.h.LinkSetNoMaster(p)
		}); err != nil {
			return err
		}
		br.Changes = append(br.Changes, "released "+name)
	}

	for _, m := range bp.Members {
		if have[m] {
			continue
		}
		if _, err := s.remember(m); err != nil {
			return err
		}
		l, err := s.k.link(m)
		if err != nil {
			return err
		}
		if l.Attrs().MasterIndex != 0 {
			master, _ := s.k.masterName(l)
			if err := s.op(fmt.Sprintf("releasing %s from %s", m, master), func() error {
				return s.k.h.LinkSetNoMaster(l)
			}); err != nil {
				return err
			}
		}
		if l.Attrs().Flags&net.FlagUp != 0 {
			if err := s.op("setting "+m+" down to enslave it", func() error { return s.k.h.LinkSetDown(l) }); err != nil {
				return err
			}
		}
		if err := s.op(fmt.Sprintf("enslaving %s to %s", m, bond.Name), func() error {
			return s.k.h.LinkSetMaster(l, bond)
		}); err != nil {
			return err
		}
		br.Changes = append(br.Changes, "enslaved "+m)
	}
	return nil
}

// primaryModes are the modes in which the kernel honours a primary port.
var primaryModes = map[string]bool{"active-backup": true, "balance-tlb": true, "balance-alb": true}

// ensurePrimary sets the bond's primary, an ifindex, once the ports are in.
func (s *state) ensurePrimary(bp netplan.BondPlan, br *BondReport) error {
	if bp.Primary == "" {
		return nil
	}
	if !primaryModes[modeOf(bp)] {
		s.note("primary ignored: mode has no primary", "bond", bp.Name, "mode", modeOf(bp), "primary", bp.Primary)
		return nil
	}
	p, err := s.k.link(bp.Primary)
	if err != nil {
		return fmt.Errorf("primary: %w", err)
	}
	l, err := s.k.link(bp.Name)
	if err != nil {
		return err
	}
	bond, ok := l.(*netlink.Bond)
	if !ok {
		return fmt.Errorf("%s is not a bond", bp.Name)
	}
	if bond.Primary == p.Attrs().Index {
		return nil
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Index = bond.Name, bond.Index
	msg := netlink.NewLinkBond(attrs)
	msg.Primary = p.Attrs().Index
	if err := s.op(fmt.Sprintf("setting primary of %s to %s", bp.Name, bp.Primary), func() error {
		return s.k.h.LinkModify(msg)
	}); err != nil {
		return err
	}
	br.Changes = append(br.Changes, "primary "+bp.Primary)
	return nil
}

// ensureUp brings the members, then the bond, up.
func (s *state) ensureUp(bp netplan.BondPlan, br *BondReport) error {
	for _, name := range append(slices.Clone(bp.Members), bp.Name) {
		l, err := s.k.link(name)
		if err != nil {
			return err
		}
		if l.Attrs().Flags&net.FlagUp != 0 {
			continue
		}
		if err := s.op("bringing "+name+" up", func() error { return s.k.h.LinkSetUp(l) }); err != nil {
			return err
		}
		if name == bp.Name && br.Action != BondCreated && br.Action != BondRecreated {
			s.pushUndo("set "+name+" down", func() error { return s.k.h.LinkSetDown(l) })
		}
		br.Changes = append(br.Changes, "brought "+name+" up")
	}
	return nil
}
