package units

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
	"github.com/coreos/go-systemd/v22/unit"
)

// renderEthernet renders a standalone NIC: its .network, matched as a bond
// member is (MemberMatch: by its hardware, whatever its name after the
// reboot), with its addressing, or as a bridge port; and, for set-name, a
// .link file that has udev give it that name whenever it appears.
func renderEthernet(plan *netplan.Plan, e *netplan.EthernetPlan, macs map[string]string) ([]File, error) {
	for _, n := range []string{e.Name, e.NIC.Name} {
		if err := checkIfname(n); err != nil {
			return nil, err
		}
	}
	if e.Config.SetName != "" && e.Config.SetName != e.Name {
		return nil, fmt.Errorf("plan names it %s, but its set-name is %s", e.Name, e.Config.SetName)
	}
	m, err := MemberMatch(e.NIC)
	if err != nil {
		return nil, err
	}
	mac := ""
	if e.Config.MACAddress != "" {
		if mac, err = canonicalMAC(e.Config.MACAddress); err != nil {
			return nil, fmt.Errorf("macaddress: %w", err)
		}
	}
	port, err := portOf(plan, e.Name)
	if err != nil {
		return nil, err
	}
	_, vlans := plan.Upper(e.Name)
	// The comment names the NIC by its id and set-name, not by the name it
	// had when this file was written: a run after the rename must write the
	// same file.
	what := "NIC " + e.Name + " (ethernets id " + e.ID + ")"
	if port != nil {
		what += ", a port of bridge " + port.bridge
	}
	network, err := renderNetwork(netSpec{match: m.add, mtu: e.Config.MTU, mac: mac, identity: macs[e.Name],
		addressing: e.Config.Addressing, port: port, vlans: vlans}, []string{ownerLine, what + "."})
	if err != nil {
		return nil, fmt.Errorf("%s.network: %w", e.Name, err)
	}
	base := Prefix + e.Name + "-" + m.FileKey
	files := []File{{Kind: Network, Name: base + ".network", Content: network}}
	if e.Config.SetName != "" {
		link, err := renderLink(m, e)
		if err != nil {
			return nil, fmt.Errorf("%s.link: %w", e.Name, err)
		}
		files = append(files, File{Kind: Link, Name: base + ".link", Content: link})
	}
	return files, nil
}

// renderLink renders the .link file of a renamed NIC: udev gives the NIC its
// set-name whenever it appears (systemd ≥ 240 renames a NIC that the
// initramfs already named: NAMING_ALLOW_RERENAMES). Like netplan's, it
// replaces the distribution's 99-default.link for that NIC; Name= makes
// NamePolicy= moot. bondstrap has no wakeonlan key and leaves Wake-on-LAN
// alone, where netplan writes WakeOnLan=off.
func renderLink(m Match, e *netplan.EthernetPlan) ([]byte, error) {
	var b sectionBuilder
	m.add(b.section("Match"))
	add(b.section("Link"), "Name", e.Config.SetName)
	return b.bytes([]string{ownerLine, "Gives the NIC of ethernets id " + e.ID + " the name " + e.Config.SetName + " (set-name)."})
}

// add writes the match into a [Match] section. A NIC matched by its current
// MAC (it has neither a permanent MAC nor a PCI path) is matched only where
// the link has no kind (Kind=!*: physical NICs have none): the bond, VLAN or
// bridge above it may carry the same MAC, and would match too.
func (m Match) add(s *unit.UnitSection) {
	add(s, m.Key, m.Value)
	if m.Key == "MACAddress" {
		add(s, "Kind", "!*")
	}
}

