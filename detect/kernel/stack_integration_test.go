package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ipLink is what `ip -d -j link show dev NAME` says of a link, run on the
// test's thread (so in its namespace): iproute2 as an independent reader of
// what the kernel holds.
type ipLink struct {
	Name     string `json:"ifname"`
	LinkInfo struct {
		Kind      string         `json:"info_kind"`
		Data      map[string]any `json:"info_data"`
		SlaveKind string         `json:"info_slave_kind"`
		SlaveData map[string]any `json:"info_slave_data"`
	} `json:"linkinfo"`
}

func ipShow(t *testing.T, name string) ipLink {
	t.Helper()
	out, err := exec.Command("ip", "-d", "-j", "link", "show", "dev", name).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", name, err)
	}
	var ls []ipLink
	if err := json.Unmarshal(out, &ls); err != nil || len(ls) != 1 {
		t.Fatalf("ip link show %s: %v: %s", name, err, out)
	}
	return ls[0]
}

// ipNum reads a number ip printed.
func ipNum(t *testing.T, m map[string]any, key string) int {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("ip printed no %s: %v", key, m)
	}
	return int(f)
}

// A bridge made with every setting in one request reads back as made,
// both through Link and through ip(8); changed, it reads back changed,
// including STP going off with a forward delay STP would refuse (two
// requests); the undos put it back and delete it.
func TestBridgeCreateChangeUndo(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		c := BridgeConfig{Name: "br0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x42}, MTU: 1400, STP: true,
			ForwardDelay: 4 * time.Second, HelloTime: time.Second, MaxAge: 6 * time.Second, AgeingTime: time.Minute,
			Priority: 4096}
		undoCreate := must[Undo](t)(k.CreateBridge(ctx, c))
		l := must[Link](t)(k.Link(ctx, "br0"))
		want := c
		want.Name, want.MAC, want.MTU = "", nil, 0
		if l.Kind != "bridge" || l.Bridge == nil || !reflect.DeepEqual(*l.Bridge, want) || l.MTU != 1400 ||
			l.MAC.String() != "02:00:00:00:00:42" || l.Up {
			t.Fatalf("made: %+v bridge %+v", l, l.Bridge)
		}
		ip := ipShow(t, "br0").LinkInfo
		for key, v := range map[string]int{"stp_state": 1, "forward_delay": 400, "hello_time": 100, "max_age": 600,
			"ageing_time": 6000, "priority": 4096} {
			if got := ipNum(t, ip.Data, key); got != v {
				t.Errorf("ip says %s %d, want %d", key, got, v)
			}
		}

		undoChange := must[Undo](t)(k.ChangeBridge(ctx, BridgeConfig{Name: "br0", ForwardDelay: time.Second, Priority: -1}))
		want.STP, want.ForwardDelay = false, time.Second
		if got := must[Link](t)(k.Link(ctx, "br0")).Bridge; !reflect.DeepEqual(*got, want) {
			t.Errorf("changed: %+v, want %+v", got, want)
		}
		if err := undoChange(ctx); err != nil {
			t.Fatal(err)
		}
		want.STP, want.ForwardDelay = true, 4*time.Second
		if got := must[Link](t)(k.Link(ctx, "br0")).Bridge; !reflect.DeepEqual(*got, want) {
			t.Errorf("after undo: %+v, want %+v", got, want)
		}
		for _, bad := range []BridgeConfig{
			{Name: "br0", STP: true, ForwardDelay: time.Second, Priority: -1},
			{Name: "br0", HelloTime: 11 * time.Second, Priority: -1},
			{Name: "br0", MaxAge: 41 * time.Second, Priority: -1},
		} {
			if _, err := k.ChangeBridge(ctx, bad); !errors.Is(err, unix.ERANGE) {
				t.Errorf("%+v: %v, want ERANGE", bad, err)
			}
		}
		if _, err := k.ChangeBridge(ctx, BridgeConfig{Name: "v0", Priority: -1}); !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("ChangeBridge on a veth: %v", err)
		}
		if _, err := k.CreateBridge(ctx, BridgeConfig{Name: "br0", Priority: -1}); !errors.Is(err, unix.EEXIST) {
			t.Errorf("a second br0: %v", err)
		}
		if err := undoCreate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Link(ctx, "br0"); !errors.Is(err, ErrNotFound) {
			t.Errorf("undo left br0: %v", err)
		}
	})
}

