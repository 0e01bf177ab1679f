package fake

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
)

// machine is two 10G NICs and a 1G NIC on segment lan, whose switch
// serves DHCP untagged and on VLAN 100 (not on 200); eth2 has LRO on.
const machine = `{
  "nics": [
    {"name": "eth0", "mac": "52:54:00:00:00:02", "speed_mbps": 10000, "segment": "lan"},
    {"name": "eth1", "mac": "52:54:00:00:00:01", "speed_mbps": 10000, "segment": "lan"},
    {"name": "eth2", "mac": "52:54:00:00:00:03", "speed_mbps": 1000, "segment": "lan", "lro": true}
  ],
  "segments": [{"name": "lan",
    "dhcp": {"prefix": "192.0.2.1/24"},
    "vlans": {"100": {"dhcp": {"prefix": "198.51.100.1/24"}}, "200": {}}}]
}`

func newMachine(t *testing.T, js string) *Kernel {
	t.Helper()
	var m Machine
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	k, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// undoer returns do, which fails the test on an error and returns the
// undo.
func undoer(t *testing.T) func(kernel.Undo, error) kernel.Undo {
	return func(u kernel.Undo, err error) kernel.Undo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func getLink(t *testing.T, k *Kernel, name string) kernel.Link {
	t.Helper()
	l, err := k.Link(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestVLANRules(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	_, err := k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth9.100", Parent: "eth9", ID: 100})
	wantErr(t, "no parent", err, kernel.ErrNotFound)
	_, err = k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth0.4095", Parent: "eth0", ID: 4095})
	wantErr(t, "id 4095", err, unix.ERANGE)
	_, err = k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth0.100", Parent: "eth0", ID: 100, MTU: 9000})
	wantErr(t, "MTU above the parent's", err, unix.EINVAL)
	_, err = k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth1", Parent: "eth0", ID: 100})
	wantErr(t, "name taken", err, unix.EEXIST)
	_, err = k.CreateVLAN(ctx, kernel.VLANConfig{Name: "lo.5", Parent: "lo", ID: 5})
	wantErr(t, "on loopback", err, unix.EOPNOTSUPP)

	undo := do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth0.100", Parent: "eth0", ID: 100}))
	_, err = k.CreateVLAN(ctx, kernel.VLANConfig{Name: "v100", Parent: "eth0", ID: 100})
	wantErr(t, "id taken on the parent", err, unix.EEXIST)
	do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth1.100", Parent: "eth1", ID: 100}))

	v := getLink(t, k, "eth0.100")
	if v.Kind != "vlan" || v.VLAN == nil || *v.VLAN != (kernel.VLAN{ID: 100, Parent: "eth0"}) || v.MTU != 1500 ||
		v.MAC.String() != "52:54:00:00:00:02" || v.Up {
		t.Errorf("VLAN as made: %+v %+v", v, v.VLAN)
	}
	// Carrier: up on a parent with carrier.
	do(k.SetUp(ctx, "eth0.100", true))
	if getLink(t, k, "eth0.100").Carrier {
		t.Error("carrier on a parent that is down")
	}
	do(k.SetUp(ctx, "eth0", true))
	if !getLink(t, k, "eth0.100").Carrier {
		t.Error("no carrier on a parent that has it")
	}
	// MTU: not above the parent's; lowered with it.
	_, err = k.SetMTU(ctx, "eth0.100", 1501)
	wantErr(t, "MTU above the parent's", err, unix.ERANGE)
	do(k.SetMTU(ctx, "eth0", 1400))
	if got := getLink(t, k, "eth0.100").MTU; got != 1400 {
		t.Errorf("VLAN MTU %d after the parent's went to 1400", got)
	}
	// MAC: follows the parent's until set.
	do(k.SetMAC(ctx, "eth0", net.HardwareAddr{2, 0, 0, 0, 0, 9}))
	if got := getLink(t, k, "eth0.100").MAC.String(); got != "02:00:00:00:00:09" {
		t.Errorf("VLAN MAC %s after the parent's changed", got)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Link(ctx, "eth0.100"); !errors.Is(err, kernel.ErrNotFound) {
		t.Errorf("undo left the VLAN: %v", err)
	}
}

// A VLAN on a bond follows the bond's MAC, which the bond takes from its
// first port; the VLAN goes when the bond goes.
func TestVLANOnBond(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	undoBond := do(k.CreateBond(ctx, kernel.BondConfig{Name: "bond0", Mode: "active-backup"}))
	do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "bond0.100", Parent: "bond0", ID: 100}))
	do(k.SetMaster(ctx, "eth1", "bond0"))
	if got := getLink(t, k, "bond0.100").MAC.String(); got != "52:54:00:00:00:01" {
		t.Errorf("VLAN MAC %s, want the bond's from eth1", got)
	}
	if err := undoBond(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Link(ctx, "bond0.100"); !errors.Is(err, kernel.ErrNotFound) {
		t.Errorf("the VLAN outlived its bond: %v", err)
	}
}

func TestBridgeRules(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	_, err := k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", STP: true, ForwardDelay: time.Second, Priority: -1})
	wantErr(t, "STP forward delay 1s", err, unix.ERANGE)
	_, err = k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", HelloTime: 11 * time.Second, Priority: -1})
	wantErr(t, "hello 11s", err, unix.ERANGE)
	_, err = k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", MaxAge: 5 * time.Second, Priority: -1})
	wantErr(t, "max age 5s", err, unix.ERANGE)
	_, err = k.CreateBridge(ctx, kernel.BridgeConfig{Name: "eth0", Priority: -1})
	wantErr(t, "name taken", err, unix.EEXIST)
	_, err = k.CreateBridge(ctx, kernel.BridgeConfig{Name: "a/b", Priority: -1})
	wantErr(t, "bad name", err, unix.EINVAL)

	undo := do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", ForwardDelay: time.Second, Priority: 4096}))
	br := getLink(t, k, "br0")
	want := kernel.DefaultBridge
	want.ForwardDelay, want.Priority = time.Second, 4096
	if br.Kind != "bridge" || br.Bridge == nil || !reflect.DeepEqual(*br.Bridge, want) || br.Up {
		t.Errorf("bridge as made: %+v %+v", br, br.Bridge)
	}
	// A port may be up; it stays up and keeps its MAC; the bridge takes
	// the lowest MAC of its ports and the least MTU.
	do(k.SetUp(ctx, "eth0", true))
	do(k.SetMTU(ctx, "eth1", 9000))
	do(k.SetMaster(ctx, "eth0", "br0"))
	undoPort := do(k.SetMaster(ctx, "eth1", "br0"))
	p := getLink(t, k, "eth0")
	if !p.Up || p.Master != "br0" || p.MAC.String() != "52:54:00:00:00:02" || p.Port != nil ||
		p.BridgePort == nil || *p.BridgePort != (kernel.BridgePort{Cost: 2, Priority: 32}) {
		t.Errorf("port: %+v %+v", p, p.BridgePort)
	}
	br = getLink(t, k, "br0")
	if br.MAC.String() != "52:54:00:00:00:01" || br.MTU != 1500 || br.Carrier {
		t.Errorf("bridge with ports, down: mac %s mtu %d carrier %t", br.MAC, br.MTU, br.Carrier)
	}
	do(k.SetUp(ctx, "br0", true))
	if !getLink(t, k, "br0").Carrier {
		t.Error("STP off: no carrier with a port that has it")
	}
	_, err = k.SetMaster(ctx, "br0", "br0")
	wantErr(t, "bridge in a bridge", err, unix.ELOOP)
	do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "br0.5", Parent: "br0", ID: 5}))
	_, err = k.SetMaster(ctx, "br0.5", "br0")
	wantErr(t, "a VLAN on the bridge in it", err, unix.EBUSY)

	// Ports leave: the bridge's MAC goes to zeros, its MTU back to 1500.
	if err := undoPort(ctx); err != nil {
		t.Fatal(err)
	}
	do(k.SetMaster(ctx, "eth0", ""))
	br = getLink(t, k, "br0")
	if br.MAC.String() != "00:00:00:00:00:00" || br.MTU != 1500 {
		t.Errorf("bridge without ports: mac %s mtu %d", br.MAC, br.MTU)
	}
	if p := getLink(t, k, "eth0"); !p.Up || p.BridgePort != nil {
		t.Errorf("released port: up %t %+v", p.Up, p.BridgePort)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Link(ctx, "br0.5"); !errors.Is(err, kernel.ErrNotFound) {
		t.Errorf("the VLAN outlived its bridge: %v", err)
	}
}

// With STP on, a bridge forwards after twice the forward delay: a wait
// shorter than that ends without carrier, a longer one with it.
func TestBridgeSTPCarrier(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", STP: true, ForwardDelay: 2 * time.Second, Priority: -1}))
	do(k.SetMaster(ctx, "eth0", "br0"))
	do(k.SetUp(ctx, "eth0", true))
	do(k.SetUp(ctx, "br0", true))
	if getLink(t, k, "br0").Carrier {
		t.Fatal("STP on: carrier before listening and learning")
	}
	up, err := k.WaitCarrier(ctx, []string{"br0"}, time.Now().Add(3*time.Second))
	if err != nil || up["br0"] {
		t.Fatalf("STP on, 3s wait: %v %v", up, err)
	}
	// The model's time adds up: 3s waited, 1s more makes 4.
	up, err = k.WaitCarrier(ctx, []string{"br0"}, time.Now().Add(1100*time.Millisecond))
	if err != nil || !up["br0"] {
		t.Fatalf("STP on, 4s waited: %v %v", up, err)
	}
	// A port's cable out and back in: listening and learning again.
	if err := k.SetCable("eth0", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.SetCable("eth0", "lan"); err != nil {
		t.Fatal(err)
	}
	links, ok, err := k.WaitFor(ctx, time.Now().Add(time.Second), func(ls []kernel.Link) bool {
		return slices.ContainsFunc(ls, func(l kernel.Link) bool { return l.Name == "br0" && l.Carrier })
	})
	if err != nil || ok || len(links) == 0 {
		t.Fatalf("WaitFor after the cable came back, 1s: %t %v", ok, err)
	}
	_, ok, err = k.WaitFor(ctx, time.Now().Add(10*time.Second), func(ls []kernel.Link) bool {
		return slices.ContainsFunc(ls, func(l kernel.Link) bool { return l.Name == "br0" && l.Carrier })
	})
	if err != nil || !ok {
		t.Fatalf("WaitFor after the cable came back, 10s: %t %v", ok, err)
	}
}

func TestChangeBridgeAndPort(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", ForwardDelay: time.Second, Priority: -1}))
	// STP starting clamps the forward delay the bridge keeps.
	undo := do(k.ChangeBridge(ctx, kernel.BridgeConfig{Name: "br0", STP: true, Priority: 100}))
	want := kernel.DefaultBridge
	want.STP, want.ForwardDelay, want.Priority = true, 2*time.Second, 100
	if got := getLink(t, k, "br0").Bridge; !reflect.DeepEqual(*got, want) {
		t.Errorf("after STP on: %+v, want %+v", got, want)
	}
	_, err := k.ChangeBridge(ctx, kernel.BridgeConfig{Name: "br0", STP: true, ForwardDelay: 31 * time.Second, Priority: -1})
	wantErr(t, "forward delay 31s with STP", err, unix.ERANGE)
	_, err = k.ChangeBridge(ctx, kernel.BridgeConfig{Name: "eth0", Priority: -1})
	wantErr(t, "not a bridge", err, unix.EOPNOTSUPP)
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	want = kernel.DefaultBridge
	want.ForwardDelay = time.Second
	if got := getLink(t, k, "br0").Bridge; !reflect.DeepEqual(*got, want) {
		t.Errorf("after undo: %+v, want %+v", got, want)
	}

	_, err = k.SetBridgePort(ctx, "eth2", kernel.BridgePort{Cost: 5, Priority: -1})
	wantErr(t, "not a port", err, unix.EOPNOTSUPP)
	do(k.SetMaster(ctx, "eth2", "br0"))
	if got := *getLink(t, k, "eth2").BridgePort; got != (kernel.BridgePort{Cost: 100, Priority: 32}) {
		t.Errorf("port without carrier: %+v (want cost 100: speed unknown)", got)
	}
	for _, bad := range []kernel.BridgePort{{Cost: 65536, Priority: -1}, {Priority: 64}, {Cost: -1, Priority: -1}} {
		_, err := k.SetBridgePort(ctx, "eth2", bad)
		wantErr(t, "port settings out of range", err, unix.ERANGE)
	}
	undoCost := do(k.SetBridgePort(ctx, "eth2", kernel.BridgePort{Cost: 7, Priority: -1}))
	undoPrio := do(k.SetBridgePort(ctx, "eth2", kernel.BridgePort{Priority: 3}))
	do(k.SetUp(ctx, "eth2", true)) // carrier: an admin cost stays
	if got := *getLink(t, k, "eth2").BridgePort; got != (kernel.BridgePort{Cost: 7, Priority: 3}) {
		t.Errorf("port: %+v", got)
	}
	if err := errors.Join(undoPrio(ctx), undoCost(ctx)); err != nil {
		t.Fatal(err)
	}
	if got := *getLink(t, k, "eth2").BridgePort; got != (kernel.BridgePort{Cost: 100, Priority: 32}) {
		t.Errorf("port after undo: %+v", got)
	}
}

func TestIPv6Settings(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	if got, err := k.IPv6(ctx, "eth0"); err != nil || got != kernel.DefaultIPv6 {
		t.Fatalf("defaults: %+v %v", got, err)
	}
	_, err := k.SetIPv6(ctx, "eth0", kernel.IPv6Config{AcceptRA: 3})
	wantErr(t, "accept_ra 3", err, unix.EINVAL)
	undo := do(k.SetIPv6(ctx, "eth0", kernel.IPv6Config{AcceptRA: 2}))
	if got, _ := k.IPv6(ctx, "eth0"); got != (kernel.IPv6Config{AcceptRA: 2}) {
		t.Errorf("after set: %+v", got)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.IPv6(ctx, "eth0"); got != kernel.DefaultIPv6 {
		t.Errorf("after undo: %+v", got)
	}
	// Below 1280 bytes a link has no IPv6; back above, the defaults.
	do(k.SetIPv6(ctx, "eth1", kernel.IPv6Config{}))
	do(k.SetUp(ctx, "eth1", true))
	do(k.SetMTU(ctx, "eth1", 1000))
	_, err = k.IPv6(ctx, "eth1")
	wantErr(t, "MTU 1000", err, kernel.ErrNoIPv6)
	_, err = k.SetIPv6(ctx, "eth1", kernel.IPv6Config{})
	wantErr(t, "MTU 1000", err, kernel.ErrNoIPv6)
	addrs, _ := k.Addrs(ctx)
	if slices.ContainsFunc(addrs, func(a kernel.Addr) bool { return a.Link == "eth1" && a.Prefix.Addr().Is6() }) {
		t.Errorf("IPv6 addresses on a link with MTU 1000: %v", addrs)
	}
	do(k.SetMTU(ctx, "eth1", 1500))
	if got, err := k.IPv6(ctx, "eth1"); err != nil || got != kernel.DefaultIPv6 {
		t.Errorf("back at 1500: %+v %v", got, err)
	}
	addrs, _ = k.Addrs(ctx)
	if !slices.ContainsFunc(addrs, func(a kernel.Addr) bool { return a.Link == "eth1" && kernel.IsLinkLocal(a.Prefix) }) {
		t.Errorf("no link-local address back at 1500: %v", addrs)
	}

	k = newMachine(t, `{"nics": [{"name": "eth0", "mac": "52:54:00:00:00:02"}], "no_ipv6": true, "up": ["eth0"]}`)
	_, err = k.IPv6(ctx, "eth0")
	wantErr(t, "no IPv6 in the kernel", err, kernel.ErrNoIPv6)
	_, err = k.AddAddr(ctx, kernel.Addr{Link: "eth0", Prefix: netip.MustParsePrefix("2001:db8::1/64")})
	wantErr(t, "IPv6 address without IPv6", err, kernel.ErrNoIPv6)
	if addrs, _ := k.Addrs(ctx); len(addrs) != 0 {
		t.Errorf("addresses without IPv6: %v", addrs)
	}
}

func TestLRO(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	if on, err := k.LRO(ctx, "eth2"); err != nil || !on {
		t.Fatalf("eth2: %t %v", on, err)
	}
	if on, err := k.LRO(ctx, "eth0"); err != nil || on {
		t.Fatalf("eth0 without LRO: %t %v", on, err)
	}
	do(k.SetLRO(ctx, "eth0", false))
	if tr := k.Transcript(); len(tr) != 0 {
		t.Errorf("turning off what is off wrote %q", tr)
	}
	_, err := k.SetLRO(ctx, "eth0", true)
	wantErr(t, "LRO on without it", err, unix.EOPNOTSUPP)
	undo := do(k.SetLRO(ctx, "eth2", false))
	if on, _ := k.LRO(ctx, "eth2"); on {
		t.Error("still on")
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if on, _ := k.LRO(ctx, "eth2"); !on {
		t.Error("undo left it off")
	}
	// A bridge turns it off on its ports, and keeps it off.
	do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1}))
	do(k.SetMaster(ctx, "eth2", "br0"))
	if on, _ := k.LRO(ctx, "eth2"); on {
		t.Error("on in a bridge")
	}
	if _, err := k.SetLRO(ctx, "eth2", true); err == nil {
		t.Error("turned on in a bridge")
	}

	// Below a bond or a VLAN that joins a bridge too.
	for _, below := range []struct{ upper, port string }{{"bond0", "bond0"}, {"eth3.7", "eth3.7"}} {
		k := newMachine(t, `{"nics": [{"name": "eth2", "mac": "52:54:00:00:00:03", "lro": true},
		    {"name": "eth3", "mac": "52:54:00:00:00:04", "lro": true}]}`)
		do := undoer(t)
		do(k.CreateBond(ctx, kernel.BondConfig{Name: "bond0", Mode: "active-backup"}))
		do(k.SetMaster(ctx, "eth2", "bond0"))
		do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth3.7", Parent: "eth3", ID: 7}))
		do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1}))
		nic := map[string]string{"bond0": "eth2", "eth3.7": "eth3"}[below.port]
		other := map[string]string{"bond0": "eth3", "eth3.7": "eth2"}[below.port]
		do(k.SetMaster(ctx, below.port, "br0"))
		if on, _ := k.LRO(ctx, nic); on {
			t.Errorf("%s: LRO on below a bridge", nic)
		}
		if on, _ := k.LRO(ctx, other); !on {
			t.Errorf("%s: LRO off, not below the bridge", other)
		}
		if _, err := k.SetLRO(ctx, nic, true); err == nil {
			t.Errorf("%s: turned on below a bridge", nic)
		}
	}
}

