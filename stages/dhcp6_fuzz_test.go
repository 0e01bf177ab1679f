package stages

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// FuzzLease6Config: whatever bytes a DHCPv6 server sends, reading them as a
// reply, checking them as an answer to a Solicit and turning the lease into
// a configuration never panics, and the configuration is sane: global or
// unique-local unicast /128 addresses, lifetimes the kernel holds, bounded
// counts, no routes, and a resolv.conf with only comment, nameserver and
// search lines.
func FuzzLease6Config(f *testing.F) {
	good := testReply6(dhcpv6.MessageTypeReply,
		testIANA(testIAID6, 1800*time.Second, 2880*time.Second,
			testIAAddr("2001:db8::10", time.Hour, 2*time.Hour),
			testIAAddr("fd00::1", lease6Infinity, lease6Infinity)),
		dhcpv6.OptDNS(net.ParseIP("2001:db8::53")),
		dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"lab.example"}}),
		&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	f.Add(good.ToBytes())
	bad := testReply6(dhcpv6.MessageTypeAdvertise,
		testIANA(testIAID6, time.Hour, time.Minute,
			testIAAddr("fe80::1", time.Hour, time.Hour),
			testIAAddr("ff02::1", time.Hour, time.Hour),
			testIAAddr("::ffff:192.0.2.1", time.Hour, time.Hour),
			testIAAddr("2001:db8::1", 2*time.Hour, time.Hour),
			testIAAddr("2001:db8::2", 0, 0),
			testIAAddr("2001:db8::3", time.Hour, time.Hour, noAddrs("x\x1b[0m"))),
		dhcpv6.OptDNS(net.ParseIP("fe80::53"), net.ParseIP("::")),
		dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"a\nnameserver 6.6.6.6", "x\ry"}}))
	f.Add(bad.ToBytes())
	refused := testReply6(dhcpv6.MessageTypeReply, &dhcpv6.OptStatusCode{StatusCode: iana.StatusUnspecFail, StatusMessage: "no"})
	f.Add(refused.ToBytes())
	f.Add(good.ToBytes()[:20])
	f.Add([]byte{7, 1, 2, 3, 0, 3, 0, 40, 0, 18, 52, 86, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 24})

	client := testExchange6()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := dhcpv6.MessageFromBytes(data)
		if err != nil {
			return
		}
		client.checkSolicitAnswer(m)
		client.checkAuthentic(m, dhcpv6.MessageTypeReply)
		// Ours, and every IA_NA in the message, to get past the IAID check.
		iaids := [][4]byte{testIAID6}
		for _, ia := range m.Options.IANA() {
			iaids = append(iaids, ia.IaId)
		}
		for _, iaid := range iaids {
			l, err := lease6FromReply(m, iaid)
			if err != nil {
				if l != nil {
					t.Fatalf("a lease and an error: %v", err)
				}
				if strings.ContainsFunc(err.Error(), unicode.IsControl) {
					t.Fatalf("error %q carries control characters", err)
				}
				continue
			}
			for _, a := range l.Addrs {
				if a.Preferred > a.Valid {
					t.Fatalf("address %v kept with preferred %s above valid %s", a.Addr, a.Preferred, a.Valid)
				}
			}
			checkLease6Config(t, l)
		}
	})
}

func checkLease6Config(t *testing.T, l *Lease6) {
	t.Helper()
	c, lr := lease6Config(l)
	sane := func(a netip.Addr) bool {
		return a.Is6() && !a.Is4In6() && a.Zone() == "" && !a.IsUnspecified() && !a.IsLoopback() &&
			!a.IsMulticast() && !a.IsLinkLocalUnicast()
	}
	if len(c.Addrs) > maxLease6Addrs || len(c.DNS) > maxLease6DNS || len(c.Search) > maxLease6Search {
		t.Fatalf("%d addresses, %d DNS servers, %d domains taken", len(c.Addrs), len(c.DNS), len(c.Search))
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range c.Addrs {
		if p.Bits() != 128 || !sane(p.Addr()) || seen[p] {
			t.Fatalf("address %v taken from a lease", p)
		}
		seen[p] = true
	}
	if c.Lifetime < 0 || c.Lifetime > maxLease6Lifetime || (len(c.Addrs) == 0 && c.Lifetime != 0) {
		t.Fatalf("lifetime %s", c.Lifetime)
	}
	if len(c.Routes) != 0 || c.MTU != 0 {
		t.Fatalf("routes %v, MTU %d from DHCPv6", c.Routes, c.MTU)
	}
	for _, d := range c.DNS {
		if !sane(d) {
			t.Fatalf("DNS server %v taken from a lease", d)
		}
	}
	for _, d := range c.Search {
		if !validDomain(d) {
			t.Fatalf("search domain %q taken from a lease", d)
		}
	}

	if len(lr.Addresses) != len(c.Addrs) {
		t.Fatalf("report has %d addresses, configuration %d", len(lr.Addresses), len(c.Addrs))
	}
	ms := func(m Millis) time.Duration {
		if m == Millis(-time.Millisecond) {
			return lease6Infinity
		}
		return time.Duration(m)
	}
	for i, a := range lr.Addresses {
		pref, valid := ms(a.Preferred), ms(a.Valid)
		if a.Address != c.Addrs[i].String() || pref <= 0 || valid <= 0 || pref > valid {
			t.Fatalf("report address %+v", a)
		}
		if valid != lease6Infinity && valid < c.Lifetime {
			t.Fatalf("address valid %s, configuration lifetime %s", valid, c.Lifetime)
		}
	}
	data, err := json.Marshal(lr)
	if err != nil {
		t.Fatal(err)
	}
	var back Lease6Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for _, d := range back.Dropped {
		if strings.ContainsFunc(d, unicode.IsControl) {
			t.Fatalf("dropped %q carries control characters", d)
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
}