// The kernel's own rules, which BridgeConfig.Check and BridgePort.Check
// state, sent past them: hello time and max age are refused with STP off
// too; a forward delay out of STP's range is refused once STP is on, and
// clamped when it comes in the request that turns STP on; a port's cost
// and priority have their ranges.
func TestBridgeRangesAreTheKernels(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		must[Undo](t)(k.CreateBridge(ctx, BridgeConfig{Name: "br0", Priority: -1}))
		br := must[Link](t)(k.Link(ctx, "br0"))
		if !reflect.DeepEqual(*br.Bridge, DefaultBridge) {
			t.Errorf("a new bridge: %+v, want DefaultBridge %+v", br.Bridge, DefaultBridge)
		}
		send := func(c BridgeConfig) error { return k.setLinkInfo(ctx, br.Index, bridgeInfo(c)) }
		for _, c := range []BridgeConfig{
			{HelloTime: MinHelloTime - clockTick, Priority: -1}, {HelloTime: MaxHelloTime + clockTick, Priority: -1},
			{MaxAge: MinMaxAge - clockTick, Priority: -1}, {MaxAge: MaxMaxAge + clockTick, Priority: -1},
		} {
			if err := send(c); !errors.Is(err, unix.ERANGE) {
				t.Errorf("kernel took %+v: %v", c, err)
			}
			if err := c.Check(); !errors.Is(err, unix.ERANGE) {
				t.Errorf("Check took %+v", c)
			}
		}
		for _, c := range []BridgeConfig{
			{HelloTime: MinHelloTime, MaxAge: MinMaxAge, Priority: -1}, {HelloTime: MaxHelloTime, MaxAge: MaxMaxAge, Priority: -1},
			{ForwardDelay: 10 * time.Millisecond, Priority: -1},
		} {
			if err := send(c); err != nil {
				t.Errorf("kernel refused %+v: %v", c, err)
			}
			if err := c.Check(); err != nil {
				t.Errorf("Check refused %+v: %v", c, err)
			}
		}
		// Forward delay 10ms is in; STP on in the same request clamps it.
		if err := send(BridgeConfig{STP: true, ForwardDelay: time.Second, Priority: -1}); err != nil {
			t.Fatal(err)
		}
		if got := must[Link](t)(k.Link(ctx, "br0")).Bridge.ForwardDelay; got != MinForwardDelay {
			t.Errorf("forward delay %s after STP started with 1s, want it clamped to %s", got, MinForwardDelay)
		}
		for _, d := range []time.Duration{MinForwardDelay - clockTick, MaxForwardDelay + clockTick} {
			if err := send(BridgeConfig{STP: true, ForwardDelay: d, Priority: -1}); !errors.Is(err, unix.ERANGE) {
				t.Errorf("kernel took forward delay %s with STP on: %v", d, err)
			}
		}

		must[Undo](t)(k.SetMaster(ctx, "v0", "br0"))
		v0 := must[Link](t)(k.Link(ctx, "v0"))
		for _, p := range []BridgePort{{Cost: MaxPortCost + 1, Priority: -1}, {Priority: MaxPortPriority + 1}} {
			if err := k.setLinkInfo(ctx, v0.Index, portInfo(p)); !errors.Is(err, unix.ERANGE) {
				t.Errorf("kernel took port %+v: %v", p, err)
			}
			if err := p.Check(); !errors.Is(err, unix.ERANGE) {
				t.Errorf("Check took port %+v", p)
			}
		}
		if err := k.setLinkInfo(ctx, v0.Index, portInfo(BridgePort{Cost: MaxPortCost, Priority: MaxPortPriority})); err != nil {
			t.Errorf("kernel refused the highest cost and priority: %v", err)
		}
	})
}