func TestRename(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1}))
	do(k.SetMaster(ctx, "eth0", "br0"))
	do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "vl7", Parent: "eth0", ID: 7}))
	do(k.AddAddr(ctx, kernel.Addr{Link: "eth0", Prefix: netip.MustParsePrefix("192.0.2.9/24")}))
	do(k.SetUp(ctx, "eth0", true))
	_, err := k.Rename(ctx, "eth0", "lan0")
	wantErr(t, "up", err, unix.EBUSY)
	do(k.SetUp(ctx, "eth0", false))
	_, err = k.Rename(ctx, "eth0", "eth1")
	wantErr(t, "taken", err, unix.EEXIST)
	_, err = k.Rename(ctx, "eth0", "a-name-too-long-for-it")
	wantErr(t, "too long", err, unix.EINVAL)
	_, err = k.Rename(ctx, "eth9", "lan9")
	wantErr(t, "missing", err, kernel.ErrNotFound)

	undo := do(k.Rename(ctx, "eth0", "lan0"))
	if l := getLink(t, k, "lan0"); l.Master != "br0" || l.Index != 2 {
		t.Errorf("renamed: %+v", l)
	}
	if v := getLink(t, k, "vl7"); v.VLAN.Parent != "lan0" {
		t.Errorf("VLAN parent %q", v.VLAN.Parent)
	}
	addrs, _ := k.Addrs(ctx)
	if !slices.ContainsFunc(addrs, func(a kernel.Addr) bool { return a.Link == "lan0" }) {
		t.Errorf("address did not follow: %v", addrs)
	}
	inv, _ := k.Inventory(ctx)
	if !slices.ContainsFunc(inv.Interfaces, func(n inventory.NIC) bool { return n.Name == "lan0" }) {
		t.Errorf("inventory: %+v", inv.Interfaces)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if v := getLink(t, k, "vl7"); v.VLAN.Parent != "eth0" {
		t.Errorf("VLAN parent after undo %q", v.VLAN.Parent)
	}
}

