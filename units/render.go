package units

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/coreos/go-systemd/v22/unit"
)

// ownerLine opens every file: who wrote it and that hand edits do not last.
const ownerLine = "Written by bondstrap; do not edit: its next run rewrites or removes this file."

// Render returns the networkd units that bring back the bonds of plan on
// every boot, as netplan's networkd backend would render the same config,
// plus bondstrap's identity rules:
//
//   - per bond, Prefix+"<bond>.netdev" creates the bond with the MAC address
//     it had while provisioning (its first member's current MAC, unless the
//     config sets macaddress) and every bond parameter of the config;
//   - per bond, Prefix+"<bond>.network" addresses it: DHCPv4 with the MAC as
//     client identifier, static addresses, gateway, routes and DNS;
//   - per member, Prefix+"<bond>-<mac>.network" (mac without colons) enslaves
//     the NIC, matched by its permanent MAC address.
//
// Files come in plan order, each bond's .netdev, .network, then its members in
// enslave order; the same input renders the same bytes. cfg supplies the
// bonds' and ethernets' settings; when cfg is nil, or lacks a bond, the bond's
// settings come from plan.Bonds[i].Config and members get no MTU of their own.
func Render(cfg *netplan.Config, plan *netplan.Plan) ([]File, error) {
	if plan == nil {
		return nil, errors.New("render units: no plan")
	}
	files := []File{}
	seen := make(map[string]bool)
	for i := range plan.Bonds {
		bp := &plan.Bonds[i]
		fs, err := renderBond(cfg, bp)
		if err != nil {
			return nil, fmt.Errorf("render units for bond %s: %w", bp.Name, err)
		}
		for _, f := range fs {
			if seen[f.Name] {
				return nil, fmt.Errorf("render units for bond %s: two units named %s", bp.Name, f.Name)
			}
			seen[f.Name] = true
		}
		files = append(files, fs...)
	}
	return files, nil
}

// RenderFallback returns the single unit of the fallback network: DHCPv4 on
// nic, matched by its permanent MAC address, with the MAC as DHCP client
// identifier. The file is named Prefix+"fallback-<mac>.network".
func RenderFallback(nic inventory.NIC) ([]File, error) {
	mac, err := canonicalMAC(nic.HardwareMAC())
	if err != nil {
		return nil, fmt.Errorf("render fallback unit for %s: %w", nic.Name, err)
	}
	var b sectionBuilder
	add(b.section("Match"), "PermanentMACAddress", mac)
	nw := b.section("Network")
	add(nw, "DHCP", "ipv4")
	add(nw, "LinkLocalAddressing", "ipv6")
	addDHCPv4(&b)
	header := []string{ownerLine, "Fallback: DHCPv4 on one NIC (" + nic.Name + " while provisioning)."}
	content, err := b.bytes(header)
	if err != nil {
		return nil, fmt.Errorf("render fallback unit for %s: %w", nic.Name, err)
	}
	return []File{{Name: Prefix + "fallback-" + macForFileName(mac) + ".network", Content: content}}, nil
}