// A port joins a bridge while up and stays up; its cost (from the veth's
// 10 Gb/s) and priority read back, are set, and undone; a link that is no
// bridge's port is refused.
func TestBridgePort(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		must[Undo](t)(k.CreateBridge(ctx, BridgeConfig{Name: "br0", Priority: -1}))
		must[Undo](t)(k.SetUp(ctx, "v0", true))
		undoMaster := must[Undo](t)(k.SetMaster(ctx, "v0", "br0"))
		v0 := must[Link](t)(k.Link(ctx, "v0"))
		if !v0.Up || v0.Master != "br0" || v0.Port != nil || v0.BridgePort == nil ||
			*v0.BridgePort != (BridgePort{Cost: 2, Priority: DefaultPortPriority}) {
			t.Fatalf("port: %+v %+v", v0, v0.BridgePort)
		}
		if _, err := k.SetBridgePort(ctx, "v1", BridgePort{Cost: 5, Priority: -1}); !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("v1 is no port: %v", err)
		}
		undoCost := must[Undo](t)(k.SetBridgePort(ctx, "v0", BridgePort{Cost: 10, Priority: -1}))
		undoPrio := must[Undo](t)(k.SetBridgePort(ctx, "v0", BridgePort{Priority: 5}))
		if got := *must[Link](t)(k.Link(ctx, "v0")).BridgePort; got != (BridgePort{Cost: 10, Priority: 5}) {
			t.Errorf("set: %+v", got)
		}
		ip := ipShow(t, "v0").LinkInfo
		if ip.SlaveKind != "bridge" || ipNum(t, ip.SlaveData, "cost") != 10 || ipNum(t, ip.SlaveData, "priority") != 5 {
			t.Errorf("ip says %s %v", ip.SlaveKind, ip.SlaveData)
		}
		if err := errors.Join(undoPrio(ctx), undoCost(ctx)); err != nil {
			t.Fatal(err)
		}
		if got := *must[Link](t)(k.Link(ctx, "v0")).BridgePort; got != (BridgePort{Cost: 2, Priority: DefaultPortPriority}) {
			t.Errorf("after undo: %+v", got)
		}
		if err := undoMaster(ctx); err != nil {
			t.Fatal(err)
		}
		if v0 := must[Link](t)(k.Link(ctx, "v0")); !v0.Up || v0.Master != "" || v0.BridgePort != nil {
			t.Errorf("released: %+v", v0)
		}
	})
}

// A NIC that bondstrap put into a bridge, with a cost of its own, is
// released by Restore and keeps its state; one that was a bridge's port
// gets its cost and priority back.
func TestRestoreBridgePorts(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		must[Undo](t)(k.CreateBridge(ctx, BridgeConfig{Name: "br0", Priority: -1}))
		must[Undo](t)(k.SetUp(ctx, "v0", true))
		must[Undo](t)(k.SetMaster(ctx, "v1", "br0"))
		must[Undo](t)(k.SetBridgePort(ctx, "v1", BridgePort{Cost: 7, Priority: 9}))
		snap := must[*Snapshot](t)(Take(ctx, k, time.Now(), "v0", "v1", "br0"))
		must[Undo](t)(k.SetMaster(ctx, "v0", "br0"))
		must[Undo](t)(k.SetBridgePort(ctx, "v0", BridgePort{Cost: 20, Priority: -1}))
		must[Undo](t)(k.SetBridgePort(ctx, "v1", BridgePort{Cost: 100, Priority: 1}))
		must[Undo](t)(k.ChangeBridge(ctx, BridgeConfig{Name: "br0", STP: true, Priority: 1}))
		if err := snap.Restore(ctx, k, time.Now()); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if v0 := must[Link](t)(k.Link(ctx, "v0")); !v0.Up || v0.Master != "" || v0.BridgePort != nil {
			t.Errorf("v0: up %t master %q port %+v", v0.Up, v0.Master, v0.BridgePort)
		}
		if v1 := must[Link](t)(k.Link(ctx, "v1")); v1.Master != "br0" || *v1.BridgePort != (BridgePort{Cost: 7, Priority: 9}) {
			t.Errorf("v1: master %q port %+v", v1.Master, v1.BridgePort)
		}
		if br := must[Link](t)(k.Link(ctx, "br0")); !reflect.DeepEqual(*br.Bridge, DefaultBridge) {
			t.Errorf("br0: %+v", br.Bridge)
		}
	})
}

