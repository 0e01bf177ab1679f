package fake

// The model of VLANs, bridges, IPv6 settings, LRO and renames, with the
// kernel's rules (checked on kernel 6.18 in namespaces where marked
// "seen"; the rest from the kernel's source):
//
//   - a VLAN needs its parent (ErrNotFound), an id free on it (EEXIST), an
//     MTU no larger than the parent's (EINVAL on create, ERANGE after); it
//     takes the parent's MTU and follows its MAC unless given its own, is
//     lowered with the parent's MTU, has carrier when up on a parent that
//     has it, and goes when its parent goes;
//   - a bridge port may be up when it joins (seen), keeps its MAC, state and
//     addresses, gets priority 32 and a cost from its speed (seen: 2 for 10
//     Gb/s), and loses LRO (dev_disable_lro); a bridge whose MAC was not
//     given takes the lowest of its ports' MACs, and all zeros when its last
//     port leaves (seen); one whose MTU was not given takes the least of its
//     ports' MTUs, 1500 without ports (seen); a bridge is not a bridge port
//     (ELOOP), nor is a VLAN on the bridge (EBUSY);
//   - a bridge has carrier when up with a port that has it: at once with
//     STP off (seen), after listening and learning, a forward delay each,
//     with STP on (seen). The model's time passes only in WaitCarrier and
//     WaitFor, by what their deadlines allow, so a wait shorter than twice
//     the forward delay ends without carrier, as on the kernel;
//   - the bridge and port ranges of kernel.BridgeConfig.Check and
//     kernel.BridgePort.Check (seen), ERANGE;
//   - IPv6 settings are per link, accept_ra 1 and autoconf on to start; a
//     link below 1280 bytes of MTU has no IPv6 (its addresses go, and its
//     settings are the defaults again when it comes back: seen), nor has
//     any link on a machine with no_ipv6;
//   - LRO exists only on NICs whose driver has it (NIC.LRO); a bridge turns
//     it off on a new port and what is below it (a bond's ports, a VLAN's
//     parent), and keeps it off there;
//   - a rename needs the link down (EBUSY: kernels before 6.2 refuse, and
//     bondstrap's contract asks it of every kernel), a valid name (EINVAL)
//     and a free one (EEXIST).

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// bridge is a bridge's state in the model.
type bridge struct {
	// cfg holds the settings, every field set (Name, MAC, MTU unused).
	cfg kernel.BridgeConfig
	// stpWaited is how long the bridge has been up with a port that has
	// carrier, in the model's time (see wait).
	stpWaited time.Duration
}

// stackState is the part of a State line for VLANs, bridges, bridge ports,
// LRO and IPv6 settings; empty for a link that has none of them (or the
// defaults), so the States of machines without them read as they did.
func (k *Kernel) stackState(l *link) string {
	var b strings.Builder
	if v := l.vlan; v != nil {
		fmt.Fprintf(&b, " vlan id=%d link=%s", v.ID, v.Parent)
	}
	if br := l.bridge; br != nil {
		fmt.Fprintf(&b, " bridge %s", bridgeArgs(br.cfg))
	}
	if p := l.port; p != nil {
		fmt.Fprintf(&b, " bridge_slave cost=%d priority=%d", p.Cost, p.Priority)
	}
	if l.lro != nil {
		fmt.Fprintf(&b, " lro=%t", *l.lro)
	}
	if l.ipv6 != kernel.DefaultIPv6 {
		fmt.Fprintf(&b, " accept_ra=%d autoconf=%t", l.ipv6.AcceptRA, l.ipv6.Autoconf)
	}
	return b.String()
}

// snapshotStack copies the VLAN, bridge and bridge port of l into out.
func (k *Kernel) snapshotStack(l *link, out *kernel.Link) {
	if l.vlan != nil {
		v := *l.vlan
		out.VLAN = &v
	}
	if l.bridge != nil {
		c := l.bridge.cfg
		out.Bridge = &c
	}
	if l.port != nil {
		p := *l.port
		out.BridgePort = &p
	}
}

