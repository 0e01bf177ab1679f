//go:build linux

package stages

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"golang.org/x/sys/unix"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/bondstrap/bondstrap/netplan"
)

// These tests run the kernel side of the stages for real, in network
// namespaces they make and throw away: veth pairs stand in for NICs (and for
// the bond, which this host's kernel cannot make), and a real dnsmasq serves
// DHCP from a namespace of its own. Nothing leaves those namespaces.

const dnsmasqPath = "/usr/sbin/dnsmasq"

// lab is a client namespace, where the code under test runs, and a server
// namespace on the other ends of its veth pairs.
type lab struct {
	t      *testing.T
	client netns.NsHandle
	server netns.NsHandle
	h      *netlink.Handle // in client
	sh     *netlink.Handle // in server
	k      *kernel.Netlink // in client: what the stages run against
}

// newLab makes the two namespaces. The test goroutine stays in its own
// namespace; run enters the client one.
func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	l := &lab{t: t}
	l.client = newNamespace(t)
	l.server = newNamespace(t)
	var err error
	if l.h, err = netlink.NewHandleAt(l.client); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.h.Close)
	if l.sh, err = netlink.NewHandleAt(l.server); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.sh.Close)
	in(t, l.client, func() {
		if l.k, err = kernel.Open(nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(l.k.Close)
	for _, h := range []*netlink.Handle{l.h, l.sh} {
		lo, err := h.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// newNamespace makes an anonymous namespace and returns to the original one
// before unlocking the thread.
func newNamespace(t *testing.T) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the wrong namespace: let it die with the
		// goroutine rather than unlock it.
		runtime.Goexit()
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// in runs f on a thread locked into ns, and puts the thread back after.
func in(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	if err := netns.Set(ns); err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot return the thread to its namespace: " + err.Error())
		}
		orig.Close()
		runtime.UnlockOSThread()
	}()
	f()
}

// veth makes a pair: name in the client namespace, peer in the server
// namespace, the peer up (so name gets carrier once it is up) unless
// peerDown.
func (l *lab) veth(name, peer string, peerDown bool) netlink.Link {
	l.t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: peer, PeerNamespace: netlink.NsFd(l.server)}
	if err := l.h.LinkAdd(v); err != nil {
		l.t.Fatalf("add veth %s: %v", name, err)
	}
	if !peerDown {
		p, err := l.sh.LinkByName(peer)
		if err != nil {
			l.t.Fatal(err)
		}
		if err := l.sh.LinkSetUp(p); err != nil {
			l.t.Fatal(err)
		}
	}
	link, err := l.h.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	return link
}

// serverAddr gives the server end an address.
func (l *lab) serverAddr(peer, cidr string) {
	l.t.Helper()
	p, err := l.sh.LinkByName(peer)
	if err != nil {
		l.t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.sh.AddrAdd(p, a); err != nil {
		l.t.Fatal(err)
	}
}

// dnsmasq is a DHCP server running in the server namespace.
type dnsmasq struct {
	dir    string
	leases string
	cmd    *exec.Cmd
}

// startDNSMasq serves DHCP on iface (in the server namespace) from the
// TEST-NET range 198.51.100.0/24, with extra dnsmasq options. DNS is off.
func (l *lab) startDNSMasq(iface string, extra ...string) *dnsmasq {
	l.t.Helper()
	if _, err := os.Stat(dnsmasqPath); err != nil {
		l.t.Fatalf("dnsmasq is needed for the DHCP tests: %v", err)
	}
	d := &dnsmasq{dir: l.t.TempDir()}
	d.leases = filepath.Join(d.dir, "leases")
	args := []string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
		"--user=root", "--group=root",
		"--interface=" + iface, "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h",
		"--dhcp-authoritative",
		// No ICMP check of an address before offering it: it costs 3s a lease.
		"--no-ping",
		"--dhcp-leasefile=" + d.leases,
		"--pid-file=" + filepath.Join(d.dir, "pid"),
		"--log-dhcp", "--log-facility=" + filepath.Join(d.dir, "log"),
	}
	args = append(args, extra...)
	d.cmd = exec.Command(dnsmasqPath, args...)
	d.cmd.Stderr = os.Stderr
	// Fork from a thread in the server namespace: the child inherits it.
	in(l.t, l.server, func() {
		if err := d.cmd.Start(); err != nil {
			l.t.Fatalf("start dnsmasq: %v", err)
		}
	})
	l.t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		_ = d.cmd.Wait()
	})
	// A DISCOVER sent before dnsmasq has bound its socket is lost and costs
	// the client a retry: wait until its log says it listens.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(d.dir, "log"))
		if strings.Contains(string(b), "sockets bound exclusively") {
			break
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("dnsmasq did not start:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// lease returns the dnsmasq lease line for ip, waiting up to 5s for dnsmasq to
// write it (it does so just after the ACK).
func (d *dnsmasq) lease(t *testing.T, ip string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if f, err := os.Open(d.leases); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) >= 5 && fields[2] == ip {
					f.Close()
					return fields
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(d.dir, "log"))
			t.Fatalf("no lease for %s in %s; dnsmasq log:\n%s", ip, d.leases, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testState is a state for calling one stage's functions directly.
func (l *lab) testState(cfg *netplan.Config, opts Options) *state {
	l.t.Helper()
	if opts.Kernel == nil {
		opts.Kernel = l.k
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(l.t)
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = filepath.Join(l.t.TempDir(), "resolv.conf")
	}
	if cfg == nil {
		cfg = &netplan.Config{}
	}
	s, err := newState(cfg, opts)
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

// testLogger logs through t, so a failing test shows the operations.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// vethInventory is the inventory the namespace tests give Apply: detect's
// sysfs view is the host's, not the namespace's, so it is built from
// rtnetlink.
func (l *lab) vethInventory(names ...string) func(context.Context) (inventory.Inventory, error) {
	return func(ctx context.Context) (inventory.Inventory, error) {
		var inv inventory.Inventory
		for _, n := range names {
			link, err := l.h.LinkByName(n)
			if err != nil {
				return inv, err
			}
			a := link.Attrs()
			speed := 0
			if a.RawFlags&unix.IFF_LOWER_UP != 0 {
				speed = 10000
			}
			inv.Interfaces = append(inv.Interfaces, inventory.NIC{
				Name: n, MAC: a.HardwareAddr.String(), PermanentMAC: a.HardwareAddr.String(),
				Driver: "veth", SpeedMbps: speed, Duplex: "full", Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0, MTU: a.MTU,
				Ifindex: a.Index, AdminUp: a.Flags&net.FlagUp != 0,
			})
		}
		return inv, nil
	}
}

// linkState is what teardown must restore, for comparing before and after.
func (l *lab) linkState(name string) string {
	l.t.Helper()
	link, err := l.h.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	a := link.Attrs()
	addrs, err := l.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		l.t.Fatal(err)
	}
	var as []string
	for _, ad := range addrs {
		as = append(as, ad.IPNet.String())
	}
	return fmt.Sprintf("up=%t mtu=%d master=%d addrs=%v", a.Flags&net.FlagUp != 0, a.MTU, a.MasterIndex, as)
}

// loadConfig writes yaml to a file and loads it with the real parser.
func loadConfig(t *testing.T, yaml string) *netplan.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bondstrap.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := netplan.Load(p)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}