// Rename: only a link that is down (this host's kernel would rename an up
// one: the refusal is bondstrap's), not to a name in use or a bad one; the
// index stays; the undo renames back.
func TestRename(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		v0 := must[Link](t)(k.Link(ctx, "v0"))
		must[Undo](t)(k.SetUp(ctx, "v0", true))
		if _, err := k.Rename(ctx, "v0", "lan0"); !errors.Is(err, unix.EBUSY) {
			t.Errorf("up: %v", err)
		}
		must[Undo](t)(k.SetUp(ctx, "v0", false))
		if _, err := k.Rename(ctx, "v0", "v1"); !errors.Is(err, unix.EEXIST) {
			t.Errorf("to v1: %v", err)
		}
		if _, err := k.Rename(ctx, "v0", "lan:0"); !errors.Is(err, unix.EINVAL) {
			t.Errorf("to lan:0: %v", err)
		}
		if _, err := k.Rename(ctx, "v9", "lan9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("v9: %v", err)
		}
		// The kernel's own rule: before 6.2 it refuses to rename an up link.
		must[Undo](t)(k.SetUp(ctx, "v1", true))
		hl, _ := must2(t)(k.handleLink(ctx, "v1"))
		err := k.h.LinkSetName(hl, "live1")
		if older := kernelBefore(t, 6, 2); older && !errors.Is(err, unix.EBUSY) || !older && err != nil {
			t.Errorf("the kernel renaming up v1 (before 6.2: %t): %v", older, err)
		} else if err == nil {
			must[Undo](t)(k.SetUp(ctx, "live1", false))
			must[Undo](t)(k.Rename(ctx, "live1", "v1"))
		}
		undo := must[Undo](t)(k.Rename(ctx, "v0", "lan0"))
		if l := must[Link](t)(k.Link(ctx, "lan0")); l.Index != v0.Index {
			t.Errorf("lan0 is index %d, v0 was %d", l.Index, v0.Index)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		if l := must[Link](t)(k.Link(ctx, "v0")); l.Index != v0.Index {
			t.Errorf("v0 is index %d after undo, was %d", l.Index, v0.Index)
		}
	})
}

// No device of this host has LRO (veth, bridge: the kernel refuses to turn
// it on, seen with the ioctl): what is proven here is the read, through a
// socket of the test's namespace, the no-op of turning off what is off,
// and the refusal. Turning it on and off for real needs a NIC whose driver
// has it.
func TestLRO(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		// The ioctl reads the real flags: a veth has VLAN offloads on.
		const rxvlan, txvlan = 1 << 8, 1 << 7
		flags, err := k.ethtoolFlags("v0", unix.ETHTOOL_GFLAGS, 0)
		if err != nil || flags&(rxvlan|txvlan) != rxvlan|txvlan {
			t.Fatalf("GFLAGS of v0: %#x %v", flags, err)
		}
		if on, err := k.LRO(ctx, "v0"); err != nil || on {
			t.Errorf("LRO of v0: %t %v", on, err)
		}
		undo := must[Undo](t)(k.SetLRO(ctx, "v0", false))
		if err := undo(ctx); err != nil {
			t.Errorf("undo of a no-op: %v", err)
		}
		if _, err := k.SetLRO(ctx, "v0", true); !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("LRO on on a veth: %v", err)
		}
		if got, err := k.ethtoolFlags("v0", unix.ETHTOOL_GFLAGS, 0); err != nil || got != flags {
			t.Errorf("flags changed: %#x, were %#x (%v)", got, flags, err)
		}
		if _, err := k.LRO(ctx, "v9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("v9: %v", err)
		}
	})
}

