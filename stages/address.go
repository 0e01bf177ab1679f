package stages

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/netplan"
)

// addressStage gives every bond its addresses, routes and DNS, by DHCPv4 or
// from the config, then writes the resolver file once for all bonds.
func addressStage(ctx context.Context, s *state) error {
	for i, bp := range s.plan.Bonds {
		ar, err := s.configureInterface(ctx, bp.Name, bp.Config)
		if i < len(s.rep.Bonds) {
			s.rep.Bonds[i].Address = ar
		}
		if err != nil {
			return fmt.Errorf("%s: %w", bp.Name, err)
		}
	}
	return s.writeDNS()
}

// ifConfig is the layer-3 configuration of one interface, whether a lease or
// the config gave it.
type ifConfig struct {
	Addrs  []netip.Prefix
	Routes []routeSpec
	// MTU is applied when > 0.
	MTU    int
	DNS    []netip.Addr
	Search []string
	// Lifetime of the addresses: the lease time; 0 means forever. If nothing
	// takes over from bondstrap, an expired lease's address goes away.
	Lifetime time.Duration
	// Protocol marks the routes (RTPROT_DHCP or RTPROT_STATIC), so a person
	// reading `ip route` sees where they came from.
	Protocol netlink.RouteProtocol
}

// routeSpec is one route of an interface.
type routeSpec struct {
	Dst netip.Prefix
	// Gw is the gateway; the zero Addr means the destination is on the link.
	Gw     netip.Addr
	Metric int
	OnLink bool
	Table  int
}

func (r routeSpec) String() string {
	var b strings.Builder
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gw.IsValid() {
		b.WriteString(" via " + r.Gw.String())
	} else {
		b.WriteString(" on-link")
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	return b.String()
}

// configureInterface gets the interface's configuration (a DHCP lease, the
// static keys, or both, as netplan allows) and applies it.
func (s *state) configureInterface(ctx context.Context, ifname string, b netplan.Bond) (*AddressReport, error) {
	ar := &AddressReport{Interface: ifname, Method: "static"}
	c, err := staticConfig(b)
	if err != nil {
		return ar, err
	}
	if b.DHCP() {
		ar.Method = "dhcp4"
		lc, lr, err := s.dhcp(ctx, ifname)
		ar.Lease = lr
		if err != nil {
			return ar, err
		}
		c = mergeConfig(lc, c)
	}
	if err := s.applyConfig(ifname, c, ar); err != nil {
		return ar, err
	}
	s.dns.add(c.DNS, c.Search)
	return ar, nil
}

// staticConfig reads the static keys of a bond: addresses, gateway4, routes,
// nameservers.
func staticConfig(b netplan.Bond) (ifConfig, error) {
	c := ifConfig{Protocol: unix.RTPROT_STATIC}
	for _, a := range b.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return c, fmt.Errorf("addresses: %q: %w", a, err)
		}
		c.Addrs = append(c.Addrs, p)
	}
	if b.Gateway4 != "" {
		gw, err := netip.ParseAddr(b.Gateway4)
		if err != nil || !gw.Is4() {
			return c, fmt.Errorf("gateway4: %q is not an IPv4 address", b.Gateway4)
		}
		c.Routes = append(c.Routes, routeSpec{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gw})
	}
	for i, r := range b.Routes {
		rs, err := staticRoute(r)
		if err != nil {
			return c, fmt.Errorf("routes[%d]: %w", i, err)
		}
		c.Routes = append(c.Routes, rs)
	}
	if ns := b.Nameservers; ns != nil {
		for _, a := range ns.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return c, fmt.Errorf("nameservers.addresses: %q: %w", a, err)
			}
			c.DNS = append(c.DNS, ip)
		}
		for _, d := range ns.Search {
			if !validDomain(d) {
				return c, fmt.Errorf("nameservers.search: %q is not a domain name", d)
			}
			c.Search = append(c.Search, d)
		}
	}
	return c, nil
}

