package stages

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/bondstrap/bondstrap/netplan"
)

// bondOption is one integer-valued bonding option: its kernel name (as under
// /sys/class/net/<bond>/bonding) and how to read and write it on a
// netlink.Bond. NewLinkBond sets every option to -1, and netlink sends only
// the options ≥ 0, so a Bond built from the config carries exactly the
// options the config names.
type bondOption struct {
	name string
	get  func(*netlink.Bond) int
	set  func(*netlink.Bond, int)
}

// bondOptions lists the integer options bondstrap sets, mode excepted (it can
// change only on an empty, down bond) and primary excepted (an ifindex, set
// after enslaving).
var bondOptions = []bondOption{
	{"miimon", func(b *netlink.Bond) int { return b.Miimon }, func(b *netlink.Bond, v int) { b.Miimon = v }},
	{"updelay", func(b *netlink.Bond) int { return b.UpDelay }, func(b *netlink.Bond, v int) { b.UpDelay = v }},
	{"downdelay", func(b *netlink.Bond) int { return b.DownDelay }, func(b *netlink.Bond, v int) { b.DownDelay = v }},
	{"lacp_rate", func(b *netlink.Bond) int { return int(b.LacpRate) }, func(b *netlink.Bond, v int) { b.LacpRate = netlink.BondLacpRate(v) }},
	{"xmit_hash_policy", func(b *netlink.Bond) int { return int(b.XmitHashPolicy) }, func(b *netlink.Bond, v int) { b.XmitHashPolicy = netlink.BondXmitHashPolicy(v) }},
	{"ad_select", func(b *netlink.Bond) int { return int(b.AdSelect) }, func(b *netlink.Bond, v int) { b.AdSelect = netlink.BondAdSelect(v) }},
	{"all_slaves_active", func(b *netlink.Bond) int { return b.AllSlavesActive }, func(b *netlink.Bond, v int) { b.AllSlavesActive = v }},
	{"arp_interval", func(b *netlink.Bond) int { return b.ArpInterval }, func(b *netlink.Bond, v int) { b.ArpInterval = v }},
	{"arp_validate", func(b *netlink.Bond) int { return int(b.ArpValidate) }, func(b *netlink.Bond, v int) { b.ArpValidate = netlink.BondArpValidate(v) }},
	{"arp_all_targets", func(b *netlink.Bond) int { return int(b.ArpAllTargets) }, func(b *netlink.Bond, v int) { b.ArpAllTargets = netlink.BondArpAllTargets(v) }},
	{"fail_over_mac", func(b *netlink.Bond) int { return int(b.FailOverMac) }, func(b *netlink.Bond, v int) { b.FailOverMac = netlink.BondFailOverMac(v) }},
	{"num_grat_arp", func(b *netlink.Bond) int { return b.NumPeerNotif }, func(b *netlink.Bond, v int) { b.NumPeerNotif = v }},
	{"packets_per_slave", func(b *netlink.Bond) int { return b.PacketsPerSlave }, func(b *netlink.Bond, v int) { b.PacketsPerSlave = v }},
	{"primary_reselect", func(b *netlink.Bond) int { return int(b.PrimaryReselect) }, func(b *netlink.Bond, v int) { b.PrimaryReselect = netlink.BondPrimaryReselect(v) }},
	{"resend_igmp", func(b *netlink.Bond) int { return b.ResendIgmp }, func(b *netlink.Bond, v int) { b.ResendIgmp = v }},
	{"lp_interval", func(b *netlink.Bond) int { return b.LpInterval }, func(b *netlink.Bond, v int) { b.LpInterval = v }},
	{"min_links", func(b *netlink.Bond) int { return b.MinLinks }, func(b *netlink.Bond, v int) { b.MinLinks = v }},
}

