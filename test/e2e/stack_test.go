package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// pingPath is iputils' ping from the host in the guest: busybox's ping has no
// 10 ms interval.
const pingPath = "/usr/local/bin/ping"

// TestStackKVMHost proves VLANs, bridges and standalone NICs on one boot of a
// busybox guest with two virtio NICs on segment 0 and an e1000 on segment 1,
// each segment with its dnsmasq:
//
//  1. a KVM host: br0 over an active-backup bond0 with DHCP on br0, and a
//     network namespace in the guest playing a VM, its veth in br0, with its
//     own lease from the outside server. Both ping the outside every 10 ms
//     while the active member's link is cut: both keep reachability, and the
//     loss of each is recorded;
//  2. a management NIC with DHCP on segment 1 beside a static bond;
//  3. a stack that fails half-way (a bridge on a VLAN no DHCP server
//     answers on): the bridge, the VLAN and the bond are undone in reverse,
//     and the NICs are as found (`ip -j` before and after).
func TestStackKVMHost(t *testing.T) {
	nics := threeNICs()
	nics[2].Segment = 1
	v := boot(t, vm.Config{
		NICs:         nics,
		Segments:     []vm.Segment{{DHCP: &vm.DHCP{}}, {DHCP: &vm.DHCP{}}},
		HostBinaries: []initrd.HostBinary{vm.IPRoute2, {Src: "/usr/bin/ping", Dst: pingPath}},
	}, "# written by the test\n")
	eth0, eth1, eth2 := v.Iface(0), v.Iface(1), v.Iface(2)
	ip := vm.IPRoute2Path
	clean := func(t *testing.T) {
		t.Helper()
		v.MustRun(t, fmt.Sprintf(`%[1]s netns del vm1 2>/dev/null
for l in br0 bond0 vethh; do %[1]s link del $l 2>/dev/null; done
for n in %[2]s %[3]s %[4]s; do %[1]s addr flush dev $n; %[1]s link set $n down; done
true`, ip, eth0, eth1, eth2))
	}

	t.Run("bridge-on-active-backup-bond", func(t *testing.T) {
		clean(t)
		writeConfig(t, v, `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 50}
  bridges:
    br0:
      interfaces: [bond0]
      dhcp4: true
      parameters: {stp: false, forward-delay: 0}
bondstrap: {dhcp-timeout: 30s}
`)
		mustApply(t, v)
		bondMAC := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bond0/address"))
		brMAC := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/br0/address"))
		if bondMAC != brMAC || bondMAC != "52:54:00:12:34:01" {
			t.Errorf("br0 has MAC %s, bond0 %s: the bridge must take the bond's, the first member's permanent MAC", brMAC, bondMAC)
		}
		if m := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bond0/master/ifindex; cat /sys/class/net/br0/ifindex")); len(strings.Fields(m)) != 2 || strings.Fields(m)[0] != strings.Fields(m)[1] {
			t.Errorf("bond0 is not a port of br0: %q", m)
		}
		hostAddr := firstAddr(t, v, "br0")
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer lcancel()
		lease, err := v.Net.WaitLease(lctx, 0, bondMAC)
		if err != nil || lease.IP != hostAddr {
			t.Errorf("dnsmasq leased %+v (%v) to %s; br0 has %s", lease, err, bondMAC, hostAddr)
		}

		// The "VM": a namespace with a veth in br0 and its own lease.
		v.MustRun(t, fmt.Sprintf(`set -e
%[1]s netns add vm1
%[1]s link add vethh type veth peer name vethg
%[1]s link set vethg netns vm1
%[1]s link set vethh master br0 up
%[1]s -n vm1 link set lo up
%[1]s netns exec vm1 udhcpc -i vethg -q -n -t 10 -T 1 >/dev/null 2>&1`, ip))
		vmAddr := strings.TrimSpace(v.MustRun(t, ip+` -n vm1 -4 -o addr show dev vethg | awk '{print $4}'`))
		if !strings.HasPrefix(vmAddr, "192.0.2.") {
			t.Fatalf("the VM behind br0 got no lease from the outside server: %q", vmAddr)
		}
		outside := v.Net.HostAddr(0).String()

		active := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bond0/bonding/active_slave"))
		cut := 0
		if active == eth1 {
			cut = 1
		}
		// 500 pings 10 ms apart from the host and from the VM; the active
		// member's link is cut 1.5 s in.
		v.MustRun(t, fmt.Sprintf(`%[1]s -n -q -c 500 -i 0.01 -W 1 %[2]s >/tmp/ping-host 2>&1 &
%[3]s netns exec vm1 %[1]s -n -q -c 500 -i 0.01 -W 1 %[2]s >/tmp/ping-vm 2>&1 &
true`, pingPath, outside, ip))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		time.Sleep(1500 * time.Millisecond) // the cut must fall inside the ping run, not at an event
		if err := v.SetLink(ctx, cut, false); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := v.SetLink(ctx, cut, true); err != nil {
				t.Error(err)
			}
		}()
		v.MustRun(t, `i=0; while pidof ping >/dev/null; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`)
		for _, who := range []string{"host", "vm"} {
			out := v.MustRun(t, "cat /tmp/ping-"+who)
			sent, received := pingSummary(out)
			t.Logf("failover under br0 (miimon 50): the %s lost %d of %d pings (%d ms at 10 ms apart)", who, sent-received, sent, (sent-received)*10)
			if sent == 0 || received == 0 || sent-received > 100 {
				t.Errorf("%s: lost %d of %d pings across the failover:\n%s", who, sent-received, sent, out)
			}
		}
		if now := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bond0/bonding/active_slave")); now == active {
			t.Errorf("the active member is still %s after its link was cut", now)
		}
	})

	t.Run("management-nic-beside-a-static-bond", func(t *testing.T) {
		clean(t)
		writeConfig(t, v, `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
    mgmt:
      match: {driver: e1000}
      dhcp4: true
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      addresses: [192.0.2.50/24]
bondstrap: {dhcp-timeout: 30s}
`)
		mustApply(t, v)
		if got := firstAddr(t, v, "bond0"); got != netip.MustParseAddr("192.0.2.50") {
			t.Errorf("bond0 has %s, want the static 192.0.2.50", got)
		}
		mgmt := firstAddr(t, v, eth2)
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer lcancel()
		lease, err := v.Net.WaitLease(lctx, 1, "52:54:00:12:34:03")
		if err != nil || lease.IP != mgmt {
			t.Errorf("segment 1's dnsmasq leased %+v (%v); %s has %s", lease, err, eth2, mgmt)
		}
		if err := pingFromOtherSubnet(t, v, "192.0.2.50"); err == nil {
			// The default route is the management NIC's (the static bond
			// has none), so the bond answers a ping from segment 1 only
			// through it: reachable both ways proves both interfaces work.
			t.Logf("bond0 answers from segment 1 through the management NIC's default route")
		} else {
			t.Errorf("bond0 unreachable from segment 1: %v", err)
		}
		for _, want := range []string{"10-bondstrap-bond0.netdev", "10-bondstrap-bond0.network"} {
			if _, ok := units(t, v, "/")[want]; !ok {
				t.Errorf("unit %s not written", want)
			}
		}
	})

	t.Run("half-built-stack-rolls-back", func(t *testing.T) {
		clean(t)
		// eth0 carries an address and the default route, as after PXE.
		v.MustRun(t, fmt.Sprintf(`%[1]s link set %[2]s up
%[1]s addr add 192.0.2.77/24 dev %[2]s
%[1]s route add default via %[3]s dev %[2]s proto dhcp`, ip, eth0, v.Net.HostAddr(0)))
		waitNoTentative(t, v)
		before := ipState(t, v)
		writeConfig(t, v, `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
  vlans:
    bond0.300: {id: 300, link: bond0}
  bridges:
    br300:
      interfaces: [bond0.300]
      dhcp4: true
      parameters: {stp: false}
bondstrap: {dhcp-timeout: 4s}
`)
		r := apply(t, v)
		if r.Exit != 1 {
			t.Fatalf("apply exit %d, want 1 (no DHCP on VLAN 300)\n%s", r.Exit, tailLines(r.Stderr, 30))
		}
		// The teardown undid the bridge, then the VLAN, then the bond.
		order := regexp.MustCompile(`\[started\]  undo: (delete bridge br300|delete VLAN bond0\.300|delete bond bond0)`).FindAllStringSubmatch(r.Stderr, -1)
		var got []string
		for _, m := range order {
			got = append(got, m[1])
		}
		if want := []string{"delete bridge br300", "delete VLAN bond0.300", "delete bond bond0"}; !reflect.DeepEqual(got, want) {
			t.Errorf("teardown order %v, want %v", got, want)
		}
		waitNoTentative(t, v)
		if after := ipState(t, v); !reflect.DeepEqual(before, after) {
			t.Errorf("not restored as found:\nbefore: %s\nafter:  %s", jsonText(before), jsonText(after))
		}
		if err := pingFromOtherSubnet(t, v, "192.0.2.77"); err != nil {
			t.Errorf("eth0's address is not reachable through its default route again: %v", err)
		}
	})
}

// firstAddr is the first IPv4 address of a guest link.
func firstAddr(t *testing.T, v *vm.VM, link string) netip.Addr {
	t.Helper()
	out := strings.TrimSpace(v.MustRun(t, vm.IPRoute2Path+` -4 -o addr show dev `+link+` | awk '{print $4; exit}'`))
	p, err := netip.ParsePrefix(out)
	if err != nil {
		t.Fatalf("%s has no IPv4 address: %q", link, out)
	}
	return p.Addr()
}

// pingSummary reads iputils' "N packets transmitted, M received" line.
func pingSummary(out string) (sent, received int) {
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(out)
	if m == nil {
		return 0, 0
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received
}
