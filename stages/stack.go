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
)

// Interface actions in the report, beside the bonds'.
const (
	InterfaceCreated    = "created"
	InterfaceConfigured = "configured" // an existing NIC or link, changed
	InterfaceUnchanged  = "unchanged"
)

// ethernetsStage readies the standalone NICs (the ethernets ids no bond
// takes): set-name renames the NIC, its macaddress and mtu are applied, its
// IPv6 settings made before it comes up (so its router solicitation goes
// out), and it is brought up.
func ethernetsStage(ctx context.Context, s *state) error {
	for _, e := range s.plan.Ethernets {
		ir := s.interfaceReport(e.Name, netplan.KindEthernet)
		ir.NIC = e.NIC.Name
		if err := s.ensureEthernet(ctx, e, ir); err != nil {
			ir.Action = "failed"
			return fmt.Errorf("%s (%s): %w", e.ID, e.NIC.Name, err)
		}
		ir.settle()
	}
	return nil
}

func (s *state) ensureEthernet(ctx context.Context, e netplan.EthernetPlan, ir *InterfaceReport) error {
	if err := s.remember(ctx, e.NIC.Name); err != nil {
		return err
	}
	name := e.NIC.Name
	if e.Name != name {
		if other, err := s.k.Link(ctx, e.Name); err == nil {
			return fmt.Errorf("set-name %s: a %s link of that name exists", e.Name, kindName(other.Kind))
		} else if !isNotFound(err) {
			return err
		}
		if err := s.setDown(ctx, name, "to rename it"); err != nil {
			return err
		}
		if err := s.change(fmt.Sprintf("renaming %s to %s", name, e.Name), fmt.Sprintf("rename %s back to %s", e.Name, name), name,
			func() (kernel.Undo, error) { return s.k.Rename(ctx, name, e.Name) }); err != nil {
			return err
		}
		ir.Changes = append(ir.Changes, "renamed from "+name)
		name = e.Name
	}
	l, err := s.k.Link(ctx, name)
	if err != nil {
		return err
	}
	if mac := e.Config.MACAddress; mac != "" && !strings.EqualFold(l.MAC.String(), mac) {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			return err
		}
		if err := s.change(fmt.Sprintf("setting MAC of %s to %s", name, mac), fmt.Sprintf("restore MAC %s of %s", l.MAC, name), "",
			func() (kernel.Undo, error) { return s.k.SetMAC(ctx, name, hw) }); err != nil {
			return err
		}
		ir.Changes = append(ir.Changes, "mac "+mac)
	}
	if mtu := e.Config.MTU; mtu != 0 && l.MTU != mtu {
		if err := s.change(fmt.Sprintf("setting MTU of %s to %d", name, mtu), fmt.Sprintf("restore MTU %d of %s", l.MTU, name), "",
			func() (kernel.Undo, error) { return s.k.SetMTU(ctx, name, mtu) }); err != nil {
			return err
		}
		ir.Changes = append(ir.Changes, fmt.Sprintf("mtu %d → %d", l.MTU, mtu))
	}
	if err := s.ensureIPv6(ctx, name, e.Config.Addressing, &ir.Changes); err != nil {
		return err
	}
	return s.ensureLinkUp(ctx, name, &ir.Changes)
}

// setDown sets a link down when it is up.
func (s *state) setDown(ctx context.Context, name, why string) error {
	l, err := s.k.Link(ctx, name)
	if err != nil {
		return err
	}
	if !l.Up {
		return nil
	}
	return s.change(fmt.Sprintf("setting %s down %s", name, why), "set "+name+" up", "",
		func() (kernel.Undo, error) { return s.k.SetUp(ctx, name, false) })
}

// ensureLinkUp brings a link up when it is down.
func (s *state) ensureLinkUp(ctx context.Context, name string, changes *[]string) error {
	l, err := s.k.Link(ctx, name)
	if err != nil {
		return err
	}
	if l.Up {
		return nil
	}
	if err := s.change("bringing "+name+" up", "set "+name+" down", "",
		func() (kernel.Undo, error) { return s.k.SetUp(ctx, name, true) }); err != nil {
		return err
	}
	*changes = append(*changes, "brought "+name+" up")
	return nil
}