func staticRoute(r netplan.Route) (routeSpec, error) {
	var rs routeSpec
	var gw netip.Addr
	if r.Via != "" {
		var err error
		if gw, err = netip.ParseAddr(r.Via); err != nil {
			return rs, fmt.Errorf("via: %q: %w", r.Via, err)
		}
	}
	switch {
	case r.To == "default" && gw.Is6():
		rs.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	case r.To == "default" || r.To == "0.0.0.0/0":
		rs.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	default:
		p, err := netip.ParsePrefix(r.To)
		if err != nil {
			a, aerr := netip.ParseAddr(r.To)
			if aerr != nil {
				return rs, fmt.Errorf("to: %q: %w", r.To, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		rs.Dst = p.Masked()
	}
	if gw.IsValid() && gw.Is4() != rs.Dst.Addr().Is4() {
		return rs, fmt.Errorf("via %s and to %s are of different families", gw, rs.Dst)
	}
	rs.Gw = gw
	if r.Metric != nil {
		rs.Metric = *r.Metric
	}
	rs.OnLink = r.OnLink
	rs.Table = r.Table
	return rs, nil
}

// mergeConfig adds the static keys to a lease's configuration.
func mergeConfig(lease, static ifConfig) ifConfig {
	c := lease
	c.Addrs = append(slices.Clone(c.Addrs), static.Addrs...)
	c.Routes = append(slices.Clone(c.Routes), static.Routes...)
	c.DNS = append(slices.Clone(static.DNS), c.DNS...)
	c.Search = append(slices.Clone(static.Search), c.Search...)
	return c
}

// applyConfig puts c on the interface: MTU, then addresses, then routes
// (which need the addresses' subnets). Replace operations make a second run
// idempotent; only what was not there already counts as a change and gets an
// undo.
func (s *state) applyConfig(ifname string, c ifConfig, ar *AddressReport) error {
	l, err := s.k.link(ifname)
	if err != nil {
		return err
	}
	if c.MTU > 0 && l.Attrs().MTU != c.MTU {
		old := l.Attrs().MTU
		if err := s.op(fmt.Sprintf("setting MTU of %s to %d", ifname, c.MTU), func() error {
			return s.k.h.LinkSetMTU(l, c.MTU)
		}); err != nil {
			return err
		}
		s.pushUndo(fmt.Sprintf("restore MTU %d of %s", old, ifname), func() error { return s.k.h.LinkSetMTU(l, old) })
		ar.Changes = append(ar.Changes, fmt.Sprintf("mtu %d → %d", old, c.MTU))
	}
	if c.MTU > 0 {
		ar.MTU = c.MTU
	}

	have, err := s.k.prefixes(l)
	if err != nil {
		return err
	}
	for _, p := range c.Addrs {
		addr := &netlink.Addr{IPNet: prefixIPNet(p)}
		if c.Lifetime > 0 {
			secs := int(c.Lifetime / time.Second)
			addr.ValidLft, addr.PreferedLft = secs, secs
		}
		present := slices.Contains(have, p)
		verb := "adding"
		if present {
			verb = "refreshing"
		}
		if err := s.op(fmt.Sprintf("%s address %s on %s", verb, p, ifname), func() error {
			return s.k.h.AddrReplace(l, addr)
		}); err != nil {
			return fmt.Errorf("address %s: %w", p, err)
		}
		ar.Addresses = append(ar.Addresses, p.String())
		if !present {
			del := &netlink.Addr{IPNet: prefixIPNet(p)}
			s.pushUndo(fmt.Sprintf("remove address %s from %s", p, ifname), func() error { return s.k.h.AddrDel(l, del) })
			ar.Changes = append(ar.Changes, "address "+p.String())
		}
	}

	for _, r := range c.Routes {
		changed, err := s.ensureRoute(l, r, c)
		if err != nil {
			return fmt.Errorf("route %s: %w", r, err)
		}
		ar.Routes = append(ar.Routes, r.String())
		if changed {
			ar.Changes = append(ar.Changes, "route "+r.String())
		}
	}
	return nil
}

// ensureRoute installs one route unless the same route is there. A route it
// replaces (same table, destination and metric, another gateway or link) is
// put back by the undo.
func (s *state) ensureRoute(l netlink.Link, r routeSpec, c ifConfig) (bool, error) {
	table := r.Table
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	family := netlink.FAMILY_V4
	if r.Dst.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	nr := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IP(r.Dst.Addr().AsSlice()), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Priority:  r.Metric,
		Table:     table,
		Protocol:  c.Protocol,
		Family:    family,
	}
	if r.Gw.IsValid() {
		nr.Gw = net.IP(r.Gw.AsSlice())
		if r.OnLink || !inAnyPrefix(r.Gw, c.Addrs) {
			// A gateway outside every subnet of the link (some DHCP servers
			// hand one out) is reachable only if declared on the link.
			nr.Flags = int(netlink.FLAG_ONLINK)
		}
	} else {
		nr.Scope = netlink.SCOPE_LINK
	}

	existing, err := s.k.routes(family, table)
	if err != nil {
		return false, err
	}
	var replaced *netlink.Route
	for i := range existing {
		e := existing[i]
		ep, ok := ipNetPrefix(e.Dst)
		if !ok || ep != r.Dst || e.Priority != r.Metric || e.Tos != 0 {
			continue
		}
		if e.LinkIndex == nr.LinkIndex && sameIP(e.Gw, nr.Gw) {
			s.note("route already present", "route", r.String(), "dev", l.Attrs().Name)
			return false, nil
		}
		replaced = &e
		break
	}
	desc := fmt.Sprintf("adding route %s dev %s", r, l.Attrs().Name)
	if replaced != nil {
		desc = fmt.Sprintf("replacing route %s (was via %v dev index %d) with %s dev %s", r.Dst, replaced.Gw,
			replaced.LinkIndex, r, l.Attrs().Name)
	}
	if err := s.op(desc, func() error { return s.k.h.RouteReplace(nr) }); err != nil {
		return false, err
	}
	s.pushUndo(fmt.Sprintf("remove route %s dev %s", r, l.Attrs().Name), func() error {
		if err := s.k.h.RouteDel(nr); err != nil {
			return err
		}
		if replaced != nil {
			return s.k.h.RouteAdd(replaced)
		}
		return nil
	})
	return true, nil
}

func sameIP(a, b net.IP) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == 0 && len(b) == 0
	}
	return a.Equal(b)
}

func inAnyPrefix(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

// validDomain accepts a DNS name fit for resolv.conf and a unit file: letters,
// digits, '-', '_' and dots, at most 253 characters. Values from DHCP go
// through it, so a hostile server cannot inject lines.
func validDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range d {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
