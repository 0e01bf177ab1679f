package units

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
	"github.com/coreos/go-systemd/v22/unit"
)

// netSpec is what the .network of one interface says, whatever its kind:
// how networkd finds it, its link settings, its addressing, and what sits on
// it.
type netSpec struct {
	// match fills the [Match] section.
	match func(*unit.UnitSection)
	// virtual is set for the devices networkd creates from a .netdev
	// (bonds, VLANs, bridges): they are configured without waiting for
	// carrier, as netplan does.
	virtual bool
	// mtu and mac go to [Link] (0 and "" leave them).
	mtu int
	mac string
	// identity is the MAC the interface has once up (its own, its
	// first port's, its link's), canonical, or "" when only the kernel
	// or networkd will know it: the DHCPv6 client's identity is made from
	// it.
	identity string
	// addressing is the interface's layer-3 configuration.
	addressing netplan.Addressing
	// port is set when the interface is a bridge port.
	port *portSpec
	// vlans are the VLANs on the interface, by name.
	vlans []string
}

// portSpec is a bridge port's part of its .network.
type portSpec struct {
	bridge string
	// cost and priority are the port's path-cost and port-priority, nil
	// when the config does not give them (the kernel's defaults).
	cost, priority *int
}

// renderNetwork renders one interface's .network: [Match], [Link],
// [Network], [Bridge] (a port's cost and priority), one [Route] per route,
// and the DHCP and router-advertisement sections. A bridge port carries no
// addressing of its own: it is the bridge's.
func renderNetwork(s netSpec, header []string) ([]byte, error) {
	var b sectionBuilder
	s.match(b.section("Match"))

	link := b.section("Link")
	if s.mtu != 0 {
		mtu, err := mtuBytes(s.mtu)
		if err != nil {
			return nil, err
		}
		add(link, "MTUBytes", mtu)
	}
	if s.mac != "" {
		// Also in the .network, as netplan does: it applies even when the
		// device already exists when networkd starts (bondstrap made it
		// while provisioning), where the .netdev does not.
		add(link, "MACAddress", s.mac)
	}

	a := s.addressing
	nw := b.section("Network")
	if s.port != nil {
		if a.HasL3() {
			return nil, fmt.Errorf("a port of bridge %s carries no addressing: it belongs on the bridge", s.port.bridge)
		}
		// As netplan does for bond members and bridge ports: no IPv6
		// link-local address, and so no router advertisements, on a
		// port.
		add(nw, "LinkLocalAddressing", "no")
	} else if err := addAddressing(nw, a); err != nil {
		return nil, err
	}
	if s.virtual {
		// A bond has carrier only once a member has, a bridge once a port
		// forwards, a VLAN once its link has; netplan configures virtual
		// devices without waiting for it.
		add(nw, "ConfigureWithoutCarrier", "yes")
	}
	if s.port != nil {
		if err := checkIfname(s.port.bridge); err != nil {
			return nil, err
		}
		add(nw, "Bridge", s.port.bridge)
	}
	for _, v := range s.vlans {
		if err := checkIfname(v); err != nil {
			return nil, err
		}
		add(nw, "VLAN", v)
	}
	if p := s.port; p != nil {
		br := b.section("Bridge")
		if p.cost != nil {
			v, err := inRange("Cost", *p.cost, 1, 65535)
			if err != nil {
				return nil, err
			}
			add(br, "Cost", v)
		}
		if p.priority != nil {
			v, err := inRange("Priority", *p.priority, 0, 63)
			if err != nil {
				return nil, err
			}
			add(br, "Priority", v)
		}
	}

	for i, r := range a.Routes {
		if err := addRoute(b.section("Route"), r); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	if s.port == nil {
		if err := addDHCPSections(&b, a, s.identity); err != nil {
			return nil, err
		}
	}
	return b.bytes(header)
}

// addAddressing adds the [Network] keys of an interface that carries its
// own addressing: DHCP, link-local addressing, addresses, router
// advertisements, gateways and DNS.
func addAddressing(nw *unit.UnitSection, a netplan.Addressing) error {
	dhcp4, dhcp6 := a.DHCP(), a.DHCPv6()
	if dhcp4 && a.DHCPIdentifier != "" && a.DHCPIdentifier != "mac" {
		return fmt.Errorf("dhcp-identifier %q: bondstrap provisions with the MAC as DHCP client identifier, and must persist the same one", a.DHCPIdentifier)
	}
	switch {
	case dhcp4 && dhcp6:
		add(nw, "DHCP", "yes")
	case dhcp4:
		add(nw, "DHCP", "ipv4")
	case dhcp6:
		add(nw, "DHCP", "ipv6")
	}
	// netplan's default link-local: [ipv6]. DHCPv6 and router
	// advertisements need it.
	add(nw, "LinkLocalAddressing", "ipv6")
	addrs, err := byFamily(a.Addresses, netip.ParsePrefix, "address")
	if err != nil {
		return err
	}
	for _, x := range addrs {
		add(nw, "Address", x)
	}
	if ra := acceptRA(a); ra != "" {
		add(nw, "IPv6AcceptRA", ra)
	}
	for _, g := range []struct {
		key, value string
		v4         bool
	}{{"gateway4", a.Gateway4, true}, {"gateway6", a.Gateway6, false}} {
		if g.value == "" {
			continue
		}
		gw, err := netip.ParseAddr(g.value)
		if err != nil || gw.Is4() != g.v4 || gw.Zone() != "" {
			family := "IPv6"
			if g.v4 {
				family = "IPv4"
			}
			return fmt.Errorf("%s %q is not an %s address", g.key, g.value, family)
		}
		add(nw, "Gateway", gw.String())
	}
	if ns := a.Nameservers; ns != nil {
		dns, err := byFamily(ns.Addresses, parseAddr, "nameserver")
		if err != nil {
			return err
		}
		for _, x := range dns {
			add(nw, "DNS", x)
		}
		if len(ns.Search) > 0 {
			for _, d := range ns.Search {
				if d == "" || strings.ContainsFunc(d, func(r rune) bool { return r <= ' ' || r == '\\' }) {
					return fmt.Errorf("%w: search domain %q", ErrUnsafeValue, d)
				}
			}
			add(nw, "Domains", strings.Join(ns.Search, " "))
		}
	}
	return nil
}

// acceptRA is the interface's IPv6AcceptRA= value, or "" to leave
// networkd's default.
//
//   - accept-ra given: its value, as netplan writes it.
//   - dhcp6 without accept-ra: yes (netplan.Addressing.RA), so that an RA's
//     routes and SLAAC prefixes are taken beside the DHCPv6 address, even
//     if the .network later gains IPForward=.
//   - neither: nothing, as netplan writes nothing. networkd 252 then
//     accepts RAs unless the .network sets IPForward= (networkd-ndisc.c,
//     network_adjust_ipv6_accept_ra), as the kernel's default accept_ra=1
//     does on a host that does not forward; and bondstrap's apply leaves
//     the kernel's setting alone when the config says nothing about IPv6
//     autoconfiguration. Writing "no" here would take from later boots the
//     SLAAC addresses and the default route the provisioning run had.
func acceptRA(a netplan.Addressing) string {
	switch {
	case a.AcceptRA != nil && *a.AcceptRA:
		return "yes"
	case a.AcceptRA != nil:
		return "no"
	case a.DHCPv6():
		return "yes"
	}
	return ""
}

// dhcpRouteMetric is netplan's metric of routes learnt by DHCP (and, with
// DHCP on, from router advertisements): NetworkManager's for wired links.
const dhcpRouteMetric = "100"

// addDHCPSections adds [DHCPv4], [DHCPv6] and [IPv6AcceptRA] as the
// addressing needs them; identity is the interface's MAC, or "".
//
// netplan writes one [DHCP] section, whose RouteMetric= networkd 252 applies
// to DHCPv4 routes and to the routes of router advertisements (a [DHCP]
// key is the old spelling of both), and whose UseMTU= is DHCPv4's. bondstrap
// writes the same meaning in the sections networkd reads today, and adds
// what provisioning needs (see addDHCPv4 and addDHCPv6).
func addDHCPSections(b *sectionBuilder, a netplan.Addressing, identity string) error {
	dhcp4, dhcp6 := a.DHCP(), a.DHCPv6()
	if dhcp4 {
		addDHCPv4(b)
	}
	if dhcp6 {
		if err := addDHCPv6(b.section("DHCPv6"), identity); err != nil {
			return err
		}
	}
	if (dhcp4 || dhcp6) && acceptRA(a) != "no" {
		add(b.section("IPv6AcceptRA"), "RouteMetric", dhcpRouteMetric)
	}
	return nil
}

// addDHCPv6 fills the [DHCPv6] section of an interface with dhcp6.
//
// When: networkd 252 starts its DHCPv6 client only when a router
// advertisement says M (managed) or O (other configuration), and never when
// IPv6AcceptRA= is off (networkd-dhcp6.c, dhcp6_start_on_ra). netplan
// writes DHCP=ipv6 alone, so on a network whose router sends no RA (or with
// accept-ra: false) "dhcp6: true" does nothing. WithoutRA=solicit starts
// the client at once, asking for an address as the model's dhcp6 means;
// RAs, where accepted, still bring routes and SLAAC. The price: on a
// network that offers only stateless DHCPv6 (O without M), the client
// solicits an address instead of asking for information alone.
//
// Who: as DHCPv4's ClientIdentifier=mac, the identity is the interface's
// MAC, which the units pin: the DUID-LL and IAID bondstrap's own DHCPv6
// client presented while provisioning (spec.NetworkdDHCPv6 defines them
// for both), so the server gives the same address back after the reboot,
// and a reinstall keeps it. networkd's defaults are a DUID-EN hashed from
// /etc/machine-id (an initramfs may lack it, a reinstall changes it) and an
// IAID hashed from the udev name. Without a known MAC (a bridge with no
// port and no macaddress), DUIDType=link-layer alone takes the MAC networkd
// gives the device.
func addDHCPv6(s *unit.UnitSection, identity string) error {
	add(s, "WithoutRA", "solicit")
	if identity == "" {
		add(s, "DUIDType", "link-layer")
		return nil
	}
	hw, err := net.ParseMAC(identity)
	if err != nil {
		return fmt.Errorf("%w: DHCPv6 identity: %q is not a MAC address", ErrUnsafeValue, identity)
	}
	duidType, raw, iaid, err := spec.NetworkdDHCPv6(hw)
	if err != nil {
		return fmt.Errorf("DHCPv6 identity: %w", err)
	}
	add(s, "DUIDType", duidType)
	add(s, "DUIDRawData", raw)
	add(s, "IAID", iaid)
	return nil
}
