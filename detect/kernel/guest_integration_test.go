package kernel

import (
	"context"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// GuestEnv is set by test/e2e's TestKernelInVM, which runs this package's
// namespace tests in a guest on Debian's kernel: it has the bonding and
// 802.1Q drivers this host's kernel lacks.
const guestEnv = "BONDSTRAP_KERNEL_GUEST"

// The stack on a bond, on a kernel with bonding and 802.1Q: a VLAN on a
// bond (its id, parent, MTU and the bond's MAC read back, ip(8) agreeing;
// not above the bond's MTU), a bridge with the VLAN as its port, a bond
// port's IPv6 settings (the kernel keeps them for a port), a renamed VLAN,
// every undo.
func TestGuestStackOnBond(t *testing.T) {
	if os.Getenv(guestEnv) == "" {
		t.Skip("needs the bonding and 802.1Q drivers: runs in the VM (test/e2e TestKernelInVM)")
	}
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		var journal []Undo
		do := func(u Undo, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			journal = append(journal, u)
		}
		do(k.CreateBond(ctx, BondConfig{Name: "bond0", Mode: "active-backup"}))
		do(k.SetMaster(ctx, "v0", "bond0"))
		do(k.SetUp(ctx, "bond0", true))
		do(k.SetUp(ctx, "v1", true))

		if got := must[IPv6Config](t)(k.IPv6(ctx, "v0")); got != DefaultIPv6 {
			t.Errorf("IPv6 settings of a bond port: %+v", got)
		}
		do(k.SetIPv6(ctx, "v0", IPv6Config{AcceptRA: 0}))
		if got := must[IPv6Config](t)(k.IPv6(ctx, "v0")); got != (IPv6Config{}) {
			t.Errorf("IPv6 settings of a bond port, set: %+v", got)
		}

		do(k.CreateVLAN(ctx, VLANConfig{Name: "bond0.100", Parent: "bond0", ID: 100, MTU: 1400}))
		bond := must[Link](t)(k.Link(ctx, "bond0"))
		v := must[Link](t)(k.Link(ctx, "bond0.100"))
		if v.Kind != "vlan" || v.VLAN == nil || *v.VLAN != (VLAN{ID: 100, Parent: "bond0"}) || v.MTU != 1400 ||
			v.MAC.String() != bond.MAC.String() {
			t.Errorf("VLAN: %+v %+v (bond MAC %s)", v, v.VLAN, bond.MAC)
		}
		ip := ipShow(t, "bond0.100").LinkInfo
		if ip.Kind != "vlan" || ipNum(t, ip.Data, "id") != 100 {
			t.Errorf("ip says %s %v", ip.Kind, ip.Data)
		}
		if _, err := k.SetMTU(ctx, "bond0.100", bond.MTU+1); !errors.Is(err, unix.ERANGE) {
			t.Errorf("VLAN MTU above the bond's: %v", err)
		}
		if _, err := k.CreateVLAN(ctx, VLANConfig{Name: "vl100", Parent: "bond0", ID: 100}); !errors.Is(err, unix.EEXIST) {
			t.Errorf("a second VLAN 100 on bond0: %v", err)
		}
		if got := must[IPv6Config](t)(k.IPv6(ctx, "bond0.100")); got != DefaultIPv6 {
			t.Errorf("IPv6 settings of the VLAN: %+v", got)
		}

		do(k.CreateBridge(ctx, BridgeConfig{Name: "br0", Priority: -1}))
		do(k.SetUp(ctx, "bond0.100", true))
		do(k.SetMaster(ctx, "bond0.100", "br0"))
		if p := must[Link](t)(k.Link(ctx, "bond0.100")); p.Master != "br0" || p.BridgePort == nil || !p.Up {
			t.Errorf("VLAN as a bridge port: %+v %+v", p, p.BridgePort)
		}
		do(k.SetMaster(ctx, "bond0.100", ""))
		do(k.SetUp(ctx, "bond0.100", false))
		do(k.Rename(ctx, "bond0.100", "mgmt"))
		if v := must[Link](t)(k.Link(ctx, "mgmt")); v.VLAN == nil || v.VLAN.Parent != "bond0" {
			t.Errorf("renamed VLAN: %+v", v.VLAN)
		}

		for i := len(journal) - 1; i >= 0; i-- {
			if err := journal[i](ctx); err != nil {
				t.Fatalf("undo %d: %v", i, err)
			}
		}
		for _, n := range []string{"bond0", "bond0.100", "mgmt", "br0"} {
			if _, err := k.Link(ctx, n); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s after the undos: %v", n, err)
			}
		}
		if got := must[IPv6Config](t)(k.IPv6(ctx, "v0")); got != DefaultIPv6 {
			t.Errorf("v0's IPv6 settings after the undos: %+v", got)
		}
	})
}