// stackDerived recomputes what a link takes from others: a VLAN its
// parent's MAC, a bridge its ports' lowest MAC and least MTU, a bridge port
// with carrier its cost from its speed (as br_port_carrier_check does).
func (k *Kernel) stackDerived(l *link) {
	switch {
	case l.vlan != nil && l.autoMAC:
		if p := k.find(l.vlan.Parent); p != nil {
			l.MAC = slices.Clone(p.MAC)
		}
	case l.bridge != nil:
		ports := k.ports(l.Name)
		if l.autoMAC && len(ports) > 0 {
			low := ports[0].MAC
			for _, p := range ports[1:] {
				if bytes.Compare(p.MAC, low) < 0 {
					low = p.MAC
				}
			}
			l.MAC = slices.Clone(low)
		}
		if l.autoMTU {
			l.MTU = 1500
			if len(ports) > 0 {
				l.MTU = slices.MinFunc(ports, func(a, b *link) int { return cmp.Compare(a.MTU, b.MTU) }).MTU
			}
		}
	}
	if l.port != nil && !l.adminCost && l.Carrier {
		l.port.Cost = portCost(k.speed(l))
	}
}

// ports lists the links enslaved to master.
func (k *Kernel) ports(master string) []*link {
	var out []*link
	for _, p := range k.links {
		if p.Master == master {
			out = append(out, p)
		}
	}
	return out
}

// bridgeReady reports whether a bridge is up with a port that has carrier.
func (k *Kernel) bridgeReady(l *link) bool {
	return l.Up && slices.ContainsFunc(k.ports(l.Name), func(p *link) bool { return p.Carrier })
}

// bridgeCarrier is a bridge's carrier: ready, and with STP on, ready for
// twice the forward delay (listening, learning).
func (k *Kernel) bridgeCarrier(l *link) bool {
	b := l.bridge
	if !k.bridgeReady(l) {
		b.stpWaited = 0
		return false
	}
	return !b.cfg.STP || b.stpWaited >= 2*b.cfg.ForwardDelay
}

// wait lets the model's time pass, up to deadline or until done holds: all
// that time changes in the model is the STP state of bridges. Time passes
// from one bridge's forwarding to the next, so done is asked at each.
func (k *Kernel) wait(deadline time.Time, done func() bool) {
	left := time.Until(deadline)
	for left > 0 && !done() {
		var pending []*bridge
		step := left
		for _, l := range k.links {
			b := l.bridge
			if b == nil || !b.cfg.STP || !k.bridgeReady(l) || l.Carrier {
				continue
			}
			pending = append(pending, b)
			step = min(step, 2*b.cfg.ForwardDelay-b.stpWaited)
		}
		if len(pending) == 0 {
			return
		}
		for _, b := range pending {
			b.stpWaited += step
		}
		left -= step
		k.carrier()
	}
}

// speed is what ethtool reports of a link's speed in Mb/s (0: unknown): a
// NIC's with carrier, a bond's active port's in active-backup and its
// ports' sum otherwise, a VLAN's parent's.
func (k *Kernel) speed(l *link) int {
	switch {
	case l.nic != nil:
		if l.Carrier {
			return l.nic.SpeedMbps
		}
	case l.bond != nil:
		sum := 0
		for _, p := range k.ports(l.Name) {
			if p.Carrier && (l.bond.Mode != spec.ActiveBackup || l.bond.ActivePort == p.Name) {
				sum += k.speed(p)
			}
		}
		return sum
	case l.vlan != nil:
		if p := k.find(l.vlan.Parent); p != nil {
			return k.speed(p)
		}
	}
	return 0
}

// portCost is the STP path cost the bridge gives a port of speed Mb/s
// (br_if.c port_cost).
func portCost(speed int) int {
	switch {
	case speed > 10000:
		return 1
	case speed == 10000:
		return 2
	case speed == 5000:
		return 3
	case speed == 2500 || speed == 1000:
		return 4
	case speed == 100:
		return 19
	}
	return 100
}

// joinBridge is br_add_if: l becomes a port of bridge m.
func (k *Kernel) joinBridge(l, m *link) error {
	switch {
	case l.bridge != nil:
		return fmt.Errorf("enslave %s to %s: can not enslave a bridge to a bridge: %w", l.Name, m.Name, unix.ELOOP)
	case l.Kind == "loopback":
		return fmt.Errorf("enslave %s to %s: not an Ethernet device: %w", l.Name, m.Name, unix.EINVAL)
	case l.Master != "":
		return fmt.Errorf("%s is already enslaved to %s: %w", l.Name, l.Master, unix.EBUSY)
	case k.sitsOn(l, m.Name):
		return fmt.Errorf("enslave %s to %s: %s sits on %s: %w", l.Name, m.Name, l.Name, m.Name, unix.EBUSY)
	}
	l.Master = m.Name
	l.port = &kernel.BridgePort{Cost: portCost(k.speed(l)), Priority: kernel.DefaultPortPriority}
	l.adminCost = false
	k.disableLRO(l)
	return nil
}

