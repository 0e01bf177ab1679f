package units

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bondstrap/bondstrap/netplan/spec"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/coreos/go-systemd/v22/unit"
)

// ownerLine opens every file: who wrote it and that hand edits do not last.
const ownerLine = "Written by bondstrap; do not edit: its next run rewrites or removes this file."

// Render returns the networkd units that bring back the network of plan on
// every boot, as netplan's networkd backend would render the same config,
// plus bondstrap's identity rules:
//
//   - per standalone NIC, Prefix+"<name>-<key>.network" matches the NIC by
//     MemberMatch, with its addressing (or as a bridge port) and a VLAN= line
//     per VLAN on it; with set-name, Prefix+"<name>-<key>.link" (kind Link)
//     has udev give it that name;
//   - per bond, Prefix+"<bond>.netdev" creates the bond with the MAC address
//     it had while provisioning (its first member's permanent MAC, unless the
//     config sets macaddress) and every bond parameter networkd can set
//     (spec.Persist decides);
//   - per bond whose parameters networkd cannot all set, a udev rule
//     Prefix+"<bond>.rules" writes the rest to sysfs when the bond appears;
//   - per bond, Prefix+"<bond>.network" addresses it (DHCPv4 with the MAC
//     as client identifier, DHCPv6, router advertisements, static
//     addresses, gateways, routes and DNS), or makes it a bridge port, and
//     puts its VLANs on it;
//   - per member, Prefix+"<bond>-<key>.network" enslaves the NIC, matched by
//     MemberMatch: its permanent MAC, else its PCI path, else its MAC;
//   - per VLAN and bridge, Prefix+"<name>.netdev" creates it (a bridge
//     with its bond's MAC, so the DHCP lease stays, and STP and timers),
//     and Prefix+"<name>.network" addresses it or makes it a bridge port.
//
// Files come in the order plan.Interfaces lists the interfaces: standalone
// NICs, then each bond's .netdev, .network, its members in enslave order
// and its rule, then the VLANs and bridges in creation order; the same input
// renders the same bytes. cfg supplies the bonds' and members' settings;
// when cfg is nil, or lacks a bond, the bond's settings come from
// plan.Bonds[i].Config and members get no MTU of their own. Standalone NICs,
// VLANs and bridges render from the plan alone.
func Render(cfg *netplan.Config, plan *netplan.Plan) ([]File, error) {
	if plan == nil {
		return nil, errors.New("render units: no plan")
	}
	files := []File{}
	seen := make(map[string]bool)
	macs := interfaceMACs(cfg, plan)
	keep := func(what string, fs []File, err error) error {
		if err != nil {
			return fmt.Errorf("render units for %s: %w", what, err)
		}
		for _, f := range fs {
			if seen[f.Name] {
				return fmt.Errorf("render units for %s: two units named %s", what, f.Name)
			}
			seen[f.Name] = true
		}
		files = append(files, fs...)
		return nil
	}
	for i := range plan.Ethernets {
		e := &plan.Ethernets[i]
		fs, err := renderEthernet(plan, e, macs)
		if err := keep("NIC "+e.Name, fs, err); err != nil {
			return nil, err
		}
	}
	for i := range plan.Bonds {
		bp := &plan.Bonds[i]
		fs, err := renderBond(cfg, plan, bp)
		if err := keep("bond "+bp.Name, fs, err); err != nil {
			return nil, err
		}
	}
	for i := range plan.Virtuals {
		v := &plan.Virtuals[i]
		fs, err := renderVirtual(plan, v, macs)
		if err := keep(v.Kind+" "+v.Name, fs, err); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// RenderFallback returns the single unit of the fallback network: DHCPv4 on
// nic, matched as a bond member would be (MemberMatch), with the MAC as DHCP
// client identifier. The file is named FallbackPrefix+"fallback-<key>.network".
func RenderFallback(nic inventory.NIC) ([]File, error) {
	m, err := MemberMatch(nic)
	if err != nil {
		return nil, fmt.Errorf("render fallback unit for %s: %w", nic.Name, err)
	}
	var b sectionBuilder
	m.add(b.section("Match"))
	nw := b.section("Network")
	add(nw, "DHCP", "ipv4")
	add(nw, "LinkLocalAddressing", "ipv6")
	addDHCPv4(&b)
	header := []string{ownerLine, "Fallback: DHCPv4 on one NIC (" + nic.Name + " while provisioning), for this boot only."}
	content, err := b.bytes(header)
	if err != nil {
		return nil, fmt.Errorf("render fallback unit for %s: %w", nic.Name, err)
	}
	return []File{{Name: FallbackPrefix + "fallback-" + m.FileKey + ".network", Content: content}}, nil
}

// renderBond renders the .netdev, the .network and the member units of one
// bond.
func renderBond(cfg *netplan.Config, plan *netplan.Plan, bp *netplan.BondPlan) ([]File, error) {
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

	netdev, writes, err := renderNetdev(bp, bond, mac)
	if err != nil {
		return nil, fmt.Errorf("%s.netdev: %w", bp.Name, err)
	}
	network, err := renderBondNetwork(plan, bp, bond, mac)
	if err != nil {
		return nil, fmt.Errorf("%s.network: %w", bp.Name, err)
	}
	files := []File{
		{Name: Prefix + bp.Name + ".netdev", Content: netdev},
		{Name: Prefix + bp.Name + ".network", Content: network},
	}
	for i, nic := range bp.MemberNICs {
		f, err := renderMember(cfg, bp, bond, i, nic)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", nic.Name, err)
		}
		files = append(files, f)
	}
	if len(writes) > 0 {
		rule, err := renderUdevRule(bp.Name, writes)
		if err != nil {
			return nil, fmt.Errorf("%s.rules: %w", bp.Name, err)
		}
		files = append(files, File{Kind: Udev, Name: Prefix + bp.Name + ".rules", Content: rule})
	}
	return files, nil
}

// bondConfig returns the bond's settings: from cfg when it has the bond (in
// the plan's mode), else the copy the plan carries. A bond built in another
// mode than declared (802.3ad without a partner, persisted as built) has its
// settings for that mode in the plan's copy.
func bondConfig(cfg *netplan.Config, bp *netplan.BondPlan) netplan.Bond {
	if cfg != nil {
		if b, ok := cfg.Network.Bonds[bp.Name]; ok && (bp.Mode == "" || string(b.Mode()) == bp.Mode) {
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

// renderNetdev renders the bond's .netdev: [NetDev] and [Bond], the [Bond]
// keys as spec.Persist decides. Parameters networkd cannot express are
// returned as udev rule writes.
func renderNetdev(bp *netplan.BondPlan, bond netplan.Bond, mac string) ([]byte, []spec.SysfsWrite, error) {
	var b sectionBuilder
	nd := b.section("NetDev")
	add(nd, "Name", bp.Name)
	add(nd, "Kind", "bond")
	add(nd, "MACAddress", mac)
	if bond.MTU != 0 {
		mtu, err := mtuBytes(bond.MTU)
		if err != nil {
			return nil, nil, err
		}
		add(nd, "MTUBytes", mtu)
	}
	mode, ok := spec.LookupMode(bp.Mode)
	if !ok {
		return nil, nil, fmt.Errorf("mode %q is not a bonding mode", bp.Mode)
	}
	bs := b.section("Bond")
	add(bs, "Mode", mode.Name)
	var settings spec.Settings
	if bond.Parameters != nil {
		settings = bond.Parameters.Settings
	}
	// Parse checks each value and validation the values together; a config
	// built in code is checked here, or spec would render a value networkd
	// ignores, drop it, or write what the kernel refuses at boot.
	for _, s := range settings {
		if err := s.Check(); err != nil {
			key := "?"
			if s.Param != nil {
				key = s.Param.Key
			}
			return nil, nil, fmt.Errorf("parameters.%s: %w", key, err)
		}
	}
	if problems := settings.Check(mode.Name); len(problems) > 0 {
		return nil, nil, fmt.Errorf("parameters.%s: %s", problems[0].Key, problems[0].Msg)
	}
	persisted, problems := spec.Persist(mode.Name, settings)
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("parameters.%s: %s", problems[0].Key, problems[0].Msg)
	}
	for _, kv := range persisted.Networkd {
		add(bs, kv.Key, kv.Value)
	}
	content, err := b.bytes([]string{ownerLine, "Bond " + bp.Name + ", mode " + mode.Name + "."})
	return content, persisted.Udev, err
}

// renderUdevRule renders the udev rule that persists what networkd cannot:
// when the bond appears, before networkd brings it up (networkd waits for
// udev to have processed a link), udev writes each value to the bond's sysfs
// file, in the order the kernel applies them; a parameter without a sysfs
// file is set with iproute2's ip, which udev runs before it lets networkd
// have the link.
func renderUdevRule(bond string, writes []spec.SysfsWrite) ([]byte, error) {
	if err := checkIfname(bond); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n# Bond %s: what systemd-networkd cannot set, written to sysfs when the bond appears.\n", ownerLine, bond)
	for _, w := range writes {
		for _, v := range append([]string{w.Attr, w.Value}, w.IP...) {
			if v == "" && len(w.IP) > 0 {
				continue
			}
			if err := checkValue(v); err != nil || strings.ContainsAny(v, "\"{}%$ ") {
				return nil, fmt.Errorf("%w: udev value %q", ErrUnsafeValue, v)
			}
		}
		if len(w.IP) > 0 {
			fmt.Fprintf(&b, "ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"%s\", RUN+=\"%s link set dev %s type bond %s\"\n",
				bond, spec.IPCommand, bond, strings.Join(w.IP, " "))
			continue
		}
		fmt.Fprintf(&b, "ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"%s\", ATTR{%s}=\"%s\"\n", bond, w.Attr, w.Value)
	}
	return []byte(b.String()), nil
}

// mtuBytes formats an MTU after a sanity check (68 is IPv4's minimum, 65535
// the largest any driver takes).
func mtuBytes(mtu int) (string, error) {
	return inRange("MTUBytes", mtu, 68, 65535)
}

// renderBondNetwork renders the bond's .network: matched by name, its MTU
// and MAC, its addressing or its part as a bridge port, and its VLANs.
func renderBondNetwork(plan *netplan.Plan, bp *netplan.BondPlan, bond netplan.Bond, mac string) ([]byte, error) {
	port, err := portOf(plan, bp.Name)
	if err != nil {
		return nil, err
	}
	_, vlans := plan.Upper(bp.Name)
	header := "Addressing of bond " + bp.Name + "."
	if port != nil {
		header = "Bond " + bp.Name + ", a port of bridge " + port.bridge + "."
	}
	return renderNetwork(netSpec{match: matchName(bp.Name), virtual: true, mtu: bond.MTU, mac: mac, identity: mac,
		addressing: bond.Addressing, port: port, vlans: vlans}, []string{ownerLine, header})
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

// addRoute fills one [Route] section.
func addRoute(s *unit.UnitSection, r netplan.Route) error {
	dest, via := r.Destination(), r.Gateway()
	if !dest.IsValid() {
		return fmt.Errorf("to %q is neither default nor a prefix", r.To)
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

// renderMember renders one member's .network: matched by its hardware
// identity (MemberMatch), enslaved to the bond, no addresses of its own.
func renderMember(cfg *netplan.Config, bp *netplan.BondPlan, bond netplan.Bond, i int, nic inventory.NIC) (File, error) {
	if err := checkIfname(nic.Name); err != nil {
		return File{}, err
	}
	m, err := MemberMatch(nic)
	if err != nil {
		return File{}, err
	}
	var b sectionBuilder
	m.add(b.section("Match"))
	if mtu := memberMTU(cfg, bp, bond, i, nic); mtu != 0 {
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
	return File{Name: Prefix + bp.Name + "-" + m.FileKey + ".network", Content: content}, nil
}

// Match is how a persisted unit finds a NIC after the reboot, when its kernel
// name may differ: a [Match] key and value, and the part of the file name
// that stays the same for the NIC on every run.
type Match struct {
	Key, Value, FileKey string
}

// MemberMatch returns the stablest identity of nic that networkd matches:
// its permanent MAC; without one (some virtual and USB NICs), its PCI path
// (udev's ID_PATH), which does not change when a bond rewrites the NIC's
// MAC; without either, its MAC as found before any bond changed it.
func MemberMatch(nic inventory.NIC) (Match, error) {
	if nic.PermanentMAC != "" {
		mac, err := canonicalMAC(nic.PermanentMAC)
		if err != nil {
			return Match{}, fmt.Errorf("permanent MAC: %w", err)
		}
		return Match{Key: "PermanentMACAddress", Value: mac, FileKey: macForFileName(mac)}, nil
	}
	if nic.PCIAddress != "" {
		if !inventory.IsPCIAddress(nic.PCIAddress) {
			return Match{}, fmt.Errorf("%w: PCI address %q", ErrUnsafeValue, nic.PCIAddress)
		}
		return Match{Key: "Path", Value: "pci-" + nic.PCIAddress,
			FileKey: "pci-" + strings.NewReplacer(":", "", ".", "").Replace(nic.PCIAddress)}, nil
	}
	mac, err := canonicalMAC(nic.MAC)
	if err != nil {
		return Match{}, fmt.Errorf("MAC: %w", err)
	}
	return Match{Key: "MACAddress", Value: mac, FileKey: macForFileName(mac)}, nil
}

// memberMTU is the mtu of the ethernets id that selected member i (as the
// plan records it; else the first of the bond's ids that matches nic), or 0.
func memberMTU(cfg *netplan.Config, bp *netplan.BondPlan, bond netplan.Bond, i int, nic inventory.NIC) int {
	if cfg == nil {
		return 0
	}
	if i < len(bp.MemberIDs) && bp.MemberIDs[i] != "" {
		return cfg.Network.Ethernets[bp.MemberIDs[i]].MTU
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
