package kernel

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNamespace runs f on a thread locked into a new network namespace with a
// veth pair v0/v1, and puts the thread back after. The host kernel has no
// bonding driver: bonds are proven in the VM; this proves links, addresses,
// routes, events and Restore on a real kernel.
func inNamespace(t *testing.T, f func(k *Netlink)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot return the thread to its namespace: " + err.Error())
		}
		ns.Close()
		orig.Close()
		runtime.UnlockOSThread()
	}()
	h, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "v0"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "v1"}); err != nil {
		t.Fatal(err)
	}
	k, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	f(k)
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// A NIC with an address, a default route and an IPv6 address, as after a
// PXE boot, goes down (the kernel flushes its routes and IPv6 addresses) and
// joins another master: undoing the journal and restoring the snapshot puts
// back every address and route as found.
func TestRestoreAfterDownAndEnslave(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		undo := must[Undo](t)
		for _, n := range []string{"v0", "v1"} {
			undo(k.SetUp(ctx, n, true))
		}
		undo(k.AddAddr(ctx, Addr{Link: "v0", Prefix: netip.MustParsePrefix("192.0.2.10/24")}))
		undo(k.AddAddr(ctx, Addr{Link: "v0", Prefix: netip.MustParsePrefix("2001:db8::10/64")}))
		undo(k.AddAddr(ctx, Addr{Link: "v0", Prefix: netip.MustParsePrefix("198.51.100.7/24"), Valid: time.Hour}))
		undo(k.AddRoute(ctx, Route{Link: "v0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("192.0.2.1"), Protocol: ProtoBoot}))
		undo(k.AddRoute(ctx, Route{Link: "v0", Dst: netip.MustParsePrefix("203.0.113.0/24"), Gw: netip.MustParseAddr("192.0.2.254"), Metric: 50, Protocol: ProtoStatic}))
		undo(k.AddRoute(ctx, Route{Link: "v0", Dst: netip.MustParsePrefix("2001:db8:1::/48"), Gw: netip.MustParseAddr("2001:db8::1"), Protocol: ProtoStatic}))
		before := state(t, k)

		snap := must[*Snapshot](t)(Take(ctx, k, time.Now(), "v0"))
		// What a run does: v0 down, a bridge as its master.
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "br0"
		if err := k.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			t.Fatal(err)
		}
		var journal []Undo
		journal = append(journal, undo(k.SetUp(ctx, "v0", false)))
		journal = append(journal, undo(k.SetMaster(ctx, "v0", "br0")))
		journal = append(journal, undo(k.SetUp(ctx, "v0", true)))
		if got := state(t, k); slices.Equal(got, before) {
			t.Fatal("the run changed nothing: the test proves nothing")
		}
		for i := len(journal) - 1; i >= 0; i-- {
			if err := journal[i](ctx); err != nil {
				t.Fatalf("undo %d: %v", i, err)
			}
		}
		if err := snap.Restore(ctx, k, time.Now()); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if after := state(t, k); !slices.Equal(after, before) {
			t.Errorf("not restored:\nbefore %q\nafter  %q", before, after)
		}
		l := must[Link](t)(k.Link(ctx, "v0"))
		if !l.Up || l.Master != "" {
			t.Errorf("v0 up %t master %q", l.Up, l.Master)
		}
	})
}

// state lists v0's addresses (but link-local) and routes as strings.
func state(t *testing.T, k *Netlink) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, a := range must[[]Addr](t)(k.Addrs(ctx)) {
		if a.Link == "v0" && !IsLinkLocal(a.Prefix) {
			out = append(out, "addr "+a.Prefix.String())
		}
	}
	for _, r := range must[[]Route](t)(k.Routes(ctx)) {
		if r.Link == "v0" && !(r.Dst.Addr().Is6() && r.Dst.Addr().IsLinkLocalUnicast()) {
			out = append(out, "route "+r.Dst.String()+" via "+r.Gw.String()+" proto "+strconv.Itoa(r.Protocol)+" metric "+strconv.Itoa(r.Metric))
		}
	}
	slices.Sort(out)
	return out
}

// WaitCarrier returns as soon as the peer comes up (an event), and at the
// deadline when it does not.
func TestWaitCarrier(t *testing.T) {
	inNamespace(t, func(k *Netlink) {
		ctx := context.Background()
		must[Undo](t)(k.SetUp(ctx, "v0", true))
		start := time.Now()
		up, err := k.WaitCarrier(ctx, []string{"v0"}, time.Now().Add(300*time.Millisecond))
		if err != nil || up["v0"] {
			t.Fatalf("without its peer: %v %v", up, err)
		}
		if time.Since(start) < 300*time.Millisecond {
			t.Errorf("returned before the deadline")
		}
		type result struct {
			up  map[string]bool
			err error
		}
		got := make(chan result, 1)
		go func() {
			up, err := k.WaitCarrier(ctx, []string{"v0"}, time.Now().Add(10*time.Second))
			got <- result{up, err}
		}()
		must[Undo](t)(k.SetUp(ctx, "v1", true))
		r := <-got
		up, err = r.up, r.err
		if err != nil || !up["v0"] {
			t.Fatalf("with its peer: %v %v", up, err)
		}
	})
}

// TestWaitCarrierPolls checks that a wait for carrier still sees the link
// come up when link events are unavailable (the subscription fails) or fail
// on the way (ENOBUFS: the socket overran and events were lost).
func TestWaitCarrierPolls(t *testing.T) {
	subscriptions := map[string]subscribeFunc{
		"subscription-refused": func(chan<- netlink.LinkUpdate, <-chan struct{}, netlink.LinkSubscribeOptions) error {
			return unix.EPROTONOSUPPORT
		},
		"events-overrun": func(ch chan<- netlink.LinkUpdate, _ <-chan struct{}, o netlink.LinkSubscribeOptions) error {
			go func() {
				o.ErrorCallback(unix.ENOBUFS)
				close(ch)
			}()
			return nil
		},
		"events-silent": func(chan<- netlink.LinkUpdate, <-chan struct{}, netlink.LinkSubscribeOptions) error {
			return nil
		},
	}
	for name, sub := range subscriptions {
		t.Run(name, func(t *testing.T) {
			inNamespace(t, func(k *Netlink) {
				ctx := context.Background()
				k.subscribe = sub
				must[Undo](t)(k.SetUp(ctx, "v0", true))
				got := make(chan map[string]bool, 1)
				errs := make(chan error, 1)
				go func() {
					up, err := k.WaitCarrier(ctx, []string{"v0"}, time.Now().Add(10*time.Second))
					got <- up
					errs <- err
				}()
				must[Undo](t)(k.SetUp(ctx, "v1", true))
				if up, err := <-got, <-errs; err != nil || !up["v0"] {
					t.Fatalf("v0's carrier was not seen without events: %v %v", up, err)
				}
			})
		})
	}
}