// disableLRO is dev_disable_lro, which a bridge calls on a new port: a
// bridge forwards, and LRO's merged frames cannot be forwarded. It goes
// down to the devices below too (a bond's ports, a VLAN's parent).
func (k *Kernel) disableLRO(l *link) {
	if l.lro != nil && !l.lroKeptOn {
		*l.lro = false
	}
	for _, p := range k.ports(l.Name) {
		k.disableLRO(p)
	}
	if l.vlan != nil {
		if p := k.find(l.vlan.Parent); p != nil {
			k.disableLRO(p)
		}
	}
}

// belowBridge reports whether l is a bridge's port or sits below one (a
// bond's port, a VLAN's parent): the kernel keeps LRO off there (an upper
// device without LRO takes it off its lower devices).
func (k *Kernel) belowBridge(l *link) bool {
	if m := k.find(l.Master); m != nil && (m.bridge != nil || k.belowBridge(m)) {
		return true
	}
	return slices.ContainsFunc(k.links, func(v *link) bool {
		return v.vlan != nil && v.vlan.Parent == l.Name && k.belowBridge(v)
	})
}

// leaveBridge is br_del_if: the port keeps its state and MAC; a bridge that
// takes its ports' MAC has none once the last one left.
func (k *Kernel) leaveBridge(l, m *link) {
	l.Master, l.port, l.adminCost = "", nil, false
	if m.autoMAC && len(k.ports(m.Name)) == 0 {
		m.MAC = make(net.HardwareAddr, 6)
	}
}

// sitsOn reports whether l is name, or a VLAN on name (or on a VLAN on
// it).
func (k *Kernel) sitsOn(l *link, name string) bool {
	for l != nil {
		if l.Name == name {
			return true
		}
		if l.vlan == nil {
			return false
		}
		l = k.find(l.vlan.Parent)
	}
	return false
}

// hasIPv6 reports whether the kernel keeps IPv6 on l.
func (k *Kernel) hasIPv6(l *link) bool {
	return !k.noIPv6 && l.MTU >= kernel.MinIPv6MTU
}

// noIPv6Error explains why l has no IPv6.
func (k *Kernel) noIPv6Error(l *link) error {
	if k.noIPv6 {
		return fmt.Errorf("%s: %w (the kernel has none)", l.Name, kernel.ErrNoIPv6)
	}
	return fmt.Errorf("%s: %w (MTU %d is below %d)", l.Name, kernel.ErrNoIPv6, l.MTU, kernel.MinIPv6MTU)
}

// setMTU changes l's MTU with what follows: the VLANs on it are lowered to
// it, and IPv6 leaves a link that goes below 1280 (its addresses, routes
// and settings) and comes back to one that goes above.
func (k *Kernel) setMTU(l *link, mtu int) {
	had := k.hasIPv6(l)
	l.MTU = mtu
	if l.bridge != nil {
		l.autoMTU = false
	}
	switch has := k.hasIPv6(l); {
	case had && !has:
		k.routes = slices.DeleteFunc(k.routes, func(r kernel.Route) bool { return r.Link == l.Name && r.Dst.Addr().Is6() })
		k.addrs = slices.DeleteFunc(k.addrs, func(a kernel.Addr) bool { return a.Link == l.Name && a.Prefix.Addr().Is6() })
		l.ipv6 = kernel.DefaultIPv6
	case !had && has && l.Up:
		k.linkLocal(l)
	}
	for _, v := range k.links {
		if v.vlan != nil && v.vlan.Parent == l.Name && v.MTU > mtu {
			k.setMTU(v, mtu)
		}
	}
}

