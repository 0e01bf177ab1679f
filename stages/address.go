package stages

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
)

// addressStage gives every interface of the plan its addresses, routes and
// DNS, by DHCP or from the config, in plan order (standalone NICs, bonds,
// then VLANs and bridges), then writes the resolver file once for all. A
// bond always gets its report; another interface only when the config gives
// it layer-3 keys.
func addressStage(ctx context.Context, s *state) error {
	for _, ifc := range s.plan.Interfaces() {
		if ifc.Kind != netplan.KindBond && !ifc.Addressing.HasL3() {
			continue
		}
		ar, err := s.configureInterface(ctx, ifc.Name, ifc.Addressing)
		if ifc.Kind == netplan.KindBond {
			if br := s.bondReport(ifc.Name); br != nil {
				br.Address = ar
			}
		} else if ir := s.interfaceReportFor(ifc.Name); ir != nil {
			ir.Address = ar
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ifc.Name, err)
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
	// Protocol marks the routes (kernel.ProtoDHCP or ProtoStatic), so a
	// person reading `ip route` sees where they came from.
	Protocol int
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
	if r.Table != 0 && r.Table != kernel.TableMain {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	return b.String()
}

// configureInterface gets the interface's configuration (a DHCP lease, the
// static keys, or both, as netplan allows) and applies it.
func (s *state) configureInterface(ctx context.Context, ifname string, b netplan.Addressing) (*AddressReport, error) {
	ar := &AddressReport{Interface: ifname, Method: "static"}
	c := staticConfig(b)
	var methods []string
	if b.DHCP() {
		methods = append(methods, "dhcp4")
		lc, lr, err := s.dhcp(ctx, ifname)
		ar.Lease = lr
		if err != nil {
			return ar, err
		}
		c = mergeConfig(lc, c)
	}
	var c6 ifConfig
	if b.DHCPv6() {
		methods = append(methods, "dhcp6")
		var lr6 *Lease6Report
		var err error
		c6, lr6, err = s.dhcp6(ctx, ifname)
		ar.Lease6 = lr6
		if err != nil {
			return ar, err
		}
	}
	if len(methods) > 0 {
		ar.Method = strings.Join(methods, "+")
	}
	if err := s.applyConfig(ctx, ifname, c, ar); err != nil {
		return ar, err
	}
	// The DHCPv6 addresses carry their own lifetime.
	if len(c6.Addrs) > 0 {
		if err := s.applyConfig(ctx, ifname, c6, ar); err != nil {
			return ar, err
		}
	}
	s.dns.add(c.DNS, c.Search)
	s.dns.add(c6.DNS, c6.Search)
	if b.RA() {
		ar.RA = s.waitRA(ctx, ifname)
	}
	return ar, nil
}

// waitRA waits, within dhcp-timeout, for what router advertisements give
// the interface: a default route from one (SLAAC addresses come with it).
// None in time is a warning, not a failure: the kernel goes on listening,
// and IPv4 may be all the boot needs; the report says what came.
func (s *state) waitRA(ctx context.Context, ifname string) string {
	deadline := s.until(s.cfg.DHCPTimeout())
	var got string
	_ = s.op(fmt.Sprintf("waiting up to %s for a router advertisement on %s", time.Until(deadline).Round(time.Second), ifname), func() error {
		tick := time.NewTicker(kernel.PollInterval)
		defer tick.Stop()
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		for {
			routes, err := s.k.Routes(ctx)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if r.Link == ifname && r.Protocol == kernel.ProtoRA && r.Dst.Bits() == 0 && r.Dst.Addr().Is6() {
					got = "default via " + r.Gw.String()
					return nil
				}
			}
			select {
			case <-tick.C:
			case <-timer.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	if got == "" {
		s.warn("no router advertisement with a default route within dhcp-timeout; the kernel keeps listening for one",
			"interface", ifname)
		return "none within dhcp-timeout"
	}
	s.note("router advertisement", "interface", ifname, "route", got)
	return got
}

// dhcp6 runs DHCPv6 on ifname within dhcp-timeout (and the run's deadline)
// and turns the lease into the interface's configuration.
func (s *state) dhcp6(ctx context.Context, ifname string) (ifConfig, *Lease6Report, error) {
	l, err := s.k.Link(ctx, ifname)
	if err != nil {
		return ifConfig{}, nil, err
	}
	if _, err := s.k.IPv6(ctx, ifname); err != nil {
		return ifConfig{}, nil, fmt.Errorf("dhcp6 on %s: %w", ifname, err)
	}
	deadline := s.until(s.cfg.DHCPTimeout())
	timeout := time.Until(deadline)
	var lease *Lease6
	err = s.op(fmt.Sprintf("DHCPv6 on %s (DUID-LL %s, up to %s)", ifname, l.MAC, timeout.Round(time.Second)), func() error {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var err error
		lease, err = s.opts.DHCP6.Lease6(dctx, ifname, l.MAC, s.log)
		return err
	})
	if err != nil {
		return ifConfig{}, nil, err
	}
	c, lr := lease6Config(lease)
	if len(c.Addrs) == 0 {
		return ifConfig{}, lr, fmt.Errorf("%w on %s: the server's reply has no usable address", ErrNoLease6, ifname)
	}
	s.note("DHCPv6 lease", "interface", ifname, "addresses", fmt.Sprint(c.Addrs), "dns", fmt.Sprint(c.DNS))
	return c, lr, nil
}

// staticConfig reads the static keys of a bond: addresses, gateway4, routes,
// nameservers. Validation has checked and normalized every value.
func staticConfig(b netplan.Addressing) ifConfig {
	c := ifConfig{Protocol: kernel.ProtoStatic}
	for _, a := range b.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			c.Addrs = append(c.Addrs, p)
		}
	}
	if gw, err := netip.ParseAddr(b.Gateway4); err == nil {
		c.Routes = append(c.Routes, routeSpec{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gw})
	}
	if gw, err := netip.ParseAddr(b.Gateway6); err == nil {
		c.Routes = append(c.Routes, routeSpec{Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Gw: gw})
	}
	for _, r := range b.Routes {
		rs := routeSpec{Dst: r.Destination(), Gw: r.Gateway(), OnLink: r.OnLink, Table: r.Table}
		if r.Metric != nil {
			rs.Metric = *r.Metric
		}
		c.Routes = append(c.Routes, rs)
	}
	if ns := b.Nameservers; ns != nil {
		for _, a := range ns.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				c.DNS = append(c.DNS, ip)
			}
		}
		c.Search = append(c.Search, ns.Search...)
	}
	return c
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
// idempotent; only what was not there already counts as a change.
func (s *state) applyConfig(ctx context.Context, ifname string, c ifConfig, ar *AddressReport) error {
	l, err := s.k.Link(ctx, ifname)
	if err != nil {
		return err
	}
	if c.MTU > 0 && l.MTU != c.MTU {
		err := s.change(fmt.Sprintf("setting MTU of %s to %d", ifname, c.MTU), fmt.Sprintf("restore MTU %d of %s", l.MTU, ifname), "",
			func() (kernel.Undo, error) { return s.k.SetMTU(ctx, ifname, c.MTU) })
		switch {
		case err == nil:
			ar.Changes = append(ar.Changes, fmt.Sprintf("mtu %d → %d", l.MTU, c.MTU))
			ar.MTU = c.MTU
		case c.Protocol == kernel.ProtoDHCP:
			// A server's MTU the links cannot carry is not worth the
			// network: keep the MTU there is.
			s.warn("the DHCP server's MTU was refused; keeping the current one", "interface", ifname,
				"mtu", c.MTU, "current", l.MTU, "error", err)
		default:
			return err
		}
	} else if c.MTU > 0 {
		ar.MTU = c.MTU
	}

	have, err := s.k.Addrs(ctx)
	if err != nil {
		return err
	}
	for _, p := range c.Addrs {
		a := kernel.Addr{Link: ifname, Prefix: p, Valid: c.Lifetime, Preferred: c.Lifetime}
		present := slices.ContainsFunc(have, func(h kernel.Addr) bool { return h.Link == ifname && h.Prefix == p })
		verb := "adding"
		if present {
			verb = "refreshing"
		}
		if err := s.change(fmt.Sprintf("%s address %s on %s", verb, p, ifname), fmt.Sprintf("remove address %s from %s", p, ifname), "",
			func() (kernel.Undo, error) { return s.k.AddAddr(ctx, a) }); err != nil {
			return fmt.Errorf("address %s: %w", p, err)
		}
		ar.Addresses = append(ar.Addresses, p.String())
		if !present {
			ar.Changes = append(ar.Changes, "address "+p.String())
		}
	}

	routes, err := s.k.Routes(ctx)
	if err != nil {
		return err
	}
	for _, r := range c.Routes {
		changed, err := s.ensureRoute(ctx, ifname, r, c, routes)
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
func (s *state) ensureRoute(ctx context.Context, ifname string, r routeSpec, c ifConfig, have []kernel.Route) (bool, error) {
	kr := kernel.Route{Link: ifname, Dst: r.Dst, Gw: r.Gw, Table: r.Table, Metric: r.Metric, Protocol: c.Protocol}
	if kr.Table == 0 {
		kr.Table = kernel.TableMain
	}
	if r.Gw.IsValid() {
		// A gateway outside every subnet of the link (some DHCP servers
		// hand one out) is reachable only if declared on the link.
		kr.OnLink = r.OnLink || !inAnyPrefix(r.Gw, c.Addrs)
	} else {
		kr.Scope = kernel.ScopeLink
	}
	for _, e := range have {
		if e.Key() == kr.Key() && e.Link == ifname && e.Gw == kr.Gw {
			s.note("route already present", "route", r.String(), "dev", ifname)
			return false, nil
		}
	}
	desc := fmt.Sprintf("adding route %s dev %s", r, ifname)
	for _, e := range have {
		if e.Key() == kr.Key() {
			// The link of the route replaced, as found: bondstrap down
			// puts the route back from it.
			if err := s.remember(ctx, e.Link); err != nil {
				return false, err
			}
			desc = fmt.Sprintf("replacing route %s (was via %v dev %s) with %s dev %s", r.Dst, e.Gw, e.Link, r, ifname)
			if other := s.routesSet[kr.Key()]; other != "" && other != ifname {
				s.warn(fmt.Sprintf("%s and %s both give route %s in table %d with metric %d: the last one, on %s, wins",
					other, ifname, r.Dst, kr.Table, kr.Metric, ifname))
			}
		}
	}
	if err := s.change(desc, fmt.Sprintf("remove route %s dev %s", r, ifname), "",
		func() (kernel.Undo, error) { return s.k.AddRoute(ctx, kr) }); err != nil {
		return false, err
	}
	if s.routesSet == nil {
		s.routesSet = map[kernel.RouteKey]string{}
	}
	s.routesSet[kr.Key()] = ifname
	return true, nil
}

func inAnyPrefix(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool { return errors.Is(err, kernel.ErrNotFound) }

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
