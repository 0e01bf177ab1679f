package vm

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLeases(t *testing.T) {
	in := "1795000000 52:54:00:12:34:01 192.0.2.173 smoke ff:00:12:34:01\n" +
		"1795000100 52:54:00:12:34:02 192.0.2.120 * *\n" +
		"duid 00:01:00:01:2c:2f\n"
	got, err := parseLeases(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Lease{
		{Expiry: time.Unix(1795000000, 0), MAC: "52:54:00:12:34:01", IP: netip.MustParseAddr("192.0.2.173"), Hostname: "smoke", ClientID: "ff:00:12:34:01"},
		{Expiry: time.Unix(1795000100, 0), MAC: "52:54:00:12:34:02", IP: netip.MustParseAddr("192.0.2.120")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := parseLeases("garbage\n"); err == nil {
		t.Error("a short line parsed")
	}
}

func TestDnsmasqArgs(t *testing.T) {
	seg := Segment{
		Host: netip.MustParsePrefix("198.51.100.1/24"),
		DHCP: &DHCP{NoRouter: true, MTU: 9000, LeaseTime: 2 * time.Minute,
			ClasslessRoutes: []Route{{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParseAddr("198.51.100.254")}}},
	}
	args, err := dnsmasqArgs(seg, "br1", "/d/l.leases", "/d/l.log")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"--interface=br1",
		"--dhcp-range=198.51.100.100,198.51.100.199,255.255.255.0,120s",
		"--dhcp-option=option:router ",
		"--dhcp-option=option:dns-server,198.51.100.1",
		"--dhcp-option=option:mtu,9000",
		"--dhcp-option=option:classless-static-route,203.0.113.0/24,198.51.100.254",
		"--port=0",
	} {
		if !strings.Contains(joined+" ", want) {
			t.Errorf("dnsmasq args lack %q:\n%s", want, joined)
		}
	}
	if _, err := dnsmasqArgs(Segment{Host: netip.MustParsePrefix("192.0.2.1/28"), DHCP: &DHCP{}}, "br0", "l", "g"); err == nil {
		t.Error("a /28 without a range was accepted")
	}
}

func TestQemuArgs(t *testing.T) {
	cfg := Config{NICs: []NIC{Virtio(25000), E1000()}, Bonding: BondingDefault}
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	v := &VM{cfg: cfg, NICs: cfg.NICs, dir: "/d"}
	v.NICs[0].Tap, v.NICs[1].Tap = "tap0", "tap1"
	joined := strings.Join(v.qemuArgs("/k", "/i", "/d/a.sock", "/d/q.sock"), " ")
	for _, want := range []string{
		"-accel tcg",
		"-nodefaults",
		"-device virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:12:34:01,speed=25000,duplex=full",
		"-device e1000,netdev=net1,id=nic1,mac=52:54:00:12:34:02",
		"-netdev tap,id=net1,ifname=tap1,script=no,downscript=no",
		"bstvm.bonding=default",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("qemu args lack %q:\n%s", want, joined)
		}
	}
	// Guest traffic must stay in the namespace: no user-mode networking.
	if strings.Contains(joined, "-netdev user") || strings.Contains(joined, "-nic") {
		t.Errorf("qemu args use user networking:\n%s", joined)
	}

	bad := Config{NICs: []NIC{{Model: ModelE1000, Speed: 10000}}}
	if err := bad.fill(); err == nil {
		t.Error("an e1000 at 10000 Mb/s was accepted")
	}
}