func bridgeArgs(c kernel.BridgeConfig) string {
	s := fmt.Sprintf("stp_state %d", boolInt(c.STP))
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"forward_delay", c.ForwardDelay}, {"hello_time", c.HelloTime}, {"max_age", c.MaxAge}, {"ageing_time", c.AgeingTime}} {
		if t.d != 0 {
			s += fmt.Sprintf(" %s %d", t.name, t.d/(10*time.Millisecond))
		}
	}
	if c.Priority >= 0 {
		s += fmt.Sprintf(" priority %d", c.Priority)
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// addressMTU is the end of a transcript line for a MAC and MTU to set.
func addressMTU(mac net.HardwareAddr, mtu int) string {
	s := ""
	if len(mac) > 0 {
		s += " address " + mac.String()
	}
	if mtu > 0 {
		s += fmt.Sprintf(" mtu %d", mtu)
	}
	return s
}

// mergeBridge is b with what c sets: STP always, the times that are not
// zero, the priority when not -1. With STP starting, the kernel clamps the
// forward delay it keeps into range (br_stp_start).
func mergeBridge(b, c kernel.BridgeConfig) kernel.BridgeConfig {
	starts := c.STP && !b.STP
	b.STP = c.STP
	b.ForwardDelay = cmp.Or(c.ForwardDelay, b.ForwardDelay)
	b.HelloTime = cmp.Or(c.HelloTime, b.HelloTime)
	b.MaxAge = cmp.Or(c.MaxAge, b.MaxAge)
	b.AgeingTime = cmp.Or(c.AgeingTime, b.AgeingTime)
	if c.Priority >= 0 {
		b.Priority = c.Priority
	}
	if starts {
		b.ForwardDelay = min(max(b.ForwardDelay, kernel.MinForwardDelay), kernel.MaxForwardDelay)
	}
	return b
}

// addVirtual adds l, a virtual Ethernet link of kind, down.
func (k *Kernel) addVirtual(l *link, name, kind string, mac net.HardwareAddr, mtu int) {
	l.Link = kernel.Link{Name: name, Kind: kind, MAC: slices.Clone(mac), MTU: mtu, OperState: "down", EncapType: "ether"}
	k.add(l)
}

// CreateVLAN makes a VLAN on its parent, down.
func (k *Kernel) CreateVLAN(ctx context.Context, c kernel.VLANConfig) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	line := fmt.Sprintf("link add link %s name %s type vlan id %d", c.Parent, c.Name, c.ID) + addressMTU(c.MAC, c.MTU)
	err := k.change(line, func() error {
		if err := c.Check(); err != nil {
			return fmt.Errorf("create %s: %w", c.Name, err)
		}
		if k.find(c.Name) != nil {
			return fmt.Errorf("create %s: %w", c.Name, unix.EEXIST)
		}
		p, err := k.get(c.Parent)
		if err != nil {
			return fmt.Errorf("create %s: parent %w", c.Name, err)
		}
		if p.Kind == "loopback" {
			return fmt.Errorf("create %s: VLANs not supported on %s: %w", c.Name, p.Name, unix.EOPNOTSUPP)
		}
		if slices.ContainsFunc(k.links, func(v *link) bool { return v.vlan != nil && v.vlan.Parent == p.Name && v.vlan.ID == c.ID }) {
			return fmt.Errorf("create %s: VLAN %d exists on %s: %w", c.Name, c.ID, p.Name, unix.EEXIST)
		}
		if c.MTU > p.MTU {
			return fmt.Errorf("create %s: MTU %d above %s's %d: %w", c.Name, c.MTU, p.Name, p.MTU, unix.EINVAL)
		}
		mac := c.MAC
		if len(mac) == 0 {
			mac = p.MAC
		}
		k.addVirtual(&link{vlan: &kernel.VLAN{ID: c.ID, Parent: p.Name}, autoMAC: len(c.MAC) == 0},
			c.Name, "vlan", mac, cmp.Or(c.MTU, p.MTU))
		return nil
	})
	return k.created(err, c.Name)
}