// renderBond renders the .netdev, the .network and the member units of one
// bond.
func renderBond(cfg *netplan.Config, bp *netplan.BondPlan) ([]File, error) {
	if err := checkIfname(bp.Name); err != nil {
		return nil, err
	}
	if len(bp.MemberNICs) == 0 {
		return nil, errors.New("no members")
	}
	if len(bp.Members) != len(bp.MemberNICs) {
		return nil, fmt.Errorf("plan lists %d members but %d member NICs", len(bp.Members), len(bp.MemberNICs))
	}
	for i, nic := range bp.MemberNICs {
		if nic.Name != bp.Members[i] {
			return nil, fmt.Errorf("member %d is %s but its NIC entry is %s", i, bp.Members[i], nic.Name)
		}
	}
	if bp.Primary != "" && !containsName(bp.MemberNICs, bp.Primary) {
		return nil, fmt.Errorf("primary %s is not a member", bp.Primary)
	}
	bond := bondConfig(cfg, bp)
	mac, err := bondMAC(bond, bp)
	if err != nil {
		return nil, err
	}

	netdev, err := renderNetdev(bp, bond, mac)
	if err != nil {
		return nil, fmt.Errorf("%s.netdev: %w", bp.Name, err)
	}
	network, err := renderBondNetwork(bp, bond, mac)
	if err != nil {
		return nil, fmt.Errorf("%s.network: %w", bp.Name, err)
	}
	files := []File{
		{Name: Prefix + bp.Name + ".netdev", Content: netdev},
		{Name: Prefix + bp.Name + ".network", Content: network},
	}
	for _, nic := range bp.MemberNICs {
		f, err := renderMember(cfg, bp, bond, nic)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", nic.Name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// bondConfig returns the bond's settings: from cfg when it has the bond, else
// the copy the plan carries.
func bondConfig(cfg *netplan.Config, bp *netplan.BondPlan) netplan.Bond {
	if cfg != nil {
		if b, ok := cfg.Network.Bonds[bp.Name]; ok {
			return b
		}
	}
	return bp.Config
}

// bondMAC is the MAC address the bond keeps across reboots, as the plan
// defines it (netplan.BondPlan.MAC), in canonical form. bond is the config the
// render uses, which wins over the plan's copy.
func bondMAC(bond netplan.Bond, bp *netplan.BondPlan) (string, error) {
	p := *bp
	p.Config = bond
	src := p.MAC()
	if src == "" {
		return "", fmt.Errorf("bond %s has no members", bp.Name)
	}
	mac, err := canonicalMAC(src)
	if err != nil {
		what := "MAC of first member " + bp.MemberNICs[0].Name
		if bond.MACAddress != "" {
			what = "macaddress"
		}
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return mac, nil
}

// renderNetdev renders the bond's .netdev: [NetDev] and [Bond].
func renderNetdev(bp *netplan.BondPlan, bond netplan.Bond, mac string) ([]byte, error) {
	var b sectionBuilder
	nd := b.section("NetDev")
	add(nd, "Name", bp.Name)
	add(nd, "Kind", "bond")
	add(nd, "MACAddress", mac)
	if bond.MTU != 0 {
		mtu, err := mtuBytes(bond.MTU)
		if err != nil {
			return nil, err
		}
		add(nd, "MTUBytes", mtu)
	}
	if err := addBondParameters(b.section("Bond"), bp, bond); err != nil {
		return nil, err
	}
	mode := bp.Mode
	if mode == "" {
		mode = "balance-rr"
	}
	return b.bytes([]string{ownerLine, "Bond " + bp.Name + ", mode " + mode + "."})
}

// Keyword values networkd (systemd 252, systemd.netdev(5)) accepts.
var (
	bondModes        = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
	lacpRates        = []string{"slow", "fast"}
	hashPolicies     = []string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4"}
	adSelects        = []string{"stable", "bandwidth", "count"}
	arpValidates     = []string{"none", "active", "backup", "all"}
	arpAllTargets    = []string{"any", "all"}
	failOverMACs     = []string{"none", "active", "follow"}
	reselectPolicies = []string{"always", "better", "failure"}
)

// maxARPTargets is the kernel's limit on ARP monitor targets.
const maxARPTargets = 16

// addBondParameters fills the [Bond] section: the mode, then every parameter
// the config sets, in netplan's order. Unset parameters are left to the
// kernel's defaults, as netplan does.
func addBondParameters(s *unit.UnitSection, bp *netplan.BondPlan, bond netplan.Bond) error {
	mode := bp.Mode
	p := bond.Parameters
	if mode == "" && p != nil {
		mode = string(p.Mode)
	}
	if mode != "" {
		v, err := oneOf("Mode", mode, bondModes...)
		if err != nil {
			return err
		}
		add(s, "Mode", v)
	}
	if p == nil {
		return nil
	}
	// Each step adds one key or fails; the list keeps netplan's order.
	steps := []func() error{
		keyword(s, "LACPTransmitRate", p.LACPRate, lacpRates),
		span(s, "MIIMonitorSec", p.MIIMonitorInterval),
		integer(s, "MinLinks", p.MinLinks, 0, 1<<31-1),
		keyword(s, "TransmitHashPolicy", p.TransmitHashPolicy, hashPolicies),
		keyword(s, "AdSelect", p.ADSelect, adSelects),
		boolean(s, "AllSlavesActive", p.AllMembersActive),
		span(s, "ARPIntervalSec", p.ARPInterval),
		func() error { return addARPTargets(s, p.ARPIPTargets) },
		keyword(s, "ARPValidate", p.ARPValidate, arpValidates),
		keyword(s, "ARPAllTargets", p.ARPAllTargets, arpAllTargets),
		span(s, "UpDelaySec", p.UpDelay),
		span(s, "DownDelaySec", p.DownDelay),
		keyword(s, "FailOverMACPolicy", p.FailOverMACPolicy, failOverMACs),
		integer(s, "GratuitousARP", p.GratuitousARP, 0, 255),
		integer(s, "PacketsPerSlave", p.PacketsPerMember, 0, 65535),
		keyword(s, "PrimaryReselectPolicy", p.PrimaryReselectPolicy, reselectPolicies),
		integer(s, "ResendIGMP", p.ResendIGMP, 0, 255),
		learnInterval(s, p.LearnPacketInterval),
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// keyword returns a step that adds key=v when v is set and networkd knows it.
func keyword(s *unit.UnitSection, key, v string, allowed []string) func() error {
	return func() error {
		if v == "" {
			return nil
		}
		v, err := oneOf(key, v, allowed...)
		if err != nil {
			return err
		}
		add(s, key, v)
		return nil
	}
}

// span returns a step that adds key=<time span> when d is set.
func span(s *unit.UnitSection, key string, d *netplan.Duration) func() error {
	return func() error {
		if d == nil {
			return nil
		}
		v, err := timeSpan(key, d.Milliseconds)
		if err != nil {
			return err
		}
		add(s, key, v)
		return nil
	}
}

// integer returns a step that adds key=n when n is set and within lo..hi.
func integer(s *unit.UnitSection, key string, n *int, lo, hi int64) func() error {
	return func() error {
		if n == nil {
			return nil
		}
		v, err := inRange(key, *n, lo, hi)
		if err != nil {
			return err
		}
		add(s, key, v)
		return nil
	}
}

// boolean returns a step that adds key=true or key=false when b is set.
func boolean(s *unit.UnitSection, key string, b *bool) func() error {
	return func() error {
		if b != nil {
			add(s, key, strconv.FormatBool(*b))
		}
		return nil
	}
}

// learnInterval returns the step for LearnPacketIntervalSec=. The kernel takes
// whole seconds from 1 up; networkd would drop anything else with only a log
// line, so it is refused here instead.
func learnInterval(s *unit.UnitSection, d *netplan.Duration) func() error {
	return func() error {
		if d == nil {
			return nil
		}
		if d.Milliseconds < 1000 || d.Milliseconds%1000 != 0 {
			return fmt.Errorf("LearnPacketIntervalSec: %dms is not a whole number of seconds >= 1", d.Milliseconds)
		}
		add(s, "LearnPacketIntervalSec", strconv.FormatInt(d.Milliseconds/1000, 10)+"s")
		return nil
	}
}

// addARPTargets adds ARPIPTargets= with the IPv4 targets separated by spaces.
func addARPTargets(s *unit.UnitSection, targets []string) error {
	if len(targets) == 0 {
		return nil
	}
	if len(targets) > maxARPTargets {
		return fmt.Errorf("ARPIPTargets: %d targets, at most %d", len(targets), maxARPTargets)
	}
	out := make([]string, len(targets))
	for i, t := range targets {
		a, err := netip.ParseAddr(t)
		if err != nil || !a.Is4() {
			return fmt.Errorf("ARPIPTargets: %q is not an IPv4 address", t)
		}
		out[i] = a.String()
	}
	add(s, "ARPIPTargets", strings.Join(out, " "))
	return nil
}

// mtuBytes formats an MTU after a sanity check (68 is IPv4's minimum, 65535
// the largest any driver takes).
func mtuBytes(mtu int) (string, error) {
	return inRange("MTUBytes", mtu, 68, 65535)
}

// renderBondNetwork renders the bond's .network: [Match] by name, [Link],
// [Network], one [Route] per route and [DHCPv4].
func renderBondNetwork(bp *netplan.BondPlan, bond netplan.Bond, mac string) ([]byte, error) {
	var b sectionBuilder
	add(b.section("Match"), "Name", bp.Name)

	link := b.section("Link")
	if bond.MTU != 0 {
		mtu, err := mtuBytes(bond.MTU)
		if err != nil {
			return nil, err
		}
		add(link, "MTUBytes", mtu)
	}
	// Also in the .network, as netplan does: it applies even when the bond
	// already exists when networkd starts, where the .netdev does not.
	add(link, "MACAddress", mac)

	dhcp4 := bond.DHCP4 != nil && *bond.DHCP4
	if dhcp4 && bond.DHCPIdentifier != "" && bond.DHCPIdentifier != "mac" {
		return nil, fmt.Errorf("dhcp-identifier %q: bondstrap provisions with the MAC as DHCP client identifier, and must persist the same one", bond.DHCPIdentifier)
	}

	nw := b.section("Network")
	if dhcp4 {
		add(nw, "DHCP", "ipv4")
	}
	// netplan's default link-local: [ipv6].
	add(nw, "LinkLocalAddressing", "ipv6")
	addrs, err := byFamily(bond.Addresses, netip.ParsePrefix, "address")
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		add(nw, "Address", a)
	}
	if bond.Gateway4 != "" {
		gw, err := netip.ParseAddr(bond.Gateway4)
		if err != nil || !gw.Is4() {
			return nil, fmt.Errorf("gateway4 %q is not an IPv4 address", bond.Gateway4)
		}
		add(nw, "Gateway", gw.String())
	}
	if ns := bond.Nameservers; ns != nil {
		dns, err := byFamily(ns.Addresses, parseAddr, "nameserver")
		if err != nil {
			return nil, err
		}
		for _, a := range dns {
			add(nw, "DNS", a)
		}
		if len(ns.Search) > 0 {
			for _, d := range ns.Search {
				if d == "" || strings.ContainsFunc(d, func(r rune) bool { return r <= ' ' || r == '\\' }) {
					return nil, fmt.Errorf("%w: search domain %q", ErrUnsafeValue, d)
				}
			}
			add(nw, "Domains", strings.Join(ns.Search, " "))
		}
	}
	// A bond has carrier only once a member has; netplan configures virtual
	// devices without waiting for it.
	add(nw, "ConfigureWithoutCarrier", "yes")

	for i, r := range bond.Routes {
		if err := addRoute(b.section("Route"), r); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	if dhcp4 {
		addDHCPv4(&b)
	}
	return b.bytes([]string{ownerLine, "Addressing of bond " + bp.Name + "."})
}

// addDHCPv4 adds the [DHCPv4] section: the MAC as client identifier (the one
// bondstrap used while provisioning, so the server hands back the same lease),
// and netplan's defaults: route metric 100 and the MTU the server offers.
func addDHCPv4(b *sectionBuilder) {
	d := b.section("DHCPv4")
	add(d, "ClientIdentifier", "mac")
	add(d, "RouteMetric", "100")
	add(d, "UseMTU", "true")
}

// addRoute fills one [Route] section. "default" is the whole address space of
// the gateway's family (IPv4 without a gateway).
func addRoute(s *unit.UnitSection, r netplan.Route) error {
	var via netip.Addr
	if r.Via != "" {
		var err error
		if via, err = netip.ParseAddr(r.Via); err != nil || via.Zone() != "" {
			return fmt.Errorf("via %q is not an IP address", r.Via)
		}
	}
	var dest netip.Prefix
	switch {
	case r.To == "default" && via.Is6():
		dest = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	case r.To == "default":
		dest = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	default:
		var err error
		if dest, err = netip.ParsePrefix(r.To); err != nil {
			a, aerr := netip.ParseAddr(r.To)
			if aerr != nil || a.Zone() != "" {
				return fmt.Errorf("to %q is neither default, a prefix nor an address", r.To)
			}
			dest = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if via.IsValid() && via.Is4() != dest.Addr().Is4() {
		return fmt.Errorf("to %s and via %s are of different address families", r.To, r.Via)
	}
	add(s, "Destination", dest.String())
	if via.IsValid() {
		add(s, "Gateway", via.String())
	}
	if r.OnLink {
		add(s, "GatewayOnLink", "true")
	}
	if r.Metric != nil {
		v, err := inRange("Metric", *r.Metric, 0, 1<<32-1)
		if err != nil {
			return err
		}
		add(s, "Metric", v)
	}
	if r.Table != 0 {
		v, err := inRange("Table", r.Table, 1, 1<<32-1)
		if err != nil {
			return err
		}
		add(s, "Table", v)
	}
	return nil
}

// renderMember renders one member's .network: matched by permanent MAC,
// enslaved to the bond, no addresses of its own.
func renderMember(cfg *netplan.Config, bp *netplan.BondPlan, bond netplan.Bond, nic inventory.NIC) (File, error) {
	if err := checkIfname(nic.Name); err != nil {
		return File{}, err
	}
	mac, err := canonicalMAC(nic.HardwareMAC())
	if err != nil {
		return File{}, fmt.Errorf("permanent MAC: %w", err)
	}
	var b sectionBuilder
	add(b.section("Match"), "PermanentMACAddress", mac)
	if mtu := memberMTU(cfg, bond, nic); mtu != 0 {
		v, err := mtuBytes(mtu)
		if err != nil {
			return File{}, err
		}
		add(b.section("Link"), "MTUBytes", v)
	}
	nw := b.section("Network")
	add(nw, "LinkLocalAddressing", "no")
	add(nw, "Bond", bp.Name)
	if nic.Name == bp.Primary {
		add(nw, "PrimarySlave", "true")
	}
	header := []string{ownerLine, "Member of bond " + bp.Name + " (" + nic.Name + " while provisioning)."}
	content, err := b.bytes(header)
	if err != nil {
		return File{}, err
	}
	return File{Name: Prefix + bp.Name + "-" + macForFileName(mac) + ".network", Content: content}, nil
}

// memberMTU is the mtu of the first of the bond's ethernets ids that selects
// nic, in the order selection tries them, or 0.
func memberMTU(cfg *netplan.Config, bond netplan.Bond, nic inventory.NIC) int {
	if cfg == nil {
		return 0
	}
	for _, id := range bond.Interfaces {
		if ok, _ := cfg.MatchesID(id, nic); ok {
			return cfg.Network.Ethernets[id].MTU
		}
	}
	return 0
}

// containsName reports whether one of nics is named name.
func containsName(nics []inventory.NIC, name string) bool {
	for _, n := range nics {
		if n.Name == name {
			return true
		}
	}
	return false
}
