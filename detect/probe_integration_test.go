//go:build linux

package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"

	"github.com/mdlayher/ethtool"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNamespace runs f on a thread locked into a new, empty network namespace,
// and puts the thread back before unlocking it. Probe opens its sockets on
// the calling goroutine, so f probes the new namespace.
func inNamespace(tb testing.TB, f func()) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		tb.Fatal(err)
	}
	defer ns.Close()
	// Runs before UnlockOSThread, also when f calls t.Fatal.
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("cannot restore network namespace: %v", err))
		}
	}()
	f()
}

type vethSpec struct {
	name, peer      string
	mac, peerMAC    string
	mtu             int
	index           int // 0: kernel's choice
	up, peerUp      bool
	wantSpeed       int
	wantDuplex      string
	wantCarrier     bool
	wantPeerCarrier bool
}

func addVeth(tb testing.TB, v vethSpec) {
	tb.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.Index = v.name, v.mtu, v.index
	attrs.HardwareAddr = mustMAC(tb, v.mac)
	veth := netlink.NewVeth(attrs)
	veth.PeerName, veth.PeerHardwareAddr = v.peer, mustMAC(tb, v.peerMAC)
	if err := netlink.LinkAdd(veth); err != nil {
		tb.Fatalf("add veth %s: %v", v.name, err)
	}
	for name, up := range map[string]bool{v.name: v.up, v.peer: v.peerUp} {
		if !up {
			continue
		}
		l, err := netlink.LinkByName(name)
		if err != nil {
			tb.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			tb.Fatalf("set %s up: %v", name, err)
		}
	}
}

func mustMAC(tb testing.TB, s string) net.HardwareAddr {
	hw, err := net.ParseMAC(s)
	if err != nil {
		tb.Fatal(err)
	}
	return hw
}

// hostBusNIC returns the name and ifindex of an interface that the host's
// /sys/class/net shows with a bus device, to name a veth like it.
func hostBusNIC() (name string, ifindex int, ok bool) {
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return "", 0, false
	}
	for _, e := range entries {
		if _, err := os.Stat("/sys/class/net/" + e.Name() + "/device"); err != nil {
			continue
		}
		b, err := os.ReadFile("/sys/class/net/" + e.Name() + "/ifindex")
		if err != nil {
			continue
		}
		if idx, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && len(e.Name()) <= 13 {
			return e.Name(), idx, true
		}
	}
	return "", 0, false
}

func TestProbeNamespace(t *testing.T) {
	// sysfs is the host's: /sys/class/net does not show the namespace's
	// veths. A veth named like a host inventory.NIC with a bus device, with the same
	// ifindex, must not borrow that NIC's PCI identity.
	twin, twinIndex, haveTwin := hostBusNIC()
	if !haveTwin {
		twin, twinIndex = "vt0", 0
	}
	specs := []vethSpec{
		{name: "va0", peer: "vb0", mac: "02:00:00:00:0a:00", peerMAC: "02:00:00:00:0b:00", mtu: 1500,
			up: true, peerUp: true, wantSpeed: 10000, wantDuplex: "full", wantCarrier: true, wantPeerCarrier: true},
		// One end up, the other down: no carrier on either, so no speed.
		{name: "va1", peer: "vb1", mac: "02:00:00:00:0a:01", peerMAC: "02:00:00:00:0b:01", mtu: 9000,
			up: true, wantDuplex: "unknown"},
		{name: twin, peer: "vt1", mac: "02:00:00:00:0a:02", peerMAC: "02:00:00:00:0b:02", mtu: 4000,
			index: twinIndex, wantDuplex: "unknown"},
	}

	inNamespace(t, func() {
		// The twin first, before other links take its ifindex.
		for i := range specs {
			addVeth(t, specs[len(specs)-1-i])
		}
		// Links that are never NICs, even with IncludeVirtual.
		dummy := netlink.NewLinkAttrs()
		dummy.Name = "dummy0"
		if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: dummy}); err != nil {
			t.Logf("no dummy link (%v); loopback alone tests the filter", err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		inv, err := Probe(ctx, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Interfaces) != 0 {
			t.Errorf("physical NICs in a namespace of veths: %+v", inv.Interfaces)
		}

		inv, err = Probe(ctx, Options{IncludeVirtual: true})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range inv.Interfaces {
			names = append(names, n.Name)
		}
		want := []string{"va0", "va1", "vb0", "vb1", twin, "vt1"}
		if twin < "va0" {
			want = []string{twin, "va0", "va1", "vb0", "vb1", "vt1"}
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("names = %q, want %q (sorted, no lo/dummy)", names, want)
		}

		for _, v := range specs {
			n, _ := inv.Lookup(v.name)
			p, _ := inv.Lookup(v.peer)
			checkVeth(t, n, v.mac, v.mtu, v.up, v.wantCarrier, v.wantSpeed, v.wantDuplex)
			checkVeth(t, p, v.peerMAC, v.mtu, v.peerUp, v.wantPeerCarrier, v.wantSpeed, v.wantDuplex)
			if v.index != 0 && n.Ifindex != v.index {
				t.Errorf("%s: ifindex %d, want %d (the collision this case is for)", n.Name, n.Ifindex, v.index)
			}
		}

		// What detect -o json prints, --inventory reads back unchanged.
		data, err := json.Marshal(inv)
		if err != nil {
			t.Fatal(err)
		}
		back, err := inventory.Parse("detect.json", data)
		if err != nil {
			t.Fatalf("a probed inventory does not parse back: %v\n%s", err, data)
		}
		if !reflect.DeepEqual(back, inv) {
			t.Errorf("inventory changed through JSON:\nprobed %+v\nparsed %+v", inv, back)
		}
	})
}

