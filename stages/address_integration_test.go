//go:build linux

package stages

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bondstrap/bondstrap/netplan"
)

// dhcpLab is a client veth "bond0" (standing in for the bond) whose peer in
// the server namespace has 198.51.100.1/24 and runs dnsmasq with extra.
func dhcpLab(t *testing.T, extra ...string) (*lab, *dnsmasq, netlink.Link) {
	l := newLab(t)
	link := l.veth("bond0", "srv0", false)
	l.serverAddr("srv0", "198.51.100.1/24")
	if err := l.h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	d := l.startDNSMasq("srv0", extra...)
	// DHCP needs carrier; wait for it as apply does.
	in(t, l.client, func() {
		up, err := l.k.WaitCarrier(context.Background(), []string{"bond0"}, time.Now().Add(5*time.Second))
		if err != nil || !up["bond0"] {
			t.Fatalf("no carrier on bond0: %v %v", up, err)
		}
	})
	return l, d, link
}

func dhcpConfig(t *testing.T, timeout string) *netplan.Config {
	return loadConfig(t, `
network:
  version: 2
  ethernets:
    nics: {match: {name: "nic*"}}
  bonds:
    bond0:
      interfaces: [nics]
      dhcp4: true
bondstrap:
  dhcp-timeout: `+timeout+`
`)
}

