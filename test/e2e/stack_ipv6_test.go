package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// stackConfig is the dual-stack bond with a tagged VLAN of TestStackVLANDualStack.
const stackConfig = `network:
  version: 2
  ethernets:
    uplinks: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [uplinks]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      accept-ra: true
      dhcp6: true
      addresses: ["2001:db8:2::10/64"]
  vlans:
    bond0.100:
      id: 100
      link: bond0
      dhcp4: true
bondstrap: {link-timeout: 20s, dhcp-timeout: 30s}
`

// TestStackVLANDualStack proves a tagged VLAN and dual-stack addressing on a
// bond, live and after a reboot in which only systemd-networkd runs. The guest
// under test boots the Debian root; its two virtio NICs are wired point to
// point to a partner guest (busybox, Debian's kernel) that bridges them and
// is the network: DHCPv4 (udhcpd) only on VLAN 100 (a VLAN interface on its
// bridge), and on the untagged bridge IPv6 router advertisements and DHCPv6
// (dnsmasq: a /64 for SLAAC, a DHCPv6 range, itself as the default router).
//
//  1. apply: bond0.100 has the VLAN's lease, the untagged bond0 no IPv4; bond0
//     has its SLAAC address, a DHCPv6 address, its static IPv6 address (live,
//     not only persisted) and the IPv6 default route from the RA;
//  2. reboot: bondstrap does not run; networkd alone brings all of it back,
//     the VLAN's lease and the DHCPv6 address the same (networkd presents the
//     DUID and IAID bondstrap's client did).
func TestStackVLANDualStack(t *testing.T) {
	root := vm.RequireRoot(t)
	bin := vm.BondstrapBinary(t)
	binData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	disk, err := vm.NewRootDiskRemoving(ctx, root, t.TempDir(), []initrd.File{
		{Path: "/usr/bin/bondstrap", Data: binData, Mode: 0o755},
		{Path: configPath, Data: []byte(stackConfig), Mode: 0o644},
	}, nil, networkdLinks)
	if err != nil {
		t.Fatal(err)
	}
	wireA, peerA := vm.Wire(40200)
	wireB, peerB := vm.Wire(40202)
	dutNICs := []vm.NIC{vm.Virtio(10000), vm.Virtio(10000)}
	dutNICs[0].UDP, dutNICs[1].UDP = wireA, wireB
	partnerNICs := []vm.NIC{vm.Virtio(10000), vm.Virtio(10000)}
	partnerNICs[0].UDP, partnerNICs[1].UDP = peerA, peerB
	partnerNICs[0].MAC, partnerNICs[1].MAC = "52:54:00:bb:00:01", "52:54:00:bb:00:02"
	dut, partner := vm.NewPair(t,
		vm.Config{NICs: dutNICs, Root: disk, MemoryMB: 1024, Segments: []vm.Segment{{}}},
		vm.Config{NICs: partnerNICs, HostBinaries: []initrd.HostBinary{vm.IPRoute2, vm.DNSMasq},
			Files: []initrd.File{{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\n"), Mode: 0o644},
				{Path: "/etc/group", Data: []byte("root:x:0:\n"), Mode: 0o644}}})
	ip := vm.IPRoute2Path
	partner.MustRun(t, fmt.Sprintf(`set -e
%[1]s link add pbr type bridge stp_state 0 forward_delay 0
%[1]s link set %[2]s master pbr up
%[1]s link set %[3]s master pbr up
%[1]s link set pbr up
%[1]s link add link pbr name pbr.100 type vlan id 100
%[1]s link set pbr.100 up
%[1]s addr add 203.0.113.1/24 dev pbr.100
%[1]s -6 addr add 2001:db8:1::1/64 dev pbr nodad
echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
cat >/tmp/udhcpd.conf <<EOF
start 203.0.113.100
end 203.0.113.150
interface pbr.100
option subnet 255.255.255.0
option router 203.0.113.1
option lease 600
lease_file /tmp/udhcpd.leases
EOF
touch /tmp/udhcpd.leases
udhcpd /tmp/udhcpd.conf
dnsmasq --port=0 --interface=pbr --bind-interfaces --user=root --group=root \
  --enable-ra --ra-param=pbr,10,600 --dhcp-range=2001:db8:1::100,2001:db8:1::1ff,slaac,64,10m \
  --dhcp-leasefile=/tmp/dnsmasq.leases --pid-file=/tmp/dnsmasq.pid --log-facility=/tmp/dnsmasq.log --log-dhcp`,
		ip, partner.Iface(0), partner.Iface(1)))
	waitSystemRunning(ctx, t, dut)

	// Boot 1: bondstrap applies the config.
	mustApply(t, dut)
	first := readStack(ctx, t, dut, "boot 1")
	checkStack(t, "boot 1", first)

	// Boot 2: the same disk; only systemd-networkd.
	if err := dut.Reboot(ctx); err != nil {
		t.Fatalf("reboot: %v", err)
	}
	waitSystemRunning(ctx, t, dut)
	if out, code, err := dut.Run(ctx, "test ! -e /run/bondstrap/report.json"); err != nil || code != 0 {
		t.Errorf("boot 2: bondstrap ran: exit %d %v %s", code, err, out)
	}
	second := readStack(ctx, t, dut, "boot 2")
	checkStack(t, "boot 2", second)
	if second.VLAN4 != first.VLAN4 {
		t.Errorf("the VLAN's lease differs across the reboot: %s, then %s", first.VLAN4, second.VLAN4)
	}
	// networkd presents the DUID and IAID bondstrap's client did: the server
	// hands back the same address.
	if second.DHCPv6 != first.DHCPv6 {
		t.Errorf("the DHCPv6 address differs across the reboot: %s, then %s", first.DHCPv6, second.DHCPv6)
	}
	if second.SLAAC != first.SLAAC {
		t.Errorf("the SLAAC address differs across the reboot: %s, then %s", first.SLAAC, second.SLAAC)
	}
	t.Logf("boot 2: networkd brought back bond0.100 %s, bond0 %v, IPv6 default via %s", second.VLAN4, second.Addrs6, second.Gateway6)
}

// waitSystemRunning waits for systemd to finish booting (an event in systemd,
// not a poll here).
func waitSystemRunning(ctx context.Context, t *testing.T, v *vm.VM) {
	t.Helper()
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r, err := v.Exec(bctx, "systemctl is-system-running --wait; systemctl --failed --no-legend --no-pager")
	if err != nil {
		t.Fatalf("waiting for the boot to finish: %v", err)
	}
	if state, failed, _ := strings.Cut(r.Stdout, "\n"); state != "running" {
		t.Errorf("system state %q after boot; failed units:\n%s", state, failed)
	}
}

// stackState is what the guest reports about bond0 and bond0.100 on one boot.
type stackState struct {
	VLAN4    netip.Prefix   // bond0.100's IPv4 address
	Bond4    []netip.Prefix // bond0's IPv4 addresses (none)
	Addrs6   []netip.Prefix // bond0's global IPv6 addresses
	SLAAC    netip.Prefix   // the one in 2001:db8:1::/64 made from the MAC
	DHCPv6   netip.Prefix   // the /128 from the DHCPv6 range
	Static6  bool           // 2001:db8:2::10/64 is there
	Gateway6 netip.Addr     // the IPv6 default route's gateway
	VLANID   int
}

// readStack waits (up to two minutes) for the VLAN's lease, the SLAAC address
// and the IPv6 default route, then reads the state: after a reboot networkd
// needs its time.
func readStack(ctx context.Context, t *testing.T, v *vm.VM, boot string) stackState {
	t.Helper()
	ip := "ip"
	if _, code, _ := v.Run(ctx, "test -x "+vm.IPRoute2Path); code == 0 {
		ip = vm.IPRoute2Path
	}
	wait := fmt.Sprintf(`i=0; until %[1]s -4 addr show dev bond0.100 2>/dev/null | grep -q 'inet 203.0.113' &&
  %[1]s -6 addr show dev bond0 scope global | grep -q 'inet6 2001:db8:1:0:' &&
  %[1]s -6 addr show dev bond0 scope global | grep -q 'inet6 2001:db8:1::1[0-9a-f]*/128' &&
  %[1]s -6 route show default | grep -q via; do i=$((i+1)); [ $i -gt 1200 ] && exit 1; sleep 0.1; done`, ip)
	if out, code, err := v.Run(ctx, wait); err != nil || code != 0 {
		t.Fatalf("%s: no VLAN lease, SLAAC or DHCPv6 address or IPv6 default route within 2 minutes (%v %s):\n%s", boot, err, out,
			v.MustRun(t, ip+" addr; "+ip+" -6 route; "+ip+" -d link show bond0.100"))
	}
	var st stackState
	var addrs []struct {
		IfName   string `json:"ifname"`
		AddrInfo []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
			Scope     string `json:"scope"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(v.MustRun(t, ip+" -j addr show")), &addrs); err != nil {
		t.Fatal(err)
	}
	for _, l := range addrs {
		for _, a := range l.AddrInfo {
			p := netip.PrefixFrom(netip.MustParseAddr(a.Local), a.PrefixLen)
			switch {
			case l.IfName == "bond0.100" && a.Family == "inet":
				st.VLAN4 = p
			case l.IfName == "bond0" && a.Family == "inet":
				st.Bond4 = append(st.Bond4, p)
			case l.IfName == "bond0" && a.Family == "inet6" && a.Scope == "global":
				st.Addrs6 = append(st.Addrs6, p)
				switch {
				case p.String() == "2001:db8:2::10/64":
					st.Static6 = true
				case p.Bits() == 128 && netip.MustParsePrefix("2001:db8:1::/64").Contains(p.Addr()):
					st.DHCPv6 = p
				case p.Bits() == 64 && netip.MustParsePrefix("2001:db8:1::/64").Contains(p.Addr()):
					st.SLAAC = p
				}
			}
		}
	}
	route := strings.Fields(v.MustRun(t, ip+" -6 route show default"))
	if i := slices.Index(route, "via"); i >= 0 && i+1 < len(route) {
		st.Gateway6, _ = netip.ParseAddr(route[i+1])
	}
	fmt.Sscanf(strings.TrimSpace(v.MustRun(t, ip+` -d -j link show bond0.100 | grep -o '"id":[0-9]*' | cut -d: -f2`)), "%d", &st.VLANID)
	t.Logf("%s: bond0.100 %s (vlan %d); bond0 v4 %v, v6 %v; IPv6 default via %s", boot, st.VLAN4, st.VLANID, st.Bond4, st.Addrs6, st.Gateway6)
	return st
}

func checkStack(t *testing.T, boot string, st stackState) {
	t.Helper()
	if !netip.MustParsePrefix("203.0.113.0/24").Contains(st.VLAN4.Addr()) || st.VLANID != 100 {
		t.Errorf("%s: bond0.100 (vlan %d) has %s, want a lease in 203.0.113.0/24 on VLAN 100", boot, st.VLANID, st.VLAN4)
	}
	if len(st.Bond4) != 0 {
		t.Errorf("%s: the untagged bond0 has IPv4 %v: the only DHCPv4 server is on VLAN 100", boot, st.Bond4)
	}
	// EUI-64 of the bond's MAC, its first member's 52:54:00:12:34:01.
	if want := netip.MustParsePrefix("2001:db8:1::5054:ff:fe12:3401/64"); st.SLAAC != want {
		t.Errorf("%s: bond0's SLAAC address is %s, want %s", boot, st.SLAAC, want)
	}
	if !netip.MustParsePrefix("2001:db8:1::/64").Contains(st.DHCPv6.Addr()) {
		t.Errorf("%s: bond0 has no DHCPv6 address: %v", boot, st.Addrs6)
	}
	if !st.Static6 {
		t.Errorf("%s: bond0 lacks its static 2001:db8:2::10/64: %v", boot, st.Addrs6)
	}
	if !st.Gateway6.IsLinkLocalUnicast() {
		t.Errorf("%s: the IPv6 default route is via %s, want the router's link-local address from its RA", boot, st.Gateway6)
	}
}