func checkVeth(t *testing.T, n inventory.NIC, mac string, mtu int, up, carrier bool, speed int, duplex string) {
	t.Helper()
	if n.MAC != mac || n.PermanentMAC != "" || n.HardwareMAC() != mac {
		t.Errorf("%s: mac %q permanent %q, want %q and none (veth has no permanent address)", n.Name, n.MAC, n.PermanentMAC, mac)
	}
	if n.Driver != "veth" {
		t.Errorf("%s: driver %q, want veth", n.Name, n.Driver)
	}
	if n.PCIID() != "" || n.PCIAddress != "" {
		t.Errorf("%s: PCI %q %q, want none", n.Name, n.PCIAddress, n.PCIID())
	}
	if n.MTU != mtu {
		t.Errorf("%s: mtu %d, want %d", n.Name, n.MTU, mtu)
	}
	if n.AdminUp != up || n.Carrier != carrier {
		t.Errorf("%s: admin up %v carrier %v, want %v %v", n.Name, n.AdminUp, n.Carrier, up, carrier)
	}
	if n.SpeedMbps != speed || n.Duplex != duplex {
		t.Errorf("%s: speed %d duplex %q, want %d %q", n.Name, n.SpeedMbps, n.Duplex, speed, duplex)
	}
	if n.Ifindex <= 0 {
		t.Errorf("%s: ifindex %d", n.Name, n.Ifindex)
	}
	if !up && n.OperState != "down" {
		t.Errorf("%s: operstate %q, want down", n.Name, n.OperState)
	}
}

func TestProbeCancelled(t *testing.T) {
	inNamespace(t, func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Probe(ctx, Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("Probe with a cancelled context: %v, want context.Canceled", err)
		}
	})
}