// desiredBond builds the bond the config asks for, with every parameter it
// names: the message LinkAdd sends, and the reference a live bond is
// compared against.
func desiredBond(name, mode string, c netplan.Bond) (*netlink.Bond, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if c.MTU > 0 {
		attrs.MTU = c.MTU
	}
	if c.MACAddress != "" {
		hw, err := net.ParseMAC(c.MACAddress)
		if err != nil {
			return nil, fmt.Errorf("macaddress: %w", err)
		}
		attrs.HardwareAddr = hw
	}
	b := netlink.NewLinkBond(attrs)
	if mode == "" {
		mode = "balance-rr"
	}
	m, ok := netlink.StringToBondModeMap[mode]
	if !ok {
		return nil, fmt.Errorf("mode %q is not a kernel bonding mode", mode)
	}
	b.Mode = m

	p := c.Parameters
	if p == nil {
		return b, nil
	}
	var err error
	lookup := func(key, v string, table map[string]int) int {
		if v == "" || err != nil {
			return -1
		}
		n, ok := table[v]
		if !ok {
			err = fmt.Errorf("parameters.%s: %q is not one of %v", key, v, sortedKeys(table))
			return -1
		}
		return n
	}
	b.LacpRate = netlink.BondLacpRate(lookup("lacp-rate", p.LACPRate, intMap(netlink.StringToBondLacpRateMap)))
	b.XmitHashPolicy = netlink.BondXmitHashPolicy(lookup("transmit-hash-policy", p.TransmitHashPolicy, intMap(netlink.StringToBondXmitHashPolicyMap)))
	b.AdSelect = netlink.BondAdSelect(lookup("ad-select", p.ADSelect, intMap(netlink.StringToBondAdSelectMap)))
	b.ArpValidate = netlink.BondArpValidate(lookup("arp-validate", p.ARPValidate, intMap(netlink.StringToBondArpValidateMap)))
	b.ArpAllTargets = netlink.BondArpAllTargets(lookup("arp-all-targets", p.ARPAllTargets, intMap(netlink.StringToBondArpAllTargetsMap)))
	b.FailOverMac = netlink.BondFailOverMac(lookup("fail-over-mac-policy", p.FailOverMACPolicy, intMap(netlink.StringToBondFailOverMacMap)))
	b.PrimaryReselect = netlink.BondPrimaryReselect(lookup("primary-reselect-policy", p.PrimaryReselectPolicy, intMap(netlink.StringToBondPrimaryReselectMap)))
	if err != nil {
		return nil, err
	}

	b.Miimon = millis(p.MIIMonitorInterval)
	b.UpDelay = millis(p.UpDelay)
	b.DownDelay = millis(p.DownDelay)
	b.ArpInterval = millis(p.ARPInterval)
	if p.LearnPacketInterval != nil {
		// The kernel takes lp_interval in seconds.
		sec := p.LearnPacketInterval.Milliseconds / 1000
		if sec < 1 || p.LearnPacketInterval.Milliseconds%1000 != 0 {
			return nil, fmt.Errorf("parameters.learn-packet-interval: %dms is not a whole number of seconds ≥ 1",
				p.LearnPacketInterval.Milliseconds)
		}
		b.LpInterval = int(sec)
	}
	if p.AllMembersActive != nil {
		b.AllSlavesActive = 0
		if *p.AllMembersActive {
			b.AllSlavesActive = 1
		}
	}
	b.MinLinks = intOr(p.MinLinks)
	b.PacketsPerSlave = intOr(p.PacketsPerMember)
	b.ResendIgmp = intOr(p.ResendIGMP)
	if p.GratuitousARP != nil {
		if *p.GratuitousARP < 0 || *p.GratuitousARP > 255 {
			return nil, fmt.Errorf("parameters.gratuitous-arp: %d is not in 0–255", *p.GratuitousARP)
		}
		b.NumPeerNotif = *p.GratuitousARP
	}
	for _, c := range []struct {
		key string
		v   int
	}{
		{"mii-monitor-interval", b.Miimon}, {"up-delay", b.UpDelay}, {"down-delay", b.DownDelay},
		{"arp-interval", b.ArpInterval}, {"min-links", b.MinLinks},
		{"packets-per-member", b.PacketsPerSlave}, {"resend-igmp", b.ResendIgmp},
	} {
		if c.v < -1 || (c.v == -1 && configSet(p, c.key)) {
			return nil, fmt.Errorf("parameters.%s: %d is negative", c.key, c.v)
		}
	}
	if len(p.ARPIPTargets) > 0 {
		for _, t := range p.ARPIPTargets {
			a, err := netip.ParseAddr(t)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("parameters.arp-ip-targets: %q is not an IPv4 address", t)
			}
			b.ArpIpTargets = append(b.ArpIpTargets, net.IP(a.AsSlice()))
		}
	}
	return b, nil
}