// ensureIPv6 sets the interface's router-advertisement handling when the
// config says anything about IPv6 autoconfiguration (accept-ra, or dhcp6,
// which needs the RAs): accept_ra 2 (even on a forwarding host, as networkd
// handles them) with SLAAC, or 0. Interfaces the config says nothing about
// keep the kernel's settings. It runs before the interface comes up, so the
// kernel's router solicitation goes out with the settings in force.
func (s *state) ensureIPv6(ctx context.Context, name string, a netplan.Addressing, changes *[]string) error {
	if a.AcceptRA == nil && !a.DHCPv6() {
		return nil
	}
	want := kernel.IPv6Config{AcceptRA: 0, Autoconf: false}
	if a.RA() {
		want = kernel.IPv6Config{AcceptRA: 2, Autoconf: true}
	}
	have, err := s.k.IPv6(ctx, name)
	if err != nil {
		return fmt.Errorf("IPv6 settings of %s: %w", name, err)
	}
	if have == want {
		return nil
	}
	if err := s.change(fmt.Sprintf("setting accept_ra %d, autoconf %t on %s", want.AcceptRA, want.Autoconf, name),
		fmt.Sprintf("restore accept_ra %d, autoconf %t on %s", have.AcceptRA, have.Autoconf, name), "",
		func() (kernel.Undo, error) { return s.k.SetIPv6(ctx, name, want) }); err != nil {
		return err
	}
	*changes = append(*changes, fmt.Sprintf("accept_ra %d", want.AcceptRA))
	return nil
}

// stackStage builds the VLANs and bridges in plan order (each after what it
// sits on), with their ports, parameters, MAC and IPv6 settings, brings them
// up, and waits for carrier on those that have something below them.
func stackStage(ctx context.Context, s *state) error {
	var wait []string
	var longest time.Duration
	for _, vp := range s.plan.Virtuals {
		ir := s.interfaceReport(vp.Name, vp.Kind)
		ir.Link, ir.Ports = vp.Link, vp.Ports
		var err error
		if vp.Kind == netplan.KindVLAN {
			err = s.ensureVLAN(ctx, vp, ir)
		} else {
			err = s.ensureBridge(ctx, vp, ir)
		}
		if err != nil {
			ir.Action = "failed"
			return fmt.Errorf("%s %s: %w", vp.Kind, vp.Name, err)
		}
		ir.settle()
		if vp.Kind == netplan.KindVLAN || len(vp.Ports) > 0 {
			wait = append(wait, vp.Name)
		}
		// A bridge with STP passes frames after listening and learning,
		// a forward delay each.
		if vp.Kind == netplan.KindBridge && vp.Bridge.STPOrDefault() {
			fd := vp.Bridge.ForwardDelayOrDefault()
			longest = max(longest, 2*fd)
		}
	}
	if len(wait) == 0 {
		return nil
	}
	timeout := s.cfg.LinkTimeout() + longest
	deadline := s.until(timeout)
	var up map[string]bool
	if err := s.op(fmt.Sprintf("waiting up to %s for carrier on %s", timeout, strings.Join(wait, ", ")), func() error {
		var err error
		up, err = s.k.WaitCarrier(ctx, wait, deadline)
		return err
	}); err != nil {
		return err
	}
	var missing []string
	for _, ir := range s.rep.Interfaces {
		if !slices.Contains(wait, ir.Name) {
			continue
		}
		ir.Carrier = up[ir.Name]
		if l, err := s.k.Link(ctx, ir.Name); err == nil {
			ir.MAC, ir.MTU = l.MAC.String(), l.MTU
		}
		if !ir.Carrier {
			missing = append(missing, ir.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no carrier on %s within %s", strings.Join(missing, ", "), timeout)
	}
	return nil
}

// existing returns the link called name if there is one, refusing a link
// of another kind: bondstrap converges what it would have built, and does
// not replace what someone else made.
func (s *state) existing(ctx context.Context, name, kind string) (*kernel.Link, error) {
	l, err := s.k.Link(ctx, name)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case l.Kind != kind:
		return nil, fmt.Errorf("a %s link called %s exists: bondstrap does not replace it", kindName(l.Kind), name)
	}
	return &l, nil
}

func (s *state) ensureVLAN(ctx context.Context, vp netplan.VirtualPlan, ir *InterfaceReport) error {
	have, err := s.existing(ctx, vp.Name, "vlan")
	if err != nil {
		return err
	}
	mac, err := parseOptionalMAC(vp.MAC)
	if err != nil {
		return err
	}
	mtu := vp.Addressing.MTU
	if have == nil {
		if err := s.change(fmt.Sprintf("creating VLAN %s (id %d on %s)", vp.Name, vp.VLANID, vp.Link), "delete VLAN "+vp.Name, "",
			func() (kernel.Undo, error) {
				return s.k.CreateVLAN(ctx, kernel.VLANConfig{Name: vp.Name, Parent: vp.Link, ID: vp.VLANID, MAC: mac, MTU: mtu})
			}); err != nil {
			return err
		}
		ir.Action = InterfaceCreated
		s.created[vp.Name] = true
	} else {
		if v := have.VLAN; v == nil || v.ID != vp.VLANID || v.Parent != vp.Link {
			return fmt.Errorf("a VLAN called %s exists with another id or link (%+v): bondstrap does not replace it", vp.Name, v)
		}
		if err := s.remember(ctx, vp.Name); err != nil {
			return err
		}
		if err := s.converge(ctx, *have, mac, mtu, &ir.Changes); err != nil {
			return err
		}
	}
	if err := s.ensureIPv6(ctx, vp.Name, vp.Addressing, &ir.Changes); err != nil {
		return err
	}
	return s.ensureLinkUp(ctx, vp.Name, &ir.Changes)
}

// converge gives an existing link the MAC and MTU asked for (zero values
// ask nothing).
func (s *state) converge(ctx context.Context, l kernel.Link, mac net.HardwareAddr, mtu int, changes *[]string) error {
	if mac != nil && l.MAC.String() != mac.String() {
		if err := s.change(fmt.Sprintf("setting MAC of %s to %s", l.Name, mac), fmt.Sprintf("restore MAC %s of %s", l.MAC, l.Name), "",
			func() (kernel.Undo, error) { return s.k.SetMAC(ctx, l.Name, mac) }); err != nil {
			return err
		}
		*changes = append(*changes, "mac "+mac.String())
	}
	if mtu != 0 && l.MTU != mtu {
		if err := s.change(fmt.Sprintf("setting MTU of %s to %d", l.Name, mtu), fmt.Sprintf("restore MTU %d of %s", l.MTU, l.Name), "",
			func() (kernel.Undo, error) { return s.k.SetMTU(ctx, l.Name, mtu) }); err != nil {
			return err
		}
		*changes = append(*changes, fmt.Sprintf("mtu %d → %d", l.MTU, mtu))
	}
	return nil
}

func parseOptionalMAC(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, nil
	}
	return net.ParseMAC(s)
}

