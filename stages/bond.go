package stages

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// Bond actions in the report.
const (
	BondCreated   = "created"   // no link of that name existed
	BondRecreated = "recreated" // kept for reports of older runs; apply converts in place now
	BondUpdated   = "updated"   // the existing bond was changed in place
	BondUnchanged = "unchanged" // the existing bond already was as configured
)

// bondStage makes every planned bond as the config says, then waits for
// carrier on all of them with one deadline.
func bondStage(ctx context.Context, s *state) error {
	for _, bp := range s.plan.Bonds {
		br := &BondReport{Name: bp.Name, Mode: bp.Mode, Members: bp.Members, Primary: bp.Primary}
		s.rep.Bonds = append(s.rep.Bonds, br)
		if err := s.ensureBond(ctx, bp, br); err != nil {
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
	return s.waitBondCarrier(ctx, names)
}

// waitBondCarrier waits for carrier on the named bonds, one link-timeout for
// all, and records their MAC, MTU and carrier in the report.
func (s *state) waitBondCarrier(ctx context.Context, names []string) error {
	deadline := s.until(s.cfg.LinkTimeout())
	var up map[string]bool
	if err := s.op(fmt.Sprintf("waiting for carrier on %s", strings.Join(names, ", ")), func() error {
		var err error
		up, err = s.k.WaitCarrier(ctx, names, deadline)
		return err
	}); err != nil {
		return err
	}
	var missing []string
	for _, br := range s.rep.Bonds {
		if !slices.Contains(names, br.Name) {
			continue
		}
		br.Carrier = up[br.Name]
		if l, err := s.k.Link(ctx, br.Name); err == nil {
			br.MAC = l.MAC.String()
			br.MTU = l.MTU
		}
		if !br.Carrier {
			missing = append(missing, br.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no carrier on %s within link-timeout %s (%s)", strings.Join(missing, ", "),
			s.cfg.LinkTimeout(), s.memberLinks(ctx, missing))
	}
	return nil
}

// memberLinks describes the carrier of the members of the named bonds, for an
// error message.
func (s *state) memberLinks(ctx context.Context, bonds []string) string {
	var parts []string
	for _, bp := range s.plan.Bonds {
		if !slices.Contains(bonds, bp.Name) {
			continue
		}
		for _, m := range bp.Members {
			state := "no link"
			if l, err := s.k.Link(ctx, m); err == nil && l.Carrier {
				state = "link"
			}
			parts = append(parts, m+": "+state)
		}
	}
	return strings.Join(parts, ", ")
}

// desired is the bond the plan asks for.
type desired struct {
	mode     string
	settings spec.Settings
	mac      net.HardwareAddr
	mtu      int
}

func desiredBond(bp netplan.BondPlan) (desired, error) {
	d := desired{mode: bp.Mode, mtu: bp.Config.MTU}
	if d.mode == "" {
		d.mode = spec.DefaultMode
	}
	if p := bp.Config.Parameters; p != nil {
		d.settings = p.Settings
	}
	// The bond is made with its MAC, not left to take its first port's:
	// udev (MACAddressPolicy=persistent) gives a new bond a generated MAC,
	// which the bond would keep, and the lease would not come back after a
	// reboot.
	mac, err := net.ParseMAC(bp.MAC())
	if err != nil {
		return d, fmt.Errorf("MAC of %s: %w", bp.Name, err)
	}
	d.mac = mac
	return d, nil
}

// ensureBond converges one bond: the link with its mode and options, MTU and
// MAC, its ports in plan order, the primary, and everything up.
func (s *state) ensureBond(ctx context.Context, bp netplan.BondPlan, br *BondReport) error {
	want, err := desiredBond(bp)
	if err != nil {
		return err
	}
	have, err := s.k.Link(ctx, bp.Name)
	switch {
	case isNotFound(err):
		if err := s.change(fmt.Sprintf("creating bond %s (mode %s)", bp.Name, want.mode), "delete bond "+bp.Name, "",
			func() (kernel.Undo, error) {
				return s.k.CreateBond(ctx, kernel.BondConfig{Name: bp.Name, Mode: want.mode, Settings: want.settings,
					MAC: want.mac, MTU: want.mtu})
			}); err != nil {
			return err
		}
		br.Action = BondCreated
		s.created[bp.Name] = true
		br.Changes = append(br.Changes, "created in mode "+want.mode)
	case err != nil:
		return err
	case have.Bond == nil:
		return fmt.Errorf("%s exists and is a %s link, not a bond", bp.Name, kindName(have.Kind))
	default:
		if err := s.convergeBond(ctx, have, want, br); err != nil {
			return err
		}
	}
	if err := s.ensurePorts(ctx, bp, br); err != nil {
		return err
	}
	if err := s.ensureMAC(ctx, bp.Name, want.mac, br); err != nil {
		return err
	}
	if err := s.ensurePrimary(ctx, bp, br); err != nil {
		return err
	}
	return s.ensureUp(ctx, bp, br)
}

// ensureMAC gives the bond its MAC again if enslaving changed it: a bond
// whose last port left gets a random MAC from the kernel, and then takes its
// first new port's. It is set before the bond comes up, so its IPv6
// link-local address is made from it too.
func (s *state) ensureMAC(ctx context.Context, name string, mac net.HardwareAddr, br *BondReport) error {
	l, err := s.k.Link(ctx, name)
	if err != nil || l.MAC.String() == mac.String() {
		return err
	}
	if err := s.change(fmt.Sprintf("setting MAC of %s to %s", name, mac), fmt.Sprintf("restore MAC %s of %s", l.MAC, name), "",
		func() (kernel.Undo, error) { return s.k.SetMAC(ctx, name, mac) }); err != nil {
		return err
	}
	br.Changes = append(br.Changes, fmt.Sprintf("mac %s → %s", l.MAC, mac))
	return nil
}

func kindName(kind string) string {
	if kind == "" {
		return "physical"
	}
	return kind
}

// convergeBond brings an existing bond to the wanted mode, options, MTU and
// MAC, in place. The kernel changes the mode only on a bond that is down and
// has no ports (the balance-rr bond0 that loading bonding.ko makes, or a
// bond from an earlier config), and some options only while it is down or
// empty: apply releases the ports and sets the bond down when the change
// asks for it, and puts everything back up after. The bond keeps its
// ifindex, so nothing that refers to it breaks, and a failed run gets it
// back as it was.
func (s *state) convergeBond(ctx context.Context, have kernel.Link, want desired, br *BondReport) error {
	name := have.Name
	mode := ""
	if have.Bond.Mode != want.mode {
		mode = want.mode
		s.note("bond exists in another mode; converting it in place", "bond", name, "have", have.Bond.Mode, "want", want.mode)
	}
	changed := settingChanges(have.Bond, want, mode != "")
	needDown, needEmpty := mode != "", mode != ""
	for _, c := range changed {
		needDown = needDown || c.Param.IfDown
		needEmpty = needEmpty || c.Param.NoPorts
	}
	if mode == "" && len(changed) == 0 && (want.mtu == 0 || have.MTU == want.mtu) && have.MAC.String() == want.mac.String() {
		return nil
	}
	// The bond as found, with its ports, addresses and routes, for teardown.
	ports, err := s.portsOf(ctx, name)
	if err != nil {
		return err
	}
	if err := s.remember(ctx, append([]string{name}, ports...)...); err != nil {
		return err
	}
	if mode != "" || len(changed) > 0 {
		if needEmpty {
			for _, p := range ports {
				if err := s.change(fmt.Sprintf("releasing %s from %s to change its %s", p, name, whatChanges(mode, changed)),
					"enslave "+p+" to "+name+" again", "", func() (kernel.Undo, error) {
						return s.k.SetMaster(ctx, p, "")
					}); err != nil {
					return err
				}
				br.Changes = append(br.Changes, "released "+p)
			}
		}
		if needDown && have.Up {
			if err := s.change(fmt.Sprintf("setting %s down to change its %s", name, whatChanges(mode, changed)),
				"set "+name+" up", "", func() (kernel.Undo, error) { return s.k.SetUp(ctx, name, false) }); err != nil {
				return err
			}
		}
		desc := describeChanges(have.Bond, mode, changed)
		if err := s.change(fmt.Sprintf("changing %s: %s", name, strings.Join(desc, ", ")),
			"restore options of "+name, "", func() (kernel.Undo, error) {
				return s.k.ChangeBond(ctx, name, mode, changed)
			}); err != nil {
			return err
		}
		br.Changes = append(br.Changes, desc...)
	}
	if want.mtu > 0 && have.MTU != want.mtu {
		if err := s.change(fmt.Sprintf("setting MTU of %s to %d", name, want.mtu), fmt.Sprintf("restore MTU %d of %s", have.MTU, name), "",
			func() (kernel.Undo, error) { return s.k.SetMTU(ctx, name, want.mtu) }); err != nil {
			return err
		}
		br.Changes = append(br.Changes, fmt.Sprintf("mtu %d → %d", have.MTU, want.mtu))
	}
	if have.MAC.String() != want.mac.String() {
		if err := s.change(fmt.Sprintf("setting MAC of %s to %s", name, want.mac), fmt.Sprintf("restore MAC %s of %s", have.MAC, name), "",
			func() (kernel.Undo, error) { return s.k.SetMAC(ctx, name, want.mac) }); err != nil {
			return err
		}
		br.Changes = append(br.Changes, fmt.Sprintf("mac %s → %s", have.MAC, want.mac))
	}
	return nil
}

// settingChanges lists the wanted settings the live bond does not hold, as
// the kernel would keep them (delays in whole multiples of the MII monitor).
// A parameter the config does not give is wanted at the kernel's default:
// that is what networkd makes on the next boot, so a bond left by an earlier
// config converges to the same. After a mode change every wanted setting is
// sent again: setting the mode resets some of them.
func settingChanges(have *kernel.Bond, want desired, modeChanges bool) spec.Settings {
	wanted := withDefaults(want.mode, want.settings, have.Settings)
	if modeChanges {
		return wanted
	}
	miimon := spec.EffectiveMIIMon(want.mode, want.settings)
	var out spec.Settings
	for _, w := range wanted {
		h, ok := have.Settings.Get(w.Param.Key)
		if ok && h.Equal(spec.Effective(w, miimon)) {
			continue
		}
		out = out.Set(w)
	}
	return out
}

// withDefaults adds to the config's settings the kernel's default of every
// other parameter the mode accepts whose live value differs from it. Left out
// are the delays when the MII monitor is off (the kernel refuses even a 0
// then) and the actor system MAC (its default, all zeros, is no MAC one can
// write in a config).
func withDefaults(mode string, given, live spec.Settings) spec.Settings {
	out := given
	miimon := spec.EffectiveMIIMon(mode, given)
	for _, p := range spec.Params {
		if _, ok := given.Get(p.Key); ok || !p.AcceptedIn(mode) || p.Kind == spec.MAC || (p.NeedsMII && miimon == 0) {
			continue
		}
		h, ok := live.Get(p.Key)
		if !ok {
			continue
		}
		def := spec.Setting{Param: p, N: spec.DefaultIn(p, mode)}
		if !h.Equal(def) {
			out = out.Set(def)
		}
	}
	return out
}

func whatChanges(mode string, changed spec.Settings) string {
	var names []string
	if mode != "" {
		names = append(names, "mode")
	}
	for _, c := range changed {
		if c.Param.IfDown || c.Param.NoPorts {
			names = append(names, c.Param.Kernel)
		}
	}
	if len(names) == 0 {
		return "options"
	}
	return strings.Join(names, ", ")
}

// describeChanges writes what a change does: "mode balance-rr → 802.3ad",
// "miimon 0 → 100ms".
func describeChanges(have *kernel.Bond, mode string, changed spec.Settings) []string {
	var out []string
	if mode != "" {
		out = append(out, fmt.Sprintf("mode %s → %s", have.Mode, mode))
	}
	for _, c := range changed {
		old := "(unset)"
		if h, ok := have.Settings.Get(c.Param.Key); ok {
			old = h.String()
		}
		out = append(out, fmt.Sprintf("%s %s → %s", c.Param.Kernel, old, c.String()))
	}
	return out
}

// portsOf lists the links enslaved to bond, by name.
func (s *state) portsOf(ctx context.Context, bond string) ([]string, error) {
	links, err := s.k.Links(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Master == bond {
			out = append(out, l.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ensurePorts makes the bond's ports exactly the plan's members: strangers
// released, missing members enslaved in plan order. Before it enslaves a
// NIC it sets the NIC's MTU (ethernets.<id>.mtu), removes its IPv4
// addresses (left on a port, their routes would come back through it when
// the bond opens it, beside the bond's) and sets it down (the kernel refuses
// to enslave a port that is up).
func (s *state) ensurePorts(ctx context.Context, bp netplan.BondPlan, br *BondReport) error {
	ports, err := s.portsOf(ctx, bp.Name)
	if err != nil {
		return err
	}
	if err := s.remember(ctx, append(slices.Clone(bp.Members), ports...)...); err != nil {
		return err
	}
	for _, p := range ports {
		if slices.Contains(bp.Members, p) {
			continue
		}
		if err := s.change(fmt.Sprintf("releasing %s from %s (not selected)", p, bp.Name), "enslave "+p+" to "+bp.Name+" again", "",
			func() (kernel.Undo, error) { return s.k.SetMaster(ctx, p, "") }); err != nil {
			return err
		}
		br.Changes = append(br.Changes, "released "+p)
	}
	addrs, err := s.k.Addrs(ctx)
	if err != nil {
		return err
	}
	for i, m := range bp.Members {
		l, err := s.k.Link(ctx, m)
		if err != nil {
			return err
		}
		if l.Master == bp.Name {
			continue
		}
		if l.Master != "" {
			if err := s.change(fmt.Sprintf("releasing %s from %s", m, l.Master), "enslave "+m+" to "+l.Master+" again", "",
				func() (kernel.Undo, error) { return s.k.SetMaster(ctx, m, "") }); err != nil {
				return err
			}
		}
		if mtu := s.memberMTU(bp, i); mtu > 0 && mtu != l.MTU {
			if err := s.change(fmt.Sprintf("setting MTU of %s to %d", m, mtu), fmt.Sprintf("restore MTU %d of %s", l.MTU, m), "",
				func() (kernel.Undo, error) { return s.k.SetMTU(ctx, m, mtu) }); err != nil {
				return err
			}
		}
		for _, a := range addrs {
			if a.Link != m || !a.Prefix.Addr().Is4() {
				continue
			}
			if err := s.change(fmt.Sprintf("removing address %s from %s before it joins %s", a.Prefix, m, bp.Name),
				fmt.Sprintf("add address %s to %s again", a.Prefix, m), "", func() (kernel.Undo, error) {
					return s.k.DelAddr(ctx, a)
				}); err != nil {
				return err
			}
		}
		if l, err = s.k.Link(ctx, m); err != nil {
			return err
		}
		if l.Up {
			if err := s.change("setting "+m+" down to enslave it", "set "+m+" up", "",
				func() (kernel.Undo, error) { return s.k.SetUp(ctx, m, false) }); err != nil {
				return err
			}
		}
		if err := s.change(fmt.Sprintf("enslaving %s to %s", m, bp.Name), fmt.Sprintf("release %s from %s", m, bp.Name), "",
			func() (kernel.Undo, error) { return s.k.SetMaster(ctx, m, bp.Name) }); err != nil {
			return err
		}
		br.Changes = append(br.Changes, "enslaved "+m)
		if s.enslaved == nil {
			s.enslaved = map[string]time.Time{}
		}
		s.enslaved[bp.Name] = time.Now()
	}
	return nil
}

// memberMTU is the mtu of the ethernets id that selected member i, or 0.
func (s *state) memberMTU(bp netplan.BondPlan, i int) int {
	if i < len(bp.MemberIDs) {
		return s.cfg.Network.Ethernets[bp.MemberIDs[i]].MTU
	}
	return 0
}

// ensurePrimary sets the bond's primary once the ports are in.
func (s *state) ensurePrimary(ctx context.Context, bp netplan.BondPlan, br *BondReport) error {
	if bp.Primary == "" {
		return nil
	}
	if m, ok := spec.LookupMode(bp.Mode); !ok || !m.Primary {
		s.note("primary ignored: mode has no primary", "bond", bp.Name, "mode", bp.Mode, "primary", bp.Primary)
		return nil
	}
	l, err := s.k.Link(ctx, bp.Name)
	if err != nil {
		return err
	}
	if l.Bond != nil && l.Bond.Primary == bp.Primary {
		return nil
	}
	if err := s.change(fmt.Sprintf("setting primary of %s to %s", bp.Name, bp.Primary), "restore primary of "+bp.Name, "",
		func() (kernel.Undo, error) { return s.k.SetPrimary(ctx, bp.Name, bp.Primary) }); err != nil {
		return err
	}
	br.Changes = append(br.Changes, "primary "+bp.Primary)
	return nil
}

// ensureUp brings the members, then the bond, up, with the bond's IPv6
// settings made before it comes up.
func (s *state) ensureUp(ctx context.Context, bp netplan.BondPlan, br *BondReport) error {
	if err := s.ensureIPv6(ctx, bp.Name, bp.Config.Addressing, &br.Changes); err != nil {
		return err
	}
	for _, name := range append(slices.Clone(bp.Members), bp.Name) {
		l, err := s.k.Link(ctx, name)
		if err != nil {
			return err
		}
		if l.Up {
			continue
		}
		if err := s.change("bringing "+name+" up", "set "+name+" down", "",
			func() (kernel.Undo, error) { return s.k.SetUp(ctx, name, true) }); err != nil {
			return err
		}
		br.Changes = append(br.Changes, "brought "+name+" up")
	}
	return nil
}