// DHCP: a VLAN on a bond reaches the server of its id on the segment, and
// none for an id the segment does not serve; a bridge gets the lease of its
// ports' segment.
func TestDHCPOnVLANsAndBridges(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, machine)
	do(k.CreateBond(ctx, kernel.BondConfig{Name: "bond0", Mode: "active-backup"}))
	do(k.SetMaster(ctx, "eth0", "bond0"))
	do(k.SetMaster(ctx, "eth1", "bond0"))
	do(k.SetUp(ctx, "bond0", true))
	for _, id := range []int{100, 200, 300} {
		name := "bond0." + []string{"100", "200", "300"}[id/100-1]
		do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: name, Parent: "bond0", ID: id}))
		do(k.SetUp(ctx, name, true))
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 1, 1}
	l, err := k.DHCP(ctx, "bond0.100", mac)
	if err != nil || !netip.MustParsePrefix("198.51.100.0/24").Contains(l.Addr.Addr()) {
		t.Errorf("VLAN 100: %+v %v", l, err)
	}
	for _, n := range []string{"bond0.200", "bond0.300"} {
		if _, err := k.DHCP(ctx, n, mac); !errors.Is(err, ErrNoServer) {
			t.Errorf("%s: %v, want no server", n, err)
		}
	}
	do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1}))
	do(k.SetMaster(ctx, "eth2", "br0"))
	do(k.SetUp(ctx, "br0", true))
	if _, err := k.DHCP(ctx, "br0", mac); !errors.Is(err, ErrNoServer) {
		t.Errorf("bridge whose port has no carrier: %v", err)
	}
	do(k.SetUp(ctx, "eth2", true))
	l, err = k.DHCP(ctx, "br0", net.HardwareAddr{2, 0, 0, 0, 1, 2})
	if err != nil || !netip.MustParsePrefix("192.0.2.0/24").Contains(l.Addr.Addr()) {
		t.Errorf("bridge: %+v %v", l, err)
	}
}