func TestBondsNamespaceWithoutBonds(t *testing.T) {
	inNamespace(t, func() {
		addVeth(t, vethSpec{name: "va0", peer: "vb0", mac: "02:00:00:00:0a:00", peerMAC: "02:00:00:00:0b:00",
			mtu: 1500, up: true, peerUp: true})
		bonds, err := Bonds(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if bonds == nil || len(bonds) != 0 {
			t.Errorf("Bonds = %#v, want an empty, non-nil list", bonds)
		}
	})
}

// BenchmarkProbe probes a namespace of 32 veth pairs (64 NICs, half of them
// with carrier): one rtnetlink dump and two ethtool dumps whatever the
// number of NICs, plus one ioctl per inventory.NIC.
func BenchmarkProbe(b *testing.B) {
	inNamespace(b, func() {
		for i := range 32 {
			addVeth(b, vethSpec{
				name: fmt.Sprintf("va%d", i), peer: fmt.Sprintf("vb%d", i),
				mac: fmt.Sprintf("02:00:00:00:0a:%02x", i), peerMAC: fmt.Sprintf("02:00:00:00:0b:%02x", i),
				mtu: 1500, up: true, peerUp: i%2 == 0,
			})
		}
		ctx := context.Background()
		inv, err := Probe(ctx, Options{IncludeVirtual: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Interfaces) != 64 {
			b.Fatalf("got %d NICs, want 64", len(inv.Interfaces))
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := Probe(ctx, Options{IncludeVirtual: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLinkModes compares the one ethtool dump Probe makes with asking
// for each of 64 NICs in turn, the round-trip economy Probe is built on.
func BenchmarkLinkModes(b *testing.B) {
	inNamespace(b, func() {
		var ifis []ethtool.Interface
		for i := range 32 {
			addVeth(b, vethSpec{
				name: fmt.Sprintf("va%d", i), peer: fmt.Sprintf("vb%d", i),
				mac: fmt.Sprintf("02:00:00:00:0a:%02x", i), peerMAC: fmt.Sprintf("02:00:00:00:0b:%02x", i),
				mtu: 1500, up: true, peerUp: true,
			})
			ifis = append(ifis, ethtool.Interface{Name: fmt.Sprintf("va%d", i)}, ethtool.Interface{Name: fmt.Sprintf("vb%d", i)})
		}
		c, err := ethtool.New()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.Run("dump", func(b *testing.B) {
			for b.Loop() {
				if ms, err := c.LinkModes(); err != nil || len(ms) != 64 {
					b.Fatalf("%d modes, %v", len(ms), err)
				}
			}
		})
		b.Run("per-nic", func(b *testing.B) {
			for b.Loop() {
				for _, ifi := range ifis {
					if _, err := c.LinkMode(ifi); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	})
}

// inNamespaceWithSysfs runs f on a thread locked into a new network
// namespace and a new mount namespace with a fresh sysfs on /sys, as `ip
// netns exec` does: /sys/class/net then shows the namespace's links, so
// Probe reads sysfs for each of them as it does for NICs on a host. The
// thread is never unlocked: when the calling goroutine ends (a benchmark
// function returns, or calls b.Fatal), Go terminates the thread with the
// namespaces it cannot leave. Threads the runtime starts meanwhile come
// from its template thread, not from this one, so they keep the host's
// mounts.
func inNamespaceWithSysfs(tb testing.TB, f func()) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network and mount namespaces")
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWNS); err != nil {
		tb.Fatalf("unshare network and mount namespaces: %v", err)
	}
	// Keep the new mounts out of the host's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		tb.Fatalf("make mounts private: %v", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
		tb.Fatalf("mount sysfs of the new network namespace: %v", err)
	}
	f()
}

// addVethPairs adds pairs veth pairs (va0/vb0 ...) to the calling thread's
// network namespace, both ends up, so both have carrier. One request per
// pair and one per peer to set it up, by ifindex: no lookups by name.
func addVethPairs(tb testing.TB, pairs int) {
	tb.Helper()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	for i := range pairs {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.Flags = fmt.Sprintf("va%d", i), 1500, net.FlagUp
		attrs.HardwareAddr = net.HardwareAddr{0x02, 0, 0, 0x0a, byte(i >> 8), byte(i)}
		veth := netlink.NewVeth(attrs)
		veth.PeerName = fmt.Sprintf("vb%d", i)
		veth.PeerHardwareAddr = net.HardwareAddr{0x02, 0, 0, 0x0b, byte(i >> 8), byte(i)}
		if err := h.LinkAdd(veth); err != nil {
			tb.Fatalf("add veth %s: %v", attrs.Name, err)
		}
	}
	links, err := h.LinkList()
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range links {
		if l.Type() == "veth" && l.Attrs().Flags&net.FlagUp == 0 {
			if err := h.LinkSetUp(l); err != nil {
				tb.Fatalf("set %s up: %v", l.Attrs().Name, err)
			}
		}
	}
}

// BenchmarkProbeScale probes namespaces of 16 to 1,024 veths, all with
// carrier, to show that Probe's cost grows linearly with the number of NICs
// (ns/NIC stays flat). Each size runs in its own network namespace with
// its own sysfs mounted (inNamespaceWithSysfs), as `ip netns exec` and a
// boot give it, so that what Probe finds in sysfs is the namespace's own
// links and not a miss in the host's /sys. A veth has no bus device: on
// Linux 5.14 and later rtnetlink says so and Probe does not read sysfs for
// it at all; before, it reads two attributes and one missing link per
// veth. A PCI NIC costs that plus two readlinks and two reads of its
// vendor and device IDs, which this benchmark cannot show.
func BenchmarkProbeScale(b *testing.B) {
	for _, nics := range []int{16, 64, 256, 1024} {
		b.Run(fmt.Sprintf("nics=%d", nics), func(b *testing.B) {
			inNamespaceWithSysfs(b, func() {
				addVethPairs(b, nics/2)
				ctx := context.Background()
				inv, err := Probe(ctx, Options{IncludeVirtual: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(inv.Interfaces) != nics {
					b.Fatalf("got %d NICs, want %d", len(inv.Interfaces), nics)
				}
				// sysfs must show this namespace's veths (the honesty of
				// the benchmark): the twin check matched, nothing failed.
				if _, err := (sysfs{root: "/sys"}).netDevice(inv.Interfaces[0].Name, inv.Interfaces[0].Ifindex, inv.Interfaces[0].MAC); err != nil {
					b.Fatalf("sysfs does not show the namespace's veths: %v", err)
				}
				for _, n := range inv.Interfaces {
					if !n.Carrier || n.SpeedMbps == 0 || n.Driver != "veth" {
						b.Fatalf("%s: carrier %v speed %d driver %q, want carrier, a speed, veth", n.Name, n.Carrier, n.SpeedMbps, n.Driver)
					}
				}
				for b.Loop() {
					if _, err := Probe(ctx, Options{IncludeVirtual: true}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nics), "ns/NIC")
			})
		})
	}
}

// TestDumpLinksMatchesKernel checks Probe's own link dump (no statistics,
// only what Probe uses) against kernel.Links, which the rest of bondstrap
// uses, over a namespace of several kinds of links: veths, one enslaved to
// a bridge, a macvlan, an ifb and a tap.
func TestDumpLinksMatchesKernel(t *testing.T) {
	inNamespace(t, func() {
		addVeth(t, vethSpec{name: "va0", peer: "vb0", mac: "02:00:00:00:0a:00", peerMAC: "02:00:00:00:0b:00",
			mtu: 9000, up: true, peerUp: true})
		addVeth(t, vethSpec{name: "va1", peer: "vb1", mac: "02:00:00:00:0a:01", peerMAC: "02:00:00:00:0b:01",
			mtu: 1500, up: true})
		optional := func(what string, err error) {
			if err != nil {
				t.Logf("no %s in this kernel: %v", what, err)
			}
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
		if err := netlink.LinkAdd(br); err != nil {
			optional("bridge", err)
		} else if va1, err := netlink.LinkByName("va1"); err != nil {
			t.Fatal(err)
		} else if err := netlink.LinkSetMaster(va1, br); err != nil {
			t.Fatal(err)
		}
		if vb0, err := netlink.LinkByName("vb0"); err != nil {
			t.Fatal(err)
		} else {
			optional("macvlan", netlink.LinkAdd(&netlink.Macvlan{
				LinkAttrs: netlink.LinkAttrs{Name: "mv0", ParentIndex: vb0.Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}))
		}
		optional("ifb", netlink.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: "ifb0"}}))
		optional("tap", netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tap0"},
			Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_DEFAULTS}))

		ctx := context.Background()
		k, err := kernel.Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		want, err := k.Links(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dumpLinks(ctx, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("dumpLinks: %d links, kernel.Links: %d", len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			portMAC := ""
			if w.Port != nil {
				portMAC = w.Port.PermMAC.String()
			}
			// Probe asks only whether Kind is empty or "veth";
			// kernel.Links names some kinds its own way ("tuntap").
			if g.Index != w.Index || g.Name != w.Name || (g.Kind == "") != (w.Kind == "") ||
				(g.Kind == "veth") != (w.Kind == "veth") || (g.ARPType == unix.ARPHRD_ETHER) != (w.EncapType == "ether") ||
				g.MAC != w.MAC.String() || g.PermMAC != w.PermMAC.String() || g.PortPermMAC != portMAC ||
				g.MTU != w.MTU || g.Up != w.Up || g.Carrier != w.Carrier || g.OperState != w.OperState ||
				g.Master != w.Master || g.ParentBus != w.ParentBus || g.ParentDev != w.ParentDev {
				t.Errorf("link %d:\ndumpLinks    %+v\nkernel.Links %+v", i, g, w)
			}
		}
	})
}

func TestParseNICLinksMalformed(t *testing.T) {
	msg := make([]byte, unix.SizeofIfInfomsg)
	// An attribute that claims more bytes than the message has.
	msg = append(msg, 0x40, 0x00, unix.IFLA_IFNAME, 0x00, 'e', 't', 'h', '0')
	if _, err := parseNICLinks([][]byte{msg}); err == nil {
		t.Error("an attribute longer than its message parsed")
	}
	if _, err := parseNICLinks([][]byte{{1, 2, 3}}); err == nil {
		t.Error("a message shorter than ifinfomsg parsed")
	}
}

func TestReleaseAtLeast(t *testing.T) {
	for release, want := range map[string]bool{
		"5.14.0-427.el9.x86_64": true,
		"5.13.19":               false,
		"5.15":                  true,
		"6.1.0-28-amd64":        true,
		"4.19.0-27-amd64":       false,
		"6":                     false,
		"x.y":                   false,
		"5.14rc2":               true,
		"":                      false,
	} {
		if got := releaseAtLeast(release, 5, 14); got != want {
			t.Errorf("releaseAtLeast(%q, 5, 14) = %v, want %v", release, got, want)
		}
	}
}