func TestDHCPAgainstDNSMasq(t *testing.T) {
	l, d, link := dhcpLab(t,
		"--dhcp-option=option:router,198.51.100.1",
		"--dhcp-option=option:dns-server,198.51.100.53,198.51.100.54",
		"--dhcp-option=option:domain-search,example.test,lab.example.test",
	)
	cfg := dhcpConfig(t, "20s")
	s := l.testState(cfg, Options{})
	dhcp := true
	var ar *AddressReport
	var err error
	start := time.Now()
	in(t, l.client, func() {
		ar, err = s.configureInterface(context.Background(), "bond0", netplan.Addressing{DHCP4: &dhcp})
		if err == nil {
			err = s.writeDNS()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lease in %s: %+v", time.Since(start), *ar.Lease)

	// The address, with the lease's lifetime.
	addrs, err := l.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 {
		t.Fatalf("addresses = %v, %v", addrs, err)
	}
	got := addrs[0]
	ones, _ := got.Mask.Size()
	if !strings.HasPrefix(got.IP.String(), "198.51.100.") || ones != 24 {
		t.Fatalf("address %s, want 198.51.100.x/24", got.IPNet)
	}
	if got.ValidLft <= 0 || got.ValidLft > 3600 {
		t.Errorf("valid lifetime %d, want the lease's 3600s or less", got.ValidLft)
	}
	if ar.Lease.Server != "198.51.100.1" || ar.Lease.LeaseSeconds != 3600 {
		t.Errorf("lease report %+v", *ar.Lease)
	}

	// The default route through the router option.
	assertDefaultRoute(t, l, link, "198.51.100.1")

	// The client identifier is 01 + MAC, as dnsmasq recorded it.
	mac := link.Attrs().HardwareAddr.String()
	fields := d.lease(t, got.IP.String())
	if fields[1] != mac || fields[4] != "01:"+mac {
		t.Errorf("dnsmasq lease %v: want MAC %s and client id 01:%s", fields, mac, mac)
	}

	// DNS where the running system reads it.
	rc, err := os.ReadFile(s.opts.ResolvConf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nameserver 198.51.100.53\n", "nameserver 198.51.100.54\n", "search example.test lab.example.test\n"} {
		if !strings.Contains(string(rc), want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, rc)
		}
	}
	if len(ar.Changes) == 0 || !s.rep.DNS.Written {
		t.Errorf("first run reported no changes: %v, dns %+v", ar.Changes, s.rep.DNS)
	}

	// A second run gets the same lease and changes nothing.
	s2 := l.testState(cfg, Options{ResolvConf: s.opts.ResolvConf})
	var ar2 *AddressReport
	in(t, l.client, func() {
		ar2, err = s2.configureInterface(context.Background(), "bond0", netplan.Addressing{DHCP4: &dhcp})
		if err == nil {
			err = s2.writeDNS()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if ar2.Lease.Address != ar.Lease.Address {
		t.Errorf("second lease %s, first %s", ar2.Lease.Address, ar.Lease.Address)
	}
	if len(ar2.Changes) != 0 || s2.rep.DNS.Written {
		t.Errorf("second run changed %v, dns written %t", ar2.Changes, s2.rep.DNS.Written)
	}
	// Undoing the second run keeps what the first made: it only refreshed.
	in(t, l.client, func() { err = teardownStage(context.Background(), s2) })
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := l.h.AddrList(link, netlink.FAMILY_V4); len(addrs) != 1 {
		t.Errorf("undoing a run that changed nothing changed the addresses: %v", addrs)
	}
	if _, err := os.Stat(s.opts.ResolvConf); err != nil {
		t.Errorf("undoing a run that changed nothing removed resolv.conf: %v", err)
	}

	// Teardown of the first run removes what it added.
	in(t, l.client, func() { err = teardownStage(context.Background(), s) })
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := l.h.AddrList(link, netlink.FAMILY_V4); len(addrs) != 0 {
		t.Errorf("addresses left after teardown: %v", addrs)
	}
	if _, err := os.Stat(s.opts.ResolvConf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("resolv.conf left after teardown: %v", err)
	}
}

// Classless static routes (option 121) win over the router option, and the
// interface MTU option is applied.
func TestDHCPClasslessRoutesAndMTU(t *testing.T) {
	l, _, link := dhcpLab(t,
		"--dhcp-option=option:router,198.51.100.254",
		"--dhcp-option=option:classless-static-route,0.0.0.0/0,198.51.100.1,203.0.113.0/24,198.51.100.2",
		"--dhcp-option=option:mtu,1400",
	)
	s := l.testState(dhcpConfig(t, "20s"), Options{})
	dhcp := true
	var ar *AddressReport
	var err error
	in(t, l.client, func() {
		ar, err = s.configureInterface(context.Background(), "bond0", netplan.Addressing{DHCP4: &dhcp})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ar.Lease.Classless || ar.Lease.MTU != 1400 {
		t.Errorf("lease report %+v", *ar.Lease)
	}
	assertDefaultRoute(t, l, link, "198.51.100.1")
	rs, err := l.h.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rs {
		if r.Dst != nil && r.Dst.String() == "203.0.113.0/24" && r.Gw.String() == "198.51.100.2" {
			found = true
		}
		if r.Gw.String() == "198.51.100.254" {
			t.Errorf("route via the router option despite option 121: %v", r)
		}
	}
	if !found {
		t.Errorf("no route 203.0.113.0/24 via 198.51.100.2 in %v", rs)
	}
	l2, _ := l.h.LinkByName("bond0")
	if l2.Attrs().MTU != 1400 {
		t.Errorf("MTU %d, want 1400", l2.Attrs().MTU)
	}
}

// No server: DHCP fails within its deadline with ErrNoLease.
func TestDHCPNoServer(t *testing.T) {
	l := newLab(t)
	link := l.veth("bond0", "srv0", false)
	if err := l.h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	s := l.testState(dhcpConfig(t, "3s"), Options{})
	dhcp := true
	var err error
	start := time.Now()
	in(t, l.client, func() {
		_, err = s.configureInterface(context.Background(), "bond0", netplan.Addressing{DHCP4: &dhcp})
	})
	took := time.Since(start)
	if !errors.Is(err, ErrNoLease) {
		t.Fatalf("err = %v, want ErrNoLease", err)
	}
	if took < 3*time.Second || took > 4*time.Second {
		t.Errorf("gave up after %s, want about the 3s deadline", took)
	}
	t.Logf("gave up after %s: %v", took, err)
	if len(s.journal) != 0 {
		t.Errorf("journal after a failed DHCP: %v", s.journal)
	}
}

func TestStaticAddressing(t *testing.T) {
	l := newLab(t)
	link := l.veth("bond0", "srv0", false)
	if err := l.h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, `
network:
  version: 2
  ethernets:
    nics: {match: {name: "nic*"}}
  bonds:
    bond0:
      interfaces: [nics]
      addresses: [198.51.100.10/24, 192.0.2.10/25]
      gateway4: 198.51.100.1
      routes:
        - {to: 203.0.113.0/24, via: 192.0.2.1, metric: 50}
      nameservers:
        addresses: [198.51.100.53]
        search: [example.test]
`)
	b := cfg.Network.Bonds["bond0"]
	before := l.linkState("bond0")
	s := l.testState(cfg, Options{})
	var ar *AddressReport
	var err error
	in(t, l.client, func() {
		ar, err = s.configureInterface(context.Background(), "bond0", b.Addressing)
		if err == nil {
			err = s.writeDNS()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := l.h.AddrList(link, netlink.FAMILY_V4)
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
	}
	slices.Sort(got)
	if want := []string{"192.0.2.10/25", "198.51.100.10/24"}; !slices.Equal(got, want) {
		t.Errorf("addresses %v, want %v", got, want)
	}
	assertDefaultRoute(t, l, link, "198.51.100.1")
	rs, _ := l.h.RouteList(link, netlink.FAMILY_V4)
	found := false
	for _, r := range rs {
		if r.Dst != nil && r.Dst.String() == "203.0.113.0/24" && r.Gw.Equal(net.ParseIP("192.0.2.1")) && r.Priority == 50 {
			found = true
		}
	}
	if !found {
		t.Errorf("no route 203.0.113.0/24 via 192.0.2.1 metric 50 in %v", rs)
	}
	rc, _ := os.ReadFile(s.opts.ResolvConf)
	if !strings.Contains(string(rc), "nameserver 198.51.100.53\nsearch example.test\n") {
		t.Errorf("resolv.conf:\n%s", rc)
	}
	t.Logf("changes: %v", ar.Changes)

	// Converged: a second run changes nothing.
	s2 := l.testState(cfg, Options{ResolvConf: s.opts.ResolvConf})
	var ar2 *AddressReport
	in(t, l.client, func() { ar2, err = s2.configureInterface(context.Background(), "bond0", b.Addressing) })
	if err != nil || len(ar2.Changes) != 0 {
		t.Errorf("second run: changes %v, err %v", ar2.Changes, err)
	}

	in(t, l.client, func() { err = teardownStage(context.Background(), s) })
	if err != nil {
		t.Fatal(err)
	}
	if after := l.linkState("bond0"); after != before {
		t.Errorf("after teardown %s, before %s", after, before)
	}
	if rs, _ := l.h.RouteList(nil, netlink.FAMILY_V4); len(rs) != 0 {
		t.Errorf("routes left after teardown: %v", rs)
	}
}

func assertDefaultRoute(t *testing.T, l *lab, link netlink.Link, gw string) {
	t.Helper()
	rs, err := l.h.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if ones, _ := r.Dst.Mask.Size(); r.Dst != nil && ones == 0 && r.Gw.String() == gw {
			return
		}
	}
	t.Errorf("no default route via %s in %v", gw, rs)
}
