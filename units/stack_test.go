package units

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/coreos/go-systemd/v22/unit"
)

// valuesOf returns the values of key in every section called section, in
// file order.
func valuesOf(secs []*unit.UnitSection, section, key string) []string {
	var out []string
	for _, s := range secs {
		if s.Section != section {
			continue
		}
		for _, e := range s.Entries {
			if e.Name == key {
				out = append(out, e.Value)
			}
		}
	}
	return out
}

// countSections counts the sections called name.
func countSections(secs []*unit.UnitSection, name string) int {
	n := 0
	for _, s := range secs {
		if s.Section == name {
			n++
		}
	}
	return n
}

// checkStack checks that every interface of plan (standalone NICs, bonds and
// their members, VLANs, bridges) has its units, of the right kinds, and that
// each interface's .network says what the plan says of it (checkInterface).
// It returns the names of the files it accounted for.
func checkStack(t *testing.T, what string, plan *netplan.Plan, byName map[string]File) map[string]bool {
	t.Helper()
	accounted := map[string]bool{}
	need := func(name string, kind Kind) ([]*unit.UnitSection, bool) {
		t.Helper()
		f, ok := byName[name]
		if !ok {
			t.Errorf("%s: no %s", what, name)
			return nil, false
		}
		if f.Kind != kind {
			t.Errorf("%s: %s has kind %d, want %d", what, name, f.Kind, kind)
		}
		accounted[name] = true
		return sectionsOf(t, f.Content), true
	}
	expect := func(file string, secs []*unit.UnitSection, section, key string, want ...string) {
		t.Helper()
		if got := valuesOf(secs, section, key); !slices.Equal(got, want) {
			t.Errorf("%s: %s: [%s] %s=%q, want %q", what, file, section, key, got, want)
		}
	}
	networks := map[string][]*unit.UnitSection{}
	for _, b := range plan.Bonds {
		need(Prefix+b.Name+".netdev", Network)
		if secs, ok := need(Prefix+b.Name+".network", Network); ok {
			networks[b.Name] = secs
		}
		for _, nic := range b.MemberNICs {
			if m, err := MemberMatch(nic); err == nil {
				need(Prefix+b.Name+"-"+m.FileKey+".network", Network)
			}
		}
		if _, ok := byName[Prefix+b.Name+".rules"]; ok {
			accounted[Prefix+b.Name+".rules"] = true
		}
	}
	for _, e := range plan.Ethernets {
		m, err := MemberMatch(e.NIC)
		if err != nil {
			t.Errorf("%s: NIC %s: %v", what, e.Name, err)
			continue
		}
		base := Prefix + e.Name + "-" + m.FileKey
		if secs, ok := need(base+".network", Network); ok {
			networks[e.Name] = secs
			expect(base+".network", secs, "Match", m.Key, m.Value)
		}
		if e.Config.SetName == "" {
			continue
		}
		if secs, ok := need(base+".link", Link); ok {
			expect(base+".link", secs, "Match", m.Key, m.Value)
			expect(base+".link", secs, "Link", "Name", e.Config.SetName)
		}
	}
	for _, v := range plan.Virtuals {
		file := Prefix + v.Name + ".netdev"
		if secs, ok := need(file, Network); ok {
			expect(file, secs, "NetDev", "Name", v.Name)
			if v.MAC != "" {
				mac, _ := canonicalMAC(v.MAC)
				expect(file, secs, "NetDev", "MACAddress", mac)
			}
			if v.Kind == netplan.KindVLAN {
				expect(file, secs, "NetDev", "Kind", "vlan")
				expect(file, secs, "VLAN", "Id", strconv.Itoa(v.VLANID))
			} else {
				expect(file, secs, "NetDev", "Kind", "bridge")
				expect(file, secs, "Bridge", "STP", strconv.FormatBool(v.Bridge.STPOrDefault()))
			}
		}
		file = Prefix + v.Name + ".network"
		if secs, ok := need(file, Network); ok {
			networks[v.Name] = secs
			expect(file, secs, "Match", "Name", v.Name)
		}
	}
	for _, i := range plan.Interfaces() {
		if secs, ok := networks[i.Name]; ok {
			checkInterface(t, what+": "+i.Kind+" "+i.Name, plan, i, secs)
		}
	}
	return accounted
}