// optionChange is one option whose live value differs from the config's.
type optionChange struct {
	opt       *bondOption // nil for arp_ip_target
	have, val int
	haveIPs   []net.IP
}

func (c optionChange) String() string {
	if c.opt == nil {
		return fmt.Sprintf("arp_ip_target %v → (config)", c.haveIPs)
	}
	return c.opt.name + " " + strconv.Itoa(c.have) + " → " + strconv.Itoa(c.val)
}

// optionChanges compares a live bond with the wanted one, on the options the
// config names.
func optionChanges(have, want *netlink.Bond) []optionChange {
	var out []optionChange
	for i := range bondOptions {
		o := &bondOptions[i]
		w := o.get(want)
		if w < 0 {
			continue
		}
		h := o.get(have)
		if o.name == "updelay" || o.name == "downdelay" {
			// The kernel keeps delays as whole multiples of miimon.
			if mii := effectiveMiimon(have, want); mii > 0 {
				w = w / mii * mii
			}
		}
		if h != w {
			out = append(out, optionChange{opt: o, have: h, val: w})
		}
	}
	if want.ArpIpTargets != nil && !sameIPs(have.ArpIpTargets, want.ArpIpTargets) {
		out = append(out, optionChange{haveIPs: have.ArpIpTargets})
	}
	return out
}

func effectiveMiimon(have, want *netlink.Bond) int {
	if want.Miimon >= 0 {
		return want.Miimon
	}
	return have.Miimon
}

// changeMessage is a Bond for LinkModify that carries only the given options
// of src: the kernel refuses some options in some modes, so apply sends only
// what it means to change.
func changeMessage(l *netlink.Bond, changes []optionChange, src *netlink.Bond) *netlink.Bond {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = l.Name
	attrs.Index = l.Index
	m := netlink.NewLinkBond(attrs)
	for _, c := range changes {
		if c.opt == nil {
			m.ArpIpTargets = src.ArpIpTargets
			if m.ArpIpTargets == nil {
				m.ArpIpTargets = []net.IP{}
			}
			continue
		}
		c.opt.set(m, c.opt.get(src))
	}
	return m
}

func sameIPs(a, b []net.IP) bool {
	key := func(ips []net.IP) []string {
		s := make([]string, 0, len(ips))
		for _, ip := range ips {
			s = append(s, ip.String())
		}
		slices.Sort(s)
		return s
	}
	return slices.Equal(key(a), key(b))
}

// configSet reports whether the config names the parameter key: only then is
// a -1 a value, not netlink's "unset".
func configSet(p *netplan.BondParameters, key string) bool {
	switch key {
	case "mii-monitor-interval":
		return p.MIIMonitorInterval != nil
	case "up-delay":
		return p.UpDelay != nil
	case "down-delay":
		return p.DownDelay != nil
	case "arp-interval":
		return p.ARPInterval != nil
	case "min-links":
		return p.MinLinks != nil
	case "packets-per-member":
		return p.PacketsPerMember != nil
	case "resend-igmp":
		return p.ResendIGMP != nil
	}
	return false
}

func millis(d *netplan.Duration) int {
	if d == nil {
		return -1
	}
	return int(d.Milliseconds)
}

func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// intMap widens one of netlink's name tables to plain ints.
func intMap[T ~int](m map[string]T) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