// bridgeConfig is the kernel request for a planned bridge.
func bridgeConfig(vp netplan.VirtualPlan, mac net.HardwareAddr) kernel.BridgeConfig {
	c := kernel.BridgeConfig{Name: vp.Name, MAC: mac, STP: vp.Bridge.STPOrDefault(), Priority: -1}
	if p := vp.Bridge; p != nil {
		c.ForwardDelay, c.HelloTime = p.ForwardDelay.Duration(), p.HelloTime.Duration()
		c.MaxAge, c.AgeingTime = p.MaxAge.Duration(), p.AgeingTime.Duration()
		if p.Priority != nil {
			c.Priority = *p.Priority
		}
		// forward-delay: 0 (valid only without STP, where the kernel
		// does not use it) leaves the kernel's value.
	}
	return c
}

func (s *state) ensureBridge(ctx context.Context, vp netplan.VirtualPlan, ir *InterfaceReport) error {
	have, err := s.existing(ctx, vp.Name, "bridge")
	if err != nil {
		return err
	}
	mac, err := parseOptionalMAC(vp.MAC)
	if err != nil {
		return err
	}
	want := bridgeConfig(vp, mac)
	if have == nil {
		if err := s.change(fmt.Sprintf("creating bridge %s (stp %t)", vp.Name, want.STP), "delete bridge "+vp.Name, "",
			func() (kernel.Undo, error) { return s.k.CreateBridge(ctx, want) }); err != nil {
			return err
		}
		ir.Action = InterfaceCreated
		s.created[vp.Name] = true
	} else {
		if err := s.remember(ctx, vp.Name); err != nil {
			return err
		}
		if b := have.Bridge; b == nil || !bridgeMatches(*b, want) {
			if err := s.change("setting the STP parameters of bridge "+vp.Name, "restore the STP parameters of bridge "+vp.Name, "",
				func() (kernel.Undo, error) { return s.k.ChangeBridge(ctx, want) }); err != nil {
				return err
			}
			ir.Changes = append(ir.Changes, "stp parameters")
		}
	}
	for i, port := range vp.Ports {
		if err := s.ensureBridgePort(ctx, vp, i, port, ir); err != nil {
			return fmt.Errorf("port %s: %w", port, err)
		}
	}
	// The bridge took the lowest port MAC as ports joined unless its MAC
	// was set; set it again, as ensureMAC does for bonds.
	l, err := s.k.Link(ctx, vp.Name)
	if err != nil {
		return err
	}
	if err := s.converge(ctx, l, mac, vp.Addressing.MTU, &ir.Changes); err != nil {
		return err
	}
	if err := s.checkLRO(ctx, vp); err != nil {
		return err
	}
	if err := s.ensureIPv6(ctx, vp.Name, vp.Addressing, &ir.Changes); err != nil {
		return err
	}
	return s.ensureLinkUp(ctx, vp.Name, &ir.Changes)
}

