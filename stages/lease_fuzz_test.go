package stages

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzLeaseConfig: whatever a DHCP server sends, the configuration bondstrap
// takes from it is sane (IPv4 unicast address, an MTU a link can carry, routes
// of the right family) and the resolv.conf it writes has only comment,
// nameserver and search lines: a hostile server cannot inject lines or
// options.
func FuzzLeaseConfig(f *testing.F) {
	f.Add([]byte{192, 0, 2, 100}, uint8(24), []byte{192, 0, 2, 1}, []byte{0, 0, 0, 0, 0, 192, 0, 2, 1}, []byte{192, 0, 2, 53},
		"example.com", "fleet.example lab.example", uint16(1500), uint32(3600))
	f.Add([]byte{0, 0, 0, 0}, uint8(33), []byte{}, []byte{}, []byte{}, "a\nnameserver 6.6.6.6", "x\ry", uint16(68), uint32(0))
	f.Fuzz(func(t *testing.T, addr []byte, bits uint8, router, classless, dns []byte, domain, search string, mtu uint16, secs uint32) {
		l := &Lease{Lifetime: time.Duration(secs) * time.Second, MTU: int(mtu), DomainName: domain, Search: strings.Fields(search)}
		if a, ok := netip.AddrFromSlice(addr); ok {
			if p, err := a.Prefix(int(bits)); err == nil {
				l.Addr = netip.PrefixFrom(a, p.Bits())
			}
		}
		if a, ok := netip.AddrFromSlice(router); ok {
			l.Routers = []netip.Addr{a}
		}
		for i := 0; i+9 <= len(classless); i += 9 {
			dst, _ := netip.AddrFromSlice(classless[i+1 : i+5])
			if p, err := dst.Prefix(int(classless[i] % 40)); err == nil {
				via, _ := netip.AddrFromSlice(classless[i+5 : i+9])
				l.Classless = append(l.Classless, ClasslessRoute{Dst: p, Via: via})
			}
		}
		for i := 0; i+4 <= len(dns); i += 4 {
			a, _ := netip.AddrFromSlice(dns[i : i+4])
			l.DNS = append(l.DNS, a)
		}

		c, _ := leaseConfig(l)
		for _, p := range c.Addrs {
			if !p.Addr().Is4() || p.Bits() < 1 || p.Bits() > 32 || p.Addr().IsUnspecified() || p.Addr().IsMulticast() {
				t.Fatalf("address %v taken from a lease", p)
			}
		}
		if c.MTU != 0 && (c.MTU < minLeaseMTU || c.MTU > 65535) {
			t.Fatalf("MTU %d taken from a lease", c.MTU)
		}
		for _, r := range c.Routes {
			if !r.Dst.IsValid() || !r.Dst.Addr().Is4() || r.Dst != r.Dst.Masked() || (r.Gw.IsValid() && !r.Gw.Is4()) {
				t.Fatalf("route %+v taken from a lease", r)
			}
		}
		var d dnsConfig
		d.add(c.DNS, c.Search)
		for _, line := range strings.Split(strings.TrimSuffix(string(d.resolvConf()), "\n"), "\n") {
			ok := strings.HasPrefix(line, "# ") || strings.HasPrefix(line, "nameserver ") || strings.HasPrefix(line, "search ")
			if !ok || strings.ContainsFunc(line, unicode.IsControl) {
				t.Fatalf("resolv.conf line %q from a lease", line)
			}
			if strings.HasPrefix(line, "nameserver ") {
				if _, err := netip.ParseAddr(strings.TrimPrefix(line, "nameserver ")); err != nil {
					t.Fatalf("resolv.conf line %q", line)
				}
			}
		}
	})
}