// CreateBridge makes a bridge, down.
func (k *Kernel) CreateBridge(ctx context.Context, c kernel.BridgeConfig) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	line := fmt.Sprintf("link add %s type bridge %s", c.Name, bridgeArgs(c)) + addressMTU(c.MAC, c.MTU)
	err := k.change(line, func() error {
		if err := kernel.CheckName(c.Name); err != nil {
			return fmt.Errorf("create %s: %w", c.Name, err)
		}
		if err := c.Check(); err != nil {
			return fmt.Errorf("create %s: %w", c.Name, err)
		}
		if k.find(c.Name) != nil {
			return fmt.Errorf("create %s: %w", c.Name, unix.EEXIST)
		}
		mac := c.MAC
		if len(mac) == 0 {
			mac = net.HardwareAddr{0x02, 0, 0, 0, 0xb1, byte(k.next)}
		}
		k.addVirtual(&link{bridge: &bridge{cfg: mergeBridge(kernel.DefaultBridge, c)}, autoMAC: len(c.MAC) == 0,
			autoMTU: c.MTU == 0}, c.Name, "bridge", mac, cmp.Or(c.MTU, 1500))
		return nil
	})
	return k.created(err, c.Name)
}

// ChangeBridge changes a bridge's STP, times and priority.
func (k *Kernel) ChangeBridge(ctx context.Context, c kernel.BridgeConfig) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var old kernel.BridgeConfig
	err := k.change(fmt.Sprintf("link set %s type bridge %s", c.Name, bridgeArgs(c)), func() error {
		l, err := k.get(c.Name)
		if err != nil {
			return err
		}
		if l.bridge == nil {
			return fmt.Errorf("%s is not a bridge: %w", c.Name, unix.EOPNOTSUPP)
		}
		if err := c.Check(); err != nil {
			return fmt.Errorf("change %s: %w", c.Name, err)
		}
		old = l.bridge.cfg
		l.bridge.cfg = mergeBridge(old, c)
		if l.bridge.cfg.STP && !old.STP {
			l.bridge.stpWaited = 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	old.Name = c.Name
	return func(ctx context.Context) error {
		_, err := k.ChangeBridge(ctx, old)
		return err
	}, nil
}

// SetBridgePort sets a bridge port's cost and priority.
func (k *Kernel) SetBridgePort(ctx context.Context, name string, p kernel.BridgePort) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p.Cost == 0 && p.Priority < 0 {
		_, err := k.get(name)
		return noUndo, err
	}
	line := fmt.Sprintf("link set %s type bridge_slave", name)
	if p.Cost != 0 {
		line += fmt.Sprintf(" cost %d", p.Cost)
	}
	if p.Priority >= 0 {
		line += fmt.Sprintf(" priority %d", p.Priority)
	}
	undo := kernel.BridgePort{Priority: -1}
	err := k.change(line, func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		if l.port == nil {
			return fmt.Errorf("%s is not a bridge port: %w", name, unix.EOPNOTSUPP)
		}
		if err := p.Check(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if p.Cost != 0 {
			undo.Cost, l.port.Cost, l.adminCost = l.port.Cost, p.Cost, true
		}
		if p.Priority >= 0 {
			undo.Priority, l.port.Priority = l.port.Priority, p.Priority
		}
		return nil
	})
	return undoBy(err, func(ctx context.Context) (kernel.Undo, error) { return k.SetBridgePort(ctx, name, undo) })
}

func noUndo(context.Context) error { return nil }

// undoBy is what a change returns: its error, or an undo that makes the
// change back with op.
func undoBy(err error, op func(context.Context) (kernel.Undo, error)) (kernel.Undo, error) {
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := op(ctx)
		return err
	}, nil
}

// created is what a create returns: its error, or an undo that deletes
// the link.
func (k *Kernel) created(err error, name string) (kernel.Undo, error) {
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return k.DeleteLink(ctx, name) }, nil
}

// IPv6 reads a link's IPv6 settings.
func (k *Kernel) IPv6(ctx context.Context, name string) (kernel.IPv6Config, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, err := k.get(name)
	if err != nil {
		return kernel.IPv6Config{}, err
	}
	if !k.hasIPv6(l) {
		return kernel.IPv6Config{}, k.noIPv6Error(l)
	}
	return l.ipv6, ctx.Err()
}

// SetIPv6 sets a link's accept_ra and autoconf.
func (k *Kernel) SetIPv6(ctx context.Context, name string, c kernel.IPv6Config) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var old kernel.IPv6Config
	line := fmt.Sprintf("sysctl -w net/ipv6/conf/%s/accept_ra=%d net/ipv6/conf/%s/autoconf=%d", name, c.AcceptRA, name,
		boolInt(c.Autoconf))
	err := k.change(line, func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		if err := c.Check(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !k.hasIPv6(l) {
			return k.noIPv6Error(l)
		}
		old, l.ipv6 = l.ipv6, c
		return nil
	})
	return undoBy(err, func(ctx context.Context) (kernel.Undo, error) { return k.SetIPv6(ctx, name, old) })
}