// The transcript says what was done in ip(8)'s (and sysctl's, ethtool's)
// words; a Machine's bridges and VLANs are made by the same operations,
// which the transcript of the run after does not show.
func TestTranscriptAndMachine(t *testing.T) {
	ctx := context.Background()
	do := undoer(t)
	k := newMachine(t, `{"nics": [
	    {"name": "eth0", "mac": "52:54:00:00:00:02", "lro": true},
	    {"name": "eth1", "mac": "52:54:00:00:00:01", "lro": true}],
	  "bridges": [{"name": "br0", "stp": true, "ports": ["eth0.7"]}],
	  "vlans": [{"name": "eth0.7", "link": "eth0", "id": 7}],
	  "up": ["eth0", "br0"]}`)
	if tr := k.Transcript(); len(tr) != 0 {
		t.Fatalf("the machine's own set-up in the transcript: %q", tr)
	}
	if v := getLink(t, k, "eth0.7"); v.Master != "br0" || v.BridgePort == nil {
		t.Fatalf("eth0.7: %+v", v)
	}
	do(k.CreateVLAN(ctx, kernel.VLANConfig{Name: "eth1.8", Parent: "eth1", ID: 8, MTU: 1400}))
	do(k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br1", STP: true, ForwardDelay: 4 * time.Second,
		HelloTime: time.Second, MaxAge: 6 * time.Second, AgeingTime: time.Minute, Priority: 0,
		MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 9000}))
	do(k.ChangeBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1}))
	do(k.SetBridgePort(ctx, "eth0.7", kernel.BridgePort{Cost: 10, Priority: 5}))
	do(k.SetIPv6(ctx, "eth1.8", kernel.IPv6Config{AcceptRA: 2, Autoconf: true}))
	do(k.SetLRO(ctx, "eth0", false)) // off already: the bridge of eth0.7 turned it off
	do(k.SetLRO(ctx, "eth1", false))
	do(k.Rename(ctx, "eth1.8", "mgmt"))
	want := []string{
		"link add link eth1 name eth1.8 type vlan id 8 mtu 1400",
		"link add br1 type bridge stp_state 1 forward_delay 400 hello_time 100 max_age 600 ageing_time 6000 priority 0 address 02:00:00:00:00:01 mtu 9000",
		"link set br0 type bridge stp_state 0",
		"link set eth0.7 type bridge_slave cost 10 priority 5",
		"sysctl -w net/ipv6/conf/eth1.8/accept_ra=2 net/ipv6/conf/eth1.8/autoconf=1",
		"ethtool -K eth1 lro off",
		"link set eth1.8 name mgmt",
	}
	if got := k.Transcript(); !slices.Equal(got, want) {
		t.Errorf("transcript:\n%q\nwant\n%q", got, want)
	}
	state := k.State()
	for _, line := range []string{
		`link br0 up=true carrier=false mtu=1500 mac=52:54:00:00:00:02 master="" bridge stp_state 0 forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 priority 32768`,
		`link eth0 up=true carrier=false mtu=1500 mac=52:54:00:00:00:02 master="" lro=false`,
		`link eth0.7 up=false carrier=false mtu=1500 mac=52:54:00:00:00:02 master="br0" vlan id=7 link=eth0 bridge_slave cost=10 priority=5`,
		`link mgmt up=false carrier=false mtu=1400 mac=52:54:00:00:00:01 master="" vlan id=8 link=eth1 accept_ra=2 autoconf=true`,
	} {
		if !slices.Contains(state, line) {
			t.Errorf("state lacks %s:\n%q", line, state)
		}
	}
}
