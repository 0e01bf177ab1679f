package netplan

import (
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// Kinds of interface a config declares.
const (
	KindEthernet = "ethernet"
	KindBond     = "bond"
	KindVLAN     = "vlan"
	KindBridge   = "bridge"
)

// Bridge limits the kernel enforces (net/bridge/br_private.h, br_stp.c).
const (
	maxVLANID          = 4094
	minForwardDelay    = 2 * time.Second
	maxForwardDelay    = 30 * time.Second
	minHelloTime       = 1 * time.Second
	maxHelloTime       = 10 * time.Second
	minMaxAge          = 6 * time.Second
	maxMaxAge          = 40 * time.Second
	maxAgeingTime      = 1_000_000 * time.Second
	maxBridgePriority  = 65535
	maxPortPriority    = 63
	maxPathCost        = 65535
	maxVirtualNetworks = 256 // VLANs and bridges, each
)

// Kind says what name is in cfg: KindEthernet (an ethernets id), KindBond,
// KindVLAN, KindBridge, or "" when it is none.
func (c *Config) Kind(name string) string {
	n := &c.Network
	switch {
	case hasKey(n.Bonds, name):
		return KindBond
	case hasKey(n.VLANs, name):
		return KindVLAN
	case hasKey(n.Bridges, name):
		return KindBridge
	case hasKey(n.Ethernets, name):
		return KindEthernet
	}
	return ""
}

// MemberOf is the bond that lists the ethernets id, or "".
func (c *Config) MemberOf(id string) string {
	for _, name := range c.BondNames() {
		if slices.Contains(c.Network.Bonds[name].Interfaces, id) {
			return name
		}
	}
	return ""
}

// PortOf is the bridge that lists name (an ethernets id, a bond or a VLAN)
// among its interfaces, or "".
func (c *Config) PortOf(name string) string {
	for _, br := range sortedKeys(c.Network.Bridges) {
		if slices.Contains(c.Network.Bridges[br].Interfaces, name) {
			return br
		}
	}
	return ""
}

// VLANsOn are the VLANs whose link is name, sorted.
func (c *Config) VLANsOn(name string) []string {
	var out []string
	for _, v := range sortedKeys(c.Network.VLANs) {
		if c.Network.VLANs[v].Link == name {
			out = append(out, v)
		}
	}
	return out
}

// Standalone are the ethernets ids that are not bond members and that the
// config uses: they carry addressing, an mtu, a macaddress or set-name, or a
// VLAN or a bridge sits on them. Each selects one NIC. Sorted.
func (c *Config) Standalone() []string {
	var out []string
	for _, id := range sortedKeys(c.Network.Ethernets) {
		eth := c.Network.Ethernets[id]
		if c.MemberOf(id) != "" {
			continue
		}
		if eth.HasL3() || eth.MTU != 0 || eth.MACAddress != "" || eth.SetName != "" ||
			c.PortOf(id) != "" || len(c.VLANsOn(id)) > 0 {
			out = append(out, id)
		}
	}
	return out
}

// Virtuals are the VLANs and bridges in the order they are created: each
// after the links it sits on (a VLAN after its link, a bridge after its
// ports), ties by kind (VLANs first) then name. Validation has refused
// cycles; were one left, its interfaces would be missing from the order.
func (c *Config) Virtuals() []string {
	n := &c.Network
	var names []string
	names = append(names, sortedKeys(n.VLANs)...)
	names = append(names, sortedKeys(n.Bridges)...)
	deps := func(name string) []string {
		if vl, ok := n.VLANs[name]; ok {
			return []string{vl.Link}
		}
		return n.Bridges[name].Interfaces
	}
	done := make(map[string]bool)
	var order []string
	for progress := true; progress; {
		progress = false
		for _, name := range names {
			if done[name] {
				continue
			}
			ready := true
			for _, d := range deps(name) {
				if k := c.Kind(d); (k == KindVLAN || k == KindBridge) && !done[d] {
					ready = false
					break
				}
			}
			if ready {
				done[name] = true
				order = append(order, name)
				progress = true
			}
		}
	}
	return order
}

// Addressing is the layer-3 configuration of the named interface, whatever
// its kind.
func (c *Config) Addressing(name string) Addressing {
	n := &c.Network
	switch c.Kind(name) {
	case KindBond:
		return n.Bonds[name].Addressing
	case KindVLAN:
		return n.VLANs[name].Addressing
	case KindBridge:
		return n.Bridges[name].Addressing
	case KindEthernet:
		return n.Ethernets[name].Addressing
	}
	return Addressing{}
}

// addressing checks the layer-3 keys of an interface at p and normalizes
// them.
func (v *validator) addressing(p string, a *Addressing) {
	if a.DHCPIdentifier != "" && a.DHCPIdentifier != "mac" {
		v.errorf(childPath(p, "dhcp-identifier"), "is %q: bondstrap supports only mac (the lease must follow the interface's MAC across the reboot)", a.DHCPIdentifier)
	}
	for i, s := range a.Addresses {
		q := indexPath(childPath(p, "addresses"), i)
		prefix, err := parsePrefix(s)
		if err != nil {
			v.errorf(q, "%q: expected an address with its prefix length, such as 192.0.2.10/24 or 2001:db8::10/64: %v", s, err)
			continue
		}
		if prefix.Addr().IsUnspecified() || prefix.Addr().IsMulticast() {
			v.errorf(q, "%q is not a unicast address", s)
		}
		a.Addresses[i] = prefix.String()
		if slices.Index(a.Addresses, a.Addresses[i]) < i {
			v.errorf(q, "%q is listed twice", s)
		}
	}
	for _, g := range []struct {
		key string
		val *string
		v4  bool
	}{{"gateway4", &a.Gateway4, true}, {"gateway6", &a.Gateway6, false}} {
		if *g.val == "" {
			continue
		}
		q := childPath(p, g.key)
		family := "IPv6"
		if g.v4 {
			family = "IPv4"
		}
		gw, err := parseAddr(*g.val)
		switch {
		case err != nil:
			v.errorf(q, "%q: expected an %s address: %v", *g.val, family, err)
		case gw.Is4() != g.v4 || gw.IsUnspecified() || gw.IsMulticast():
			v.errorf(q, "%q: expected a unicast %s address", *g.val, family)
		default:
			*g.val = gw.String()
		}
	}
	for i := range a.Routes {
		v.route(indexPath(childPath(p, "routes"), i), &a.Routes[i])
	}
	if ns := a.Nameservers; ns != nil {
		np := childPath(p, "nameservers")
		for i, s := range ns.Addresses {
			q := indexPath(childPath(np, "addresses"), i)
			addr, err := parseAddr(s)
			if err != nil {
				v.errorf(q, "%q: expected an IP address: %v", s, err)
				continue
			}
			if addr.IsUnspecified() || addr.IsMulticast() {
				v.errorf(q, "%q is not a unicast address", s)
			}
			ns.Addresses[i] = addr.String()
		}
		for i, d := range ns.Search {
			q := indexPath(childPath(np, "search"), i)
			if why := domainProblem(d); why != "" {
				v.errorf(q, "%q %s", d, why)
			}
			ns.Search[i] = strings.ToLower(d)
		}
	}
	// An empty list means the same as none (and marshals as none).
	if len(a.Addresses) == 0 {
		a.Addresses = nil
	}
	if len(a.Routes) == 0 {
		a.Routes = nil
	}
	if ns := a.Nameservers; ns != nil {
		if len(ns.Addresses) == 0 {
			ns.Addresses = nil
		}
		if len(ns.Search) == 0 {
			ns.Search = nil
		}
	}
	v.mtu(childPath(p, "mtu"), a.MTU)
	if a.MACAddress != "" {
		q := childPath(p, "macaddress")
		if mac, err := spec.ParseUnicastMAC(a.MACAddress); err != nil {
			v.errorf(q, "%v", err)
		} else {
			a.MACAddress = mac.String()
		}
	}
}

// stack checks what sits on the bonds and the NICs: the ethernets' roles and
// addressing, the VLANs, the bridges, and that nothing depends on itself.
// owner maps the ethernets ids the bonds list to their bond.
func (v *validator) stack(cfg *Config, owner map[string]string) {
	n := &cfg.Network
	// One namespace for every name a link or an interface list refers to.
	for _, name := range sortedKeys(n.VLANs) {
		if k := otherKind(cfg, name, KindVLAN); k != "" {
			v.errorf(childPath("network.vlans", name), "%q is both a VLAN and %s: names must be unique", name, k)
		}
	}
	for _, name := range sortedKeys(n.Bridges) {
		if k := otherKind(cfg, name, KindBridge); k != "" {
			v.errorf(childPath("network.bridges", name), "%q is both a bridge and %s: names must be unique", name, k)
		}
	}
	if len(n.VLANs) > maxVirtualNetworks {
		v.errorf("network.vlans", "has %d VLANs: bondstrap takes at most %d", len(n.VLANs), maxVirtualNetworks)
	}
	if len(n.Bridges) > maxVirtualNetworks {
		v.errorf("network.bridges", "has %d bridges: bondstrap takes at most %d", len(n.Bridges), maxVirtualNetworks)
	}

	port := make(map[string]string) // interface -> bridge that lists it
	for _, name := range sortedKeys(n.Bridges) {
		br := n.Bridges[name]
		v.bridge(cfg, childPath("network.bridges", name), name, &br, owner, port)
		n.Bridges[name] = br
	}
	for _, name := range sortedKeys(n.VLANs) {
		vl := n.VLANs[name]
		v.vlan(cfg, childPath("network.vlans", name), name, &vl, owner)
		n.VLANs[name] = vl
	}

	setNames := make(map[string]string)
	for _, id := range sortedKeys(n.Ethernets) {
		eth := n.Ethernets[id]
		p := childPath("network.ethernets", id)
		v.addressing(p, &eth.Addressing)
		switch {
		case owner[id] != "":
			for _, key := range l3Keys(p, v.present) {
				v.errorf(key, "is set, but %s is a member of bond %s: its addressing belongs on the bond", id, owner[id])
			}
			if eth.MACAddress != "" {
				v.errorf(childPath(p, "macaddress"), "is set, but %s is a member of bond %s: the bond sets its members' MACs; set macaddress on the bond", id, owner[id])
			}
		case port[id] != "":
			for _, key := range l3Keys(p, v.present) {
				v.errorf(key, "is set, but %s is a port of bridge %s: its addressing belongs on the bridge", id, port[id])
			}
		}
		if eth.SetName != "" {
			q := childPath(p, "set-name")
			switch {
			case eth.Match == nil:
				v.errorf(q, "needs a match: set-name renames the NIC a match selects")
			case owner[id] != "":
				v.errorf(q, "is set, but %s is a member of bond %s: bondstrap renames standalone NICs only (members are found by their hardware, whatever their names)", id, owner[id])
			default:
				if why := spec.NameProblem(eth.SetName); why != "" {
					v.errorf(q, "%q %s", eth.SetName, why)
				} else if other, ok := setNames[eth.SetName]; ok {
					v.errorf(q, "%q is also the set-name of %s", eth.SetName, other)
				} else if k := otherKind(cfg, eth.SetName, ""); k != "" && eth.SetName != id {
					v.errorf(q, "%q is %s: names must be unique", eth.SetName, k)
				}
				setNames[eth.SetName] = id
			}
		}
		n.Ethernets[id] = eth
	}
	for _, name := range sortedKeys(n.Bonds) {
		if br := port[name]; br != "" {
			for _, key := range l3Keys(childPath("network.bonds", name), v.present) {
				v.errorf(key, "is set, but bond %s is a port of bridge %s: its addressing belongs on the bridge", name, br)
			}
		}
	}
	v.cycles(cfg)
}

// l3Keys are the layer-3 keys present under p.
func l3Keys(p string, present map[string]bool) []string {
	var out []string
	for _, k := range []string{"dhcp4", "dhcp6", "accept-ra", "dhcp-identifier", "addresses", "gateway4", "gateway6", "routes", "nameservers"} {
		if q := childPath(p, k); present[q] {
			out = append(out, q)
		}
	}
	return out
}

// otherKind describes what else than kind the name is in cfg ("" if
// nothing).
func otherKind(cfg *Config, name, kind string) string {
	n := &cfg.Network
	switch {
	case kind != KindBond && hasKey(n.Bonds, name):
		return "a bond"
	case kind != KindVLAN && hasKey(n.VLANs, name):
		return "a VLAN"
	case kind != KindBridge && hasKey(n.Bridges, name):
		return "a bridge"
	case kind != KindEthernet && hasKey(n.Ethernets, name):
		return "an ethernets id"
	}
	return ""
}

// vlan checks a VLAN. A VLAN may sit on a bridge port: the kernel hands
// tagged frames to the VLAN device before the bridge sees them.
func (v *validator) vlan(cfg *Config, p, name string, vl *VLAN, owner map[string]string) {
	if why := spec.NameProblem(name); why != "" {
		v.errorf(p, "the VLAN name %q %s", name, why)
	}
	switch {
	case vl.ID == nil:
		v.errorf(childPath(p, "id"), "missing: give the VLAN id (0-%d)", maxVLANID)
	case *vl.ID < 0 || *vl.ID > maxVLANID:
		v.errorf(childPath(p, "id"), "is %d: expected a VLAN id 0-%d", *vl.ID, maxVLANID)
	}
	lp := childPath(p, "link")
	switch k := cfg.Kind(vl.Link); {
	case vl.Link == "":
		v.errorf(lp, "missing: give the bond, ethernets id or bridge the VLAN sits on")
	case k == "":
		v.errorf(lp, "%q is not defined: expected a bond, an ethernets id or a bridge of this config", vl.Link)
	case k == KindVLAN:
		v.errorf(lp, "%q is a VLAN: bondstrap does not stack VLANs on VLANs (802.1ad)", vl.Link)
	case owner[vl.Link] != "":
		v.errorf(lp, "%q is a member of bond %s: put the VLAN on the bond", vl.Link, owner[vl.Link])
	default:
		if vl.ID != nil {
			for _, other := range cfg.VLANsOn(vl.Link) {
				if o := cfg.Network.VLANs[other]; other < name && o.ID != nil && *o.ID == *vl.ID {
					v.errorf(childPath(p, "id"), "%d on %s is also VLAN %s", *vl.ID, vl.Link, other)
				}
			}
		}
	}
	v.addressing(p, &vl.Addressing)
	if vl.MTU != 0 {
		if parent := linkMTU(cfg, vl.Link); parent != 0 && vl.MTU > parent {
			v.errorf(childPath(p, "mtu"), "is %d, above the mtu %d of its link %s: a VLAN's MTU is at most its link's", vl.MTU, parent, vl.Link)
		}
	}
}

// linkMTU is the MTU a link of cfg gets: its mtu, or Ethernet's 1500 (0 for
// a name cfg does not define).
func linkMTU(cfg *Config, name string) int {
	if cfg.Kind(name) == "" {
		return 0
	}
	if m := cfg.Addressing(name).MTU; m != 0 {
		return m
	}
	return defaultMTU
}

func (v *validator) bridge(cfg *Config, p, name string, br *Bridge, owner, port map[string]string) {
	if why := spec.NameProblem(name); why != "" {
		v.errorf(p, "the bridge name %q %s", name, why)
	}
	if len(br.Interfaces) == 0 {
		br.Interfaces = nil // a bridge without ports, however written
	}
	ip := childPath(p, "interfaces")
	for i, ifc := range br.Interfaces {
		q := indexPath(ip, i)
		switch k := cfg.Kind(ifc); {
		case slices.Index(br.Interfaces, ifc) < i:
			v.errorf(q, "%q is listed twice", ifc)
		case k == "":
			v.errorf(q, "%q is not defined: expected a bond, a VLAN or an ethernets id of this config", ifc)
		case k == KindBridge:
			v.errorf(q, "%q is a bridge: a bridge cannot be a port of another bridge", ifc)
		case owner[ifc] != "":
			v.errorf(q, "%q is a member of bond %s: make the bond the bridge's port", ifc, owner[ifc])
		case port[ifc] != "":
			v.errorf(q, "%q is already a port of bridge %s: an interface may be a port of one bridge only", ifc, port[ifc])
		default:
			port[ifc] = name
		}
	}
	if bp := br.Parameters; bp != nil {
		pp := childPath(p, "parameters")
		stp := bp.STPOrDefault()
		fd := v.seconds(childPath(pp, "forward-delay"), &bp.ForwardDelay, 0, maxForwardDelay)
		if stp && bp.ForwardDelay != "" && fd < minForwardDelay {
			v.errorf(childPath(pp, "forward-delay"), "is %s: with stp the kernel takes %s-%s (set stp: false for a shorter delay)", fd, minForwardDelay, maxForwardDelay)
		}
		v.seconds(childPath(pp, "hello-time"), &bp.HelloTime, minHelloTime, maxHelloTime)
		v.seconds(childPath(pp, "max-age"), &bp.MaxAge, minMaxAge, maxMaxAge)
		v.seconds(childPath(pp, "ageing-time"), &bp.AgeingTime, 0, maxAgeingTime)
		if bp.Priority != nil && (*bp.Priority < 0 || *bp.Priority > maxBridgePriority) {
			v.errorf(childPath(pp, "priority"), "is %d: expected 0-%d", *bp.Priority, maxBridgePriority)
		}
		for _, per := range []struct {
			key      string
			m        map[string]int
			min, max int
		}{{"path-cost", bp.PathCost, 1, maxPathCost}, {"port-priority", bp.PortPriority, 0, maxPortPriority}} {
			for _, ifc := range sortedKeys(per.m) {
				q := childPath(childPath(pp, per.key), ifc)
				if !slices.Contains(br.Interfaces, ifc) {
					v.errorf(q, "%q is not one of the bridge's interfaces", ifc)
				}
				if c := per.m[ifc]; c < per.min || c > per.max {
					v.errorf(q, "is %d: expected %d-%d", c, per.min, per.max)
				}
			}
		}
	}
	v.addressing(p, &br.Addressing)
	if len(br.Interfaces) == 0 {
		for _, k := range []struct {
			key string
			on  bool
		}{{"dhcp4", br.DHCP()}, {"dhcp6", br.DHCPv6()}} {
			if k.on {
				v.errorf(childPath(p, k.key), "is true, but the bridge has no interfaces: nothing could answer (a bridge without ports has no carrier)")
			}
		}
	}
}

// seconds checks and normalizes a bridge time (bare numbers are seconds)
// to a Go duration, and returns it.
func (v *validator) seconds(p string, s *Seconds, lo, hi time.Duration) time.Duration {
	if *s == "" {
		return 0
	}
	ms, err := spec.ParseTime(string(*s), time.Second)
	if err != nil {
		v.errorf(p, "%q: expected seconds, or a time with a unit such as 500ms or 15s: %v", string(*s), err)
		return 0
	}
	d := time.Duration(ms) * time.Millisecond
	if d < lo || d > hi {
		v.errorf(p, "is %s: the kernel takes %s-%s", d, lo, hi)
	}
	*s = Seconds(d.String())
	return d
}

// cycles refuses interfaces that depend on themselves: a VLAN on a bridge
// that has the VLAN (or a VLAN on it) as a port.
func (v *validator) cycles(cfg *Config) {
	order := cfg.Virtuals()
	for _, name := range sortedKeys(cfg.Network.VLANs) {
		if !slices.Contains(order, name) {
			v.errorf(childPath(childPath("network.vlans", name), "link"), "%q depends on VLAN %s itself (a cycle through bridge ports)", cfg.Network.VLANs[name].Link, name)
		}
	}
	for _, name := range sortedKeys(cfg.Network.Bridges) {
		if !slices.Contains(order, name) {
			v.errorf(childPath(childPath("network.bridges", name), "interfaces"), "depends on bridge %s itself (a cycle through a VLAN's link)", name)
		}
	}
}