// LRO reports whether a link has large receive offload on.
func (k *Kernel) LRO(ctx context.Context, name string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, err := k.get(name)
	if err != nil {
		return false, err
	}
	return l.lro != nil && *l.lro, ctx.Err()
}

// SetLRO turns large receive offload on or off; asking for the state a
// link is in changes nothing (and writes no line).
func (k *Kernel) SetLRO(ctx context.Context, name string, on bool) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, err := k.get(name)
	if err != nil {
		return nil, err
	}
	if on == (l.lro != nil && *l.lro) {
		return noUndo, ctx.Err()
	}
	err = k.change(fmt.Sprintf("ethtool -K %s lro %s", name, onOff(on)), func() error {
		switch {
		case l.lro == nil:
			return fmt.Errorf("%s: the driver has no LRO: %w", name, unix.EOPNOTSUPP)
		case on && k.belowBridge(l):
			return fmt.Errorf("%s: the kernel keeps LRO off below a bridge", name)
		}
		*l.lro = on
		return nil
	})
	return undoBy(err, func(ctx context.Context) (kernel.Undo, error) { return k.SetLRO(ctx, name, !on) })
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// Rename renames a link that is down, and every reference to it.
func (k *Kernel) Rename(ctx context.Context, name, newName string) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.change(fmt.Sprintf("link set %s name %s", name, newName), func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		if err := kernel.CheckName(newName); err != nil {
			return fmt.Errorf("rename %s: %w", name, err)
		}
		if newName == name {
			return nil
		}
		if k.find(newName) != nil {
			return fmt.Errorf("rename %s to %s: %w", name, newName, unix.EEXIST)
		}
		if l.Up {
			return fmt.Errorf("rename %s: the link is up: %w", name, unix.EBUSY)
		}
		k.rename(l, newName)
		return nil
	})
	return undoBy(err, func(ctx context.Context) (kernel.Undo, error) { return k.Rename(ctx, newName, name) })
}

// rename renames l and what names it: masters, parents, primary and active
// ports, addresses, routes.
func (k *Kernel) rename(l *link, to string) {
	from := l.Name
	l.Name = to
	for _, o := range k.links {
		if o.Master == from {
			o.Master = to
		}
		if o.vlan != nil && o.vlan.Parent == from {
			o.vlan.Parent = to
		}
		if b := o.bond; b != nil {
			if b.Primary == from {
				b.Primary = to
			}
			if b.ActivePort == from {
				b.ActivePort = to
			}
		}
	}
	for i := range k.addrs {
		if k.addrs[i].Link == from {
			k.addrs[i].Link = to
		}
	}
	for i := range k.routes {
		if k.routes[i].Link == from {
			k.routes[i].Link = to
		}
	}
}

// reach follows a link down to the cable: the segment it reaches and the
// VLAN id its frames carry there (0: untagged). A bond or a bridge reaches
// through its first port with carrier; a VLAN on a VLAN reaches nothing
// (the model has no QinQ).
func (k *Kernel) reach(l *link) (segment string, vid int, ok bool) {
	switch {
	case l.nic != nil:
		return l.nic.Segment, 0, l.nic.Segment != ""
	case l.vlan != nil:
		p := k.find(l.vlan.Parent)
		if p == nil {
			return "", 0, false
		}
		seg, inner, ok := k.reach(p)
		if !ok || inner != 0 {
			return "", 0, false
		}
		return seg, l.vlan.ID, true
	case l.bond != nil || l.bridge != nil:
		for _, p := range k.ports(l.Name) {
			if p.Carrier {
				return k.reach(p)
			}
		}
	}
	return "", 0, false
}

// server is the DHCP server on a segment, untagged or on a VLAN.
func (k *Kernel) server(segment string, vid int) *DHCPServer {
	s, ok := k.segments[segment]
	if !ok {
		return nil
	}
	if vid == 0 {
		return s.DHCP
	}
	return s.VLANs[vid].DHCP
}