// checkInterface checks an interface's .network against the plan: what
// sits on it, its MTU, and either its part as a bridge port or its
// addressing.
func checkInterface(t *testing.T, what string, plan *netplan.Plan, i netplan.Interface, secs []*unit.UnitSection) {
	t.Helper()
	a := i.Addressing
	is := func(section, key string, want ...string) {
		t.Helper()
		if got := valuesOf(secs, section, key); !slices.Equal(got, want) {
			t.Errorf("%s: [%s] %s=%q, want %q", what, section, key, got, want)
		}
	}
	br, vlans := plan.Upper(i.Name)
	is("Network", "VLAN", vlans...)
	if a.MTU != 0 {
		is("Link", "MTUBytes", strconv.Itoa(a.MTU))
	} else {
		is("Link", "MTUBytes")
	}
	if i.Kind != netplan.KindEthernet {
		is("Network", "ConfigureWithoutCarrier", "yes")
	}
	if br != "" {
		is("Network", "Bridge", br)
		is("Network", "LinkLocalAddressing", "no")
		for _, key := range []string{"DHCP", "Address", "Gateway", "DNS", "IPv6AcceptRA"} {
			is("Network", key)
		}
		if n := countSections(secs, "Route") + countSections(secs, "DHCPv4") + countSections(secs, "DHCPv6"); n != 0 {
			t.Errorf("%s: a bridge port has %d [Route] or DHCP sections", what, n)
		}
		return
	}
	is("Network", "Bridge")
	is("Network", "LinkLocalAddressing", "ipv6")
	dhcp := map[[2]bool]string{{true, true}: "yes", {true, false}: "ipv4", {false, true}: "ipv6"}[[2]bool{a.DHCP(), a.DHCPv6()}]
	if dhcp != "" {
		is("Network", "DHCP", dhcp)
	} else {
		is("Network", "DHCP")
	}
	var want []string
	for _, s := range a.Addresses {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Errorf("%s: address %q: %v", what, s, err)
			continue
		}
		want = append(want, p.String())
	}
	if got := valuesOf(secs, "Network", "Address"); !sameSet(got, want) {
		t.Errorf("%s: Address=%q, want %q in any order", what, got, want)
	}
	want = nil
	for _, g := range []string{a.Gateway4, a.Gateway6} {
		if g != "" {
			want = append(want, netip.MustParseAddr(g).String())
		}
	}
	is("Network", "Gateway", want...)
	switch {
	case a.AcceptRA != nil && *a.AcceptRA, a.AcceptRA == nil && a.DHCPv6():
		is("Network", "IPv6AcceptRA", "yes")
	case a.AcceptRA != nil:
		is("Network", "IPv6AcceptRA", "no")
	default:
		is("Network", "IPv6AcceptRA")
	}
	dns := 0
	if a.Nameservers != nil {
		dns = len(a.Nameservers.Addresses)
	}
	if got := len(valuesOf(secs, "Network", "DNS")); got != dns {
		t.Errorf("%s: %d DNS=, want %d", what, got, dns)
	}
	if got := countSections(secs, "Route"); got != len(a.Routes) {
		t.Errorf("%s: %d [Route] sections, want %d", what, got, len(a.Routes))
	}
	if a.DHCP() {
		is("DHCPv4", "ClientIdentifier", "mac")
	} else {
		is("DHCPv4", "ClientIdentifier")
	}
	if a.DHCPv6() {
		is("DHCPv6", "WithoutRA", "solicit")
		is("DHCPv6", "DUIDType", "link-layer")
	} else if n := countSections(secs, "DHCPv6"); n != 0 {
		t.Errorf("%s: [DHCPv6] without dhcp6", what)
	}
}