// bridgeMatches says whether a bridge as the kernel reports it already has
// the settings asked for (zero and -1 ask nothing; the kernel keeps times in
// hundredths of a second).
func bridgeMatches(have, want kernel.BridgeConfig) bool {
	same := func(h, w time.Duration) bool {
		return w == 0 || h.Round(10*time.Millisecond) == w.Round(10*time.Millisecond)
	}
	return have.STP == want.STP && same(have.ForwardDelay, want.ForwardDelay) && same(have.HelloTime, want.HelloTime) &&
		same(have.MaxAge, want.MaxAge) && same(have.AgeingTime, want.AgeingTime) &&
		(want.Priority < 0 || have.Priority == want.Priority)
}

// ensureBridgePort makes port i of the bridge a port of it, with its path
// cost and priority.
func (s *state) ensureBridgePort(ctx context.Context, vp netplan.VirtualPlan, i int, port string, ir *InterfaceReport) error {
	l, err := s.k.Link(ctx, port)
	if err != nil {
		return err
	}
	if l.Master != vp.Name {
		if err := s.remember(ctx, port); err != nil {
			return err
		}
		if l.Master != "" {
			return fmt.Errorf("%s is a port of %s", port, l.Master)
		}
		if err := s.change(fmt.Sprintf("adding %s to bridge %s", port, vp.Name), fmt.Sprintf("release %s from %s", port, vp.Name), "",
			func() (kernel.Undo, error) { return s.k.SetMaster(ctx, port, vp.Name) }); err != nil {
			return err
		}
		ir.Changes = append(ir.Changes, "added port "+port)
	}
	want := kernel.BridgePort{Cost: 0, Priority: -1}
	if p := vp.Bridge; p != nil && i < len(vp.IDs) {
		if c, ok := p.PathCost[vp.IDs[i]]; ok {
			want.Cost = c
		}
		if pr, ok := p.PortPriority[vp.IDs[i]]; ok {
			want.Priority = pr
		}
	}
	if want.Cost == 0 && want.Priority < 0 {
		return nil
	}
	if l, err = s.k.Link(ctx, port); err != nil {
		return err
	}
	if bp := l.BridgePort; bp != nil && (want.Cost == 0 || bp.Cost == want.Cost) && (want.Priority < 0 || bp.Priority == want.Priority) {
		return nil
	}
	var what []string
	if want.Cost != 0 {
		what = append(what, fmt.Sprintf("path cost %d", want.Cost))
	}
	if want.Priority >= 0 {
		what = append(what, fmt.Sprintf("priority %d", want.Priority))
	}
	if err := s.change(fmt.Sprintf("setting %s of %s in %s", strings.Join(what, ", "), port, vp.Name),
		fmt.Sprintf("restore path cost and priority of %s", port), "",
		func() (kernel.Undo, error) { return s.k.SetBridgePort(ctx, port, want) }); err != nil {
		return err
	}
	ir.Changes = append(ir.Changes, "port settings of "+port)
	return nil
}

// checkLRO makes sure large receive offload is off below a bridge: on its
// ports and, for a bond port, the bond's members. A bridge forwards the
// frames it receives, and LRO merges them into ones too large to forward.
// The kernel turns LRO off as a device joins a bridge (and below a bond);
// a driver that kept it on has it turned off here, with a warning.
func (s *state) checkLRO(ctx context.Context, vp netplan.VirtualPlan) error {
	var below []string
	for _, port := range vp.Ports {
		below = append(below, port)
		if b, ok := s.plan.Bond(port); ok {
			below = append(below, b.Members...)
		}
	}
	for _, name := range below {
		on, err := s.k.LRO(ctx, name)
		if err != nil {
			return fmt.Errorf("LRO of %s: %w", name, err)
		}
		if !on {
			continue
		}
		s.warn("LRO was on below a bridge; turning it off (the kernel should have)", "interface", name, "bridge", vp.Name)
		if err := s.change("turning LRO off on "+name, "turn LRO on again on "+name, "",
			func() (kernel.Undo, error) { return s.k.SetLRO(ctx, name, false) }); err != nil {
			return err
		}
	}
	return nil
}

// interfaceReport adds the report of a standalone NIC, VLAN or bridge.
func (s *state) interfaceReport(name, kind string) *InterfaceReport {
	ir := &InterfaceReport{Name: name, Kind: kind}
	s.rep.Interfaces = append(s.rep.Interfaces, ir)
	return ir
}

// interfaceReportFor is the report of a standalone NIC, VLAN or bridge.
func (s *state) interfaceReportFor(name string) *InterfaceReport {
	for _, ir := range s.rep.Interfaces {
		if ir.Name == name {
			return ir
		}
	}
	return nil
}

// settle sets the action of an interface that was not created.
func (ir *InterfaceReport) settle() {
	if ir.Action != "" {
		return
	}
	ir.Action = InterfaceUnchanged
	if len(ir.Changes) > 0 {
		ir.Action = InterfaceConfigured
	}
}