// renderVirtual renders a VLAN's or a bridge's .netdev and .network.
func renderVirtual(plan *netplan.Plan, v *netplan.VirtualPlan, macs map[string]string) ([]File, error) {
	if err := checkIfname(v.Name); err != nil {
		return nil, err
	}
	mac := ""
	if v.MAC != "" {
		var err error
		if mac, err = canonicalMAC(v.MAC); err != nil {
			return nil, fmt.Errorf("MAC: %w", err)
		}
	}
	var b sectionBuilder
	nd := b.section("NetDev")
	add(nd, "Name", v.Name)
	var what string
	switch v.Kind {
	case netplan.KindVLAN:
		add(nd, "Kind", "vlan")
		what = fmt.Sprintf("VLAN %s, id %d on %s", v.Name, v.VLANID, v.Link)
	case netplan.KindBridge:
		add(nd, "Kind", "bridge")
		what = "Bridge " + v.Name
	default:
		return nil, fmt.Errorf("kind %q is neither a VLAN nor a bridge", v.Kind)
	}
	if mac != "" {
		add(nd, "MACAddress", mac)
	}
	if v.Addressing.MTU != 0 {
		mtu, err := mtuBytes(v.Addressing.MTU)
		if err != nil {
			return nil, fmt.Errorf("%s.netdev: %w", v.Name, err)
		}
		add(nd, "MTUBytes", mtu)
	}
	var err error
	if v.Kind == netplan.KindVLAN {
		err = addVLAN(b.section("VLAN"), v)
	} else {
		err = addBridge(b.section("Bridge"), v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s.netdev: %w", v.Name, err)
	}
	netdev, err := b.bytes([]string{ownerLine, what + "."})
	if err != nil {
		return nil, fmt.Errorf("%s.netdev: %w", v.Name, err)
	}

	port, err := portOf(plan, v.Name)
	if err != nil {
		return nil, err
	}
	_, vlans := plan.Upper(v.Name)
	header := "Addressing of " + kindWord(v.Kind) + " " + v.Name
	if port != nil {
		header = kindWord(v.Kind) + " " + v.Name + ", a port of bridge " + port.bridge
	}
	network, err := renderNetwork(netSpec{match: matchName(v.Name), virtual: true, mtu: v.Addressing.MTU,
		mac: mac, identity: macs[v.Name], addressing: v.Addressing, port: port, vlans: vlans}, []string{ownerLine, header + "."})
	if err != nil {
		return nil, fmt.Errorf("%s.network: %w", v.Name, err)
	}
	return []File{
		{Kind: Network, Name: Prefix + v.Name + ".netdev", Content: netdev},
		{Kind: Network, Name: Prefix + v.Name + ".network", Content: network},
	}, nil
}

// kindWord is how a comment names a kind of virtual device.
func kindWord(kind string) string {
	if kind == netplan.KindVLAN {
		return "VLAN"
	}
	return kind
}

// addVLAN fills a VLAN's [VLAN] section.
func addVLAN(s *unit.UnitSection, v *netplan.VirtualPlan) error {
	if err := checkIfname(v.Link); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	id, err := inRange("Id", v.VLANID, 0, 4094)
	if err != nil {
		return err
	}
	add(s, "Id", id)
	return nil
}

// addBridge fills a bridge's [Bridge] section. STP= is always written: on
// unless the config says stp: false (netplan's documented default, which
// its networkd renderer writes only when parameters: is given, leaving the
// kernel's off otherwise; bondstrap's apply turns it on in both cases).
// networkd reads a time as seconds, or with a unit.
func addBridge(s *unit.UnitSection, v *netplan.VirtualPlan) error {
	p := v.Bridge
	stp := "false"
	if p.STPOrDefault() {
		stp = "true"
	}
	add(s, "STP", stp)
	if p == nil {
		return nil
	}
	for _, t := range []struct {
		key   string
		value netplan.Seconds
	}{{"ForwardDelaySec", p.ForwardDelay}, {"HelloTimeSec", p.HelloTime}, {"MaxAgeSec", p.MaxAge}, {"AgeingTimeSec", p.AgeingTime}} {
		if t.value == "" {
			continue
		}
		v, err := networkdTime(string(t.value))
		if err != nil {
			return fmt.Errorf("%s: %w", t.key, err)
		}
		add(s, t.key, v)
	}
	if p.Priority != nil {
		v, err := inRange("Priority", *p.Priority, 0, 65535)
		if err != nil {
			return err
		}
		add(s, "Priority", v)
	}
	return nil
}

// networkdTime turns a time of the plan (a Go duration such as "15s" or
// "1m0s", or a bare number of seconds) into what networkd reads: whole
// seconds as "15s", else milliseconds as "500ms".
func networkdTime(s string) (string, error) {
	ms, err := spec.ParseTime(s, time.Second)
	if err != nil {
		return "", err
	}
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10) + "s", nil
	}
	return strconv.FormatInt(ms, 10) + "ms", nil
}

// matchName matches an interface by its name: the devices networkd creates
// have the names their .netdev gives them.
func matchName(name string) func(*unit.UnitSection) {
	return func(s *unit.UnitSection) { add(s, "Name", name) }
}

// portOf is the bridge-port part of the named interface's .network, or nil
// when it is no bridge's port: the bridge, and the port's path-cost and
// port-priority, which the config keys by the port's config name.
func portOf(plan *netplan.Plan, name string) (*portSpec, error) {
	br, _ := plan.Upper(name)
	if br == "" {
		return nil, nil
	}
	v, ok := plan.Virtual(br)
	if !ok {
		return nil, fmt.Errorf("bridge %s of %s is not in the plan", br, name)
	}
	i := slices.Index(v.Ports, name)
	if i < 0 {
		return nil, errors.New("plan lists " + name + " under no port of bridge " + br)
	}
	p := &portSpec{bridge: br}
	if v.Bridge == nil {
		return p, nil
	}
	id := name
	if i < len(v.IDs) {
		id = v.IDs[i]
	}
	if c, ok := v.Bridge.PathCost[id]; ok {
		p.cost = &c
	}
	if pr, ok := v.Bridge.PortPriority[id]; ok {
		p.priority = &pr
	}
	return p, nil
}

// interfaceMACs are the MACs the interfaces of plan have once up, by name,
// canonical: a standalone NIC's macaddress or hardware MAC, a bond's
// (bondMAC), a VLAN's or bridge's planned one, else (a VLAN) its link's.
// An interface whose MAC only the kernel or networkd will choose, or whose
// MAC does not parse (its render fails on it), is missing.
func interfaceMACs(cfg *netplan.Config, plan *netplan.Plan) map[string]string {
	macs := make(map[string]string)
	set := func(name, mac string) {
		if m, err := canonicalMAC(mac); err == nil {
			macs[name] = m
		}
	}
	for _, e := range plan.Ethernets {
		if e.Config.MACAddress != "" {
			set(e.Name, e.Config.MACAddress)
		} else {
			set(e.Name, e.NIC.HardwareMAC())
		}
	}
	for i := range plan.Bonds {
		bp := &plan.Bonds[i]
		if len(bp.MemberNICs) > 0 {
			if mac, err := bondMAC(bondConfig(cfg, bp), bp); err == nil {
				macs[bp.Name] = mac
			}
		}
	}
	for _, v := range plan.Virtuals {
		switch {
		case v.MAC != "":
			set(v.Name, v.MAC)
		case v.Kind == netplan.KindVLAN && macs[v.Link] != "":
			macs[v.Name] = macs[v.Link]
		}
	}
	return macs
}