// sameSet reports whether a and b hold the same strings, whatever the
// order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestDHCPv6Identity(t *testing.T) {
	// The example of the DHCPv6 client in stages: the same MAC gives the
	// same DUID-LL and IAID there and here (spec defines both).
	var b sectionBuilder
	if err := addDHCPv6(b.section("DHCPv6"), "52:54:00:12:34:56"); err != nil {
		t.Fatal(err)
	}
	got, err := b.bytes(nil)
	want := "[DHCPv6]\nWithoutRA=solicit\nDUIDType=link-layer\nDUIDRawData=00:01:52:54:00:12:34:56\nIAID=1193046\n"
	if err != nil || string(got) != want {
		t.Errorf("got %q (%v), want %q", got, err, want)
	}
	if err := addDHCPv6(b.section("DHCPv6"), "not-a-mac"); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("bad MAC: %v", err)
	}
}

func TestNetworkdTime(t *testing.T) {
	for in, want := range map[string]string{
		"15s": "15s", "0s": "0s", "1m0s": "60s", "1.5s": "1500ms", "500ms": "500ms", "4": "4s", "1m30s": "90s",
	} {
		if got, err := networkdTime(in); err != nil || got != want {
			t.Errorf("networkdTime(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := networkdTime("soon"); err == nil {
		t.Error("networkdTime(soon) did not fail")
	}
}

// stackYAML has a VLAN on a standalone NIC that has no permanent MAC and no
// PCI address (matched by its MAC), and a bridge over that VLAN, beside a
// bond.
const stackYAML = `
network:
  version: 2
  bonds:
    bond0:
      interfaces: [x710]
      parameters: {mode: active-backup}
  ethernets:
    x710:
      match: {driver: i40e}
    usb:
      match: {name: "usb*"}
      set-name: oob0
      mtu: 1400
      macaddress: 02:00:5e:00:53:99
      dhcp6: true
  vlans:
    usb.5:
      id: 5
      link: usb
  bridges:
    br5:
      interfaces: [usb.5]
      parameters: {stp: false, port-priority: {usb.5: 0}, priority: 0}
      dhcp4: true
`

func TestStandaloneNICMatchedByMAC(t *testing.T) {
	cfg := parseConfig(t, stackYAML)
	plan, err := netplan.Select(cfg, fuzzInventory(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	network := sectionsOf(t, fileNamed(t, files, Prefix+"oob0-021a11f00001.network").Content)
	link := fileNamed(t, files, Prefix+"oob0-021a11f00001.link")
	if link.Kind != Link {
		t.Errorf(".link has kind %d", link.Kind)
	}
	// Matched by MAC: only a link without a kind, so neither the VLAN
	// nor the bridge above, which carry the same MAC, match.
	for _, secs := range [][]*unit.UnitSection{network, sectionsOf(t, link.Content)} {
		if got := valuesOf(secs, "Match", "Kind"); !slices.Equal(got, []string{"!*"}) {
			t.Errorf("Kind=%q", got)
		}
	}
	for key, want := range map[string]string{"MTUBytes": "1400", "MACAddress": "02:00:5e:00:53:99"} {
		if got := valuesOf(network, "Link", key); !slices.Equal(got, []string{want}) {
			t.Errorf("[Link] %s=%q", key, got)
		}
	}
	// The DHCPv6 identity is the MAC the NIC is given.
	if got := valuesOf(network, "DHCPv6", "DUIDRawData"); !slices.Equal(got, []string{"00:01:02:00:5e:00:53:99"}) {
		t.Errorf("DUIDRawData=%q", got)
	}
	if got := valuesOf(network, "Network", "VLAN"); !slices.Equal(got, []string{"usb.5"}) {
		t.Errorf("VLAN=%q", got)
	}
	// A port-priority and a bridge priority of 0 are written: 0 is not
	// the kernel's default (32 and 32768).
	port := sectionsOf(t, fileNamed(t, files, Prefix+"usb.5.network").Content)
	if got := valuesOf(port, "Bridge", "Priority"); !slices.Equal(got, []string{"0"}) {
		t.Errorf("port Priority=%q", got)
	}
	bridge := sectionsOf(t, fileNamed(t, files, Prefix+"br5.netdev").Content)
	if got := valuesOf(bridge, "Bridge", "Priority"); !slices.Equal(got, []string{"0"}) {
		t.Errorf("bridge Priority=%q", got)
	}
	// The bridge keeps the MAC of its first port, the VLAN, which is the
	// NIC's.
	if got := valuesOf(bridge, "NetDev", "MACAddress"); !slices.Equal(got, []string{"02:00:5e:00:53:99"}) {
		t.Errorf("bridge MACAddress=%q", got)
	}
	checkRendered(t, "stackYAML", cfg, plan, files)
}

func TestRenderStackRefuses(t *testing.T) {
	cfg := parseConfig(t, stackYAML)
	base := func() *netplan.Plan {
		plan, err := netplan.Select(cfg, fuzzInventory(t))
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	for name, breakIt := range map[string]func(p *netplan.Plan){
		"set-name differs from the name": func(p *netplan.Plan) { p.Ethernets[0].Name = "other" },
		"VLAN id out of range":           func(p *netplan.Plan) { p.Virtuals[0].VLANID = 4095 },
		"VLAN name unsafe":               func(p *netplan.Plan) { p.Virtuals[0].Name = "v\nDHCP=yes" },
		"bridge MAC unsafe":              func(p *netplan.Plan) { p.Virtuals[1].MAC = "02:00:00:00:00:01\nx" },
		"addressing on a port": func(p *netplan.Plan) {
			p.Virtuals[0].Addressing.Addresses = []string{"192.0.2.1/24"}
		},
		"bridge time": func(p *netplan.Plan) {
			bp := *p.Virtuals[1].Bridge
			bp.HelloTime = "soon"
			p.Virtuals[1].Bridge = &bp
		},
		"unknown kind": func(p *netplan.Plan) { p.Virtuals[1].Kind = "vxlan" },
	} {
		plan := base()
		breakIt(plan)
		if files, err := Render(cfg, plan); err == nil {
			t.Errorf("%s: rendered:\n%s", name, dump(files))
		} else if strings.Contains(name, "unsafe") && !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("%s: %v, want ErrUnsafeValue", name, err)
		}
	}
}

func TestWriteLinkFiles(t *testing.T) {
	link := File{Kind: Link, Name: Prefix + "mgmt0-a0369f3e52c0.link", Content: []byte("[Match]\nPermanentMACAddress=a0:36:9f:3e:52:c0\n\n[Link]\nName=mgmt0\n")}
	for _, l := range []Layout{Persistent, Runtime} {
		t.Run(l.Network, func(t *testing.T) {
			root := t.TempDir()
			files := append(unitsOf("bond0", "aa"), link)
			res, err := Write(root, l, files)
			if err != nil {
				t.Fatal(err)
			}
			// udev reads .link files where networkd reads its units.
			want := l.Network + "/" + link.Name
			if !slices.Contains(res.Written, want) {
				t.Errorf("written %q, want %s among them", res.Written, want)
			}
			// Without set-name the next run removes it, and a
			// rollback removes it too.
			res, err = Write(root, l, unitsOf("bond0", "aa"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Removed, []string{want}) {
				t.Errorf("removed %q, want [%s]", res.Removed, want)
			}
			if _, err := Write(root, l, files); err != nil {
				t.Fatal(err)
			}
			res, err = Remove(root, l)
			if err != nil || !slices.Contains(res.Removed, want) {
				t.Errorf("Remove removed %q (%v), not %s", res.Removed, err, want)
			}
		})
	}
	// A .link is of kind Link, and only a .link is.
	for _, f := range []File{{Kind: Network, Name: link.Name}, {Kind: Link, Name: Prefix + "bond0.network"}, {Kind: Udev, Name: link.Name}} {
		f.Content = link.Content
		if _, err := Write(t.TempDir(), Persistent, []File{f}); !errors.Is(err, ErrBadName) {
			t.Errorf("kind %d name %s: %v, want ErrBadName", f.Kind, f.Name, err)
		}
	}
}