// IPv6 settings are read and written in the kernel's namespace (which the
// sysctl files of this thread show: the host has no v0); a link whose MTU
// is below 1280 has none, nor one with disable_ipv6, nor a kernel without
// IPv6 (a /proc/sys without net/ipv6 stands in for it).
func TestIPv6Settings(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		if got := must[IPv6Config](t)(k.IPv6(ctx, "v0")); got != DefaultIPv6 {
			t.Errorf("a new link: %+v, want %+v", got, DefaultIPv6)
		}
		undo := must[Undo](t)(k.SetIPv6(ctx, "v0", IPv6Config{AcceptRA: 2}))
		dir := "/proc/sys/net/ipv6/conf/v0"
		if ra, auto := sysctl(t, dir, "accept_ra"), sysctl(t, dir, "autoconf"); ra != 2 || auto != 0 {
			t.Errorf("in the namespace: accept_ra %d autoconf %d", ra, auto)
		}
		if got := must[IPv6Config](t)(k.IPv6(ctx, "v0")); got != (IPv6Config{AcceptRA: 2}) {
			t.Errorf("read back: %+v", got)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		if got := must[IPv6Config](t)(k.IPv6(ctx, "v0")); got != DefaultIPv6 {
			t.Errorf("after undo: %+v", got)
		}
		if _, err := k.SetIPv6(ctx, "v0", IPv6Config{AcceptRA: 3}); !errors.Is(err, unix.EINVAL) {
			t.Errorf("accept_ra 3: %v", err)
		}
		if _, err := k.IPv6(ctx, "v9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("v9: %v", err)
		}

		must[Undo](t)(k.SetMTU(ctx, "v1", 1000))
		if _, err := k.IPv6(ctx, "v1"); !errors.Is(err, ErrNoIPv6) {
			t.Errorf("MTU 1000: %v", err)
		}
		if _, err := k.SetIPv6(ctx, "v1", IPv6Config{}); !errors.Is(err, ErrNoIPv6) {
			t.Errorf("MTU 1000, set: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "disable_ipv6"), []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := k.IPv6(ctx, "v0"); !errors.Is(err, ErrNoIPv6) {
			t.Errorf("disable_ipv6: %v", err)
		}
		k.procSys = t.TempDir()
		_, err := k.IPv6(ctx, "v1")
		if !errors.Is(err, ErrNoIPv6) || !strings.Contains(err.Error(), "the kernel has none") {
			t.Errorf("no net/ipv6: %v", err)
		}
	})
}

// kernelBefore reports whether the running kernel is older than
// major.minor.
func kernelBefore(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release, err)
	}
	return ma < major || ma == major && mi < minor
}

func must2(t *testing.T) func(netlink.Link, Link, error) (netlink.Link, Link) {
	return func(hl netlink.Link, l Link, err error) (netlink.Link, Link) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return hl, l
	}
}

func sysctl(t *testing.T, dir, name string) int {
	t.Helper()
	v, err := readSysctl(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A VLAN is made when the kernel has 802.1Q (ip(8) is asked first, as an
// independent judge), and reads back with its id and parent; this host's
// kernel has none, and the error says what is missing. The errors that come
// before the kernel is asked come on any kernel.
func TestCreateVLAN(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		if _, err := k.CreateVLAN(ctx, VLANConfig{Name: "v9.5", Parent: "v9", ID: 5}); !errors.Is(err, ErrNotFound) {
			t.Errorf("no parent: %v", err)
		}
		if _, err := k.CreateVLAN(ctx, VLANConfig{Name: "v0.4095", Parent: "v0", ID: 4095}); !errors.Is(err, unix.ERANGE) {
			t.Errorf("id 4095: %v", err)
		}
		hasVLANs := exec.Command("ip", "link", "add", "link", "v1", "name", "probe", "type", "vlan", "id", "9").Run() == nil
		t.Logf("ip(8) can make a VLAN: %t", hasVLANs)
		undo, err := k.CreateVLAN(ctx, VLANConfig{Name: "v0.100", Parent: "v0", ID: 100, MTU: 1400})
		if !hasVLANs {
			if !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "8021q") {
				t.Errorf("without 802.1Q: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("with 802.1Q: %v", err)
		}
		v := must[Link](t)(k.Link(ctx, "v0.100"))
		if v.Kind != "vlan" || v.VLAN == nil || *v.VLAN != (VLAN{ID: 100, Parent: "v0"}) || v.MTU != 1400 {
			t.Errorf("VLAN: %+v %+v", v, v.VLAN)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
