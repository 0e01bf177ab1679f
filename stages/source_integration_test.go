//go:build linux

package stages

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/bondstrap/bondstrap/netplan/cmdline"
)

// sourceLab is a client NIC eth0 whose peer srv0 in the server namespace
// has 198.51.100.1/24, runs dnsmasq (with extra options) and, unless
// noHTTP, an HTTP server on port 8080 that serves sourceYAML at
// /fleet/bondstrap.yaml and records who asked.
type sourceLab struct {
	*lab
	d     *dnsmasq
	mu    sync.Mutex
	peers []string
}

func newSourceLab(t *testing.T, noHTTP bool, extra ...string) *sourceLab {
	l := &sourceLab{lab: newLab(t)}
	l.veth("eth0", "srv0", false)
	l.serverAddr("srv0", "198.51.100.1/24")
	l.d = l.startDNSMasq("srv0", append([]string{"--dhcp-option=option:router,198.51.100.1"}, extra...)...)
	if noHTTP {
		return l
	}
	var ln net.Listener
	var err error
	// The listening socket is made in the server namespace and stays there.
	in(t, l.server, func() { ln, err = net.Listen("tcp", "198.51.100.1:8080") })
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.peers = append(l.peers, r.RemoteAddr)
		l.mu.Unlock()
		if r.URL.Path != "/fleet/bondstrap.yaml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(sourceYAML))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l
}

// asFound is what a temporary network must leave as it found it: the
// link's flags, MTU, MAC and master, its addresses and its routes, both
// families.
func (l *sourceLab) asFound(name string) string {
	l.t.Helper()
	link, err := l.h.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	a := link.Attrs()
	out := []string{fmt.Sprintf("link %s flags=%s mtu=%d mac=%s master=%d", name, a.Flags, a.MTU, a.HardwareAddr, a.MasterIndex)}
	addrs, err := l.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, ad := range addrs {
		out = append(out, "addr "+ad.IPNet.String())
	}
	routes, err := l.h.RouteList(link, netlink.FAMILY_ALL)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, r := range routes {
		out = append(out, "route "+r.String())
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// nsDial makes every connection in ns, whichever thread asks: net/http
// dials from goroutines of its own, and a socket lives in the namespace of
// the thread that made it.
func nsDial(ns netns.NsHandle) func(context.Context, *net.Dialer, string, string) (net.Conn, error) {
	return func(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				panic("cannot return the thread to its namespace: " + err.Error())
			}
			runtime.UnlockOSThread()
		}()
		return d.DialContext(ctx, network, address)
	}
}

func (l *sourceLab) options() SourceOptions {
	return SourceOptions{Logger: testLogger(l.t), Inventory: l.vethInventory("eth0"), dial: nsDial(l.client),
		LinkTimeout: 10 * time.Second, DHCPTimeout: 20 * time.Second, Timeout: 60 * time.Second}
}

func (l *sourceLab) load(line string, opts SourceOptions) error {
	b, err := cmdline.Parse(line)
	if err != nil {
		l.t.Fatal(err)
	}
	in(l.t, l.client, func() { _, err = LoadSource(context.Background(), l.k, b, opts) })
	return err
}

// The PXE boot NIC takes a lease from dnsmasq, fetches the config from a
// server behind it, checks its SHA-256, and is put back down as found.
func TestLoadSourceOverDHCP(t *testing.T) {
	l := newSourceLab(t, false)
	before := l.asFound("eth0")
	link, _ := l.h.LinkByName("eth0")
	bootif := strings.ReplaceAll(link.Attrs().HardwareAddr.String(), ":", "-")

	b, err := cmdline.Parse("BOOTIF=01-" + bootif + " bondstrap.config=http://198.51.100.1:8080/fleet/bondstrap.yaml" +
		" bondstrap.config-sha256=" + sha(sourceYAML))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var cfgBonds []string
	in(t, l.client, func() {
		cfg, err := LoadSource(context.Background(), l.k, b, l.options())
		if err == nil {
			cfgBonds = cfg.BondNames()
		} else {
			t.Error(err)
		}
	})
	t.Logf("fetched in %s", time.Since(start))
	if !slices.Equal(cfgBonds, []string{"bond0"}) {
		t.Fatalf("bonds %v", cfgBonds)
	}
	// The server saw the lease's address, which dnsmasq gave eth0.
	l.mu.Lock()
	peers := slices.Clone(l.peers)
	l.mu.Unlock()
	if len(peers) != 1 || !strings.HasPrefix(peers[0], "198.51.100.") {
		t.Fatalf("the server saw %v", peers)
	}
	host, _, _ := net.SplitHostPort(peers[0])
	if lease := l.d.lease(t, host); lease[1] != link.Attrs().HardwareAddr.String() {
		t.Errorf("dnsmasq's lease %v is not eth0's", lease)
	}
	if after := l.asFound("eth0"); after != before {
		t.Errorf("eth0 is not as found:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// The server's name resolves through the lease's DNS server, asked over
// the temporary network.
func TestLoadSourceOverDHCPByName(t *testing.T) {
	l := newSourceLab(t, false, "--dhcp-option=option:dns-server,198.51.100.53")
	l.serverAddr("srv0", "198.51.100.53/24")
	asked := l.serveDNS("198.51.100.53:53", "config.test.", [4]byte{198, 51, 100, 1})
	before := l.asFound("eth0")
	if err := l.load("bondstrap.config=http://config.test:8080/fleet/bondstrap.yaml", l.options()); err != nil {
		t.Fatal(err)
	}
	if asked.Load() == 0 {
		t.Error("the lease's DNS server was not asked")
	}
	if after := l.asFound("eth0"); after != before {
		t.Errorf("eth0 is not as found:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// serveDNS answers, over UDP at addr in the server namespace, the A query
// for name with a, and every other query with no answer; it counts the
// queries. (dnsmasq serves DHCP in these tests with its DNS off.)
func (l *sourceLab) serveDNS(addr, name string, a [4]byte) *atomic.Int32 {
	l.t.Helper()
	var pc net.PacketConn
	var err error
	in(l.t, l.server, func() { pc, err = net.ListenPacket("udp", addr) })
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { pc.Close() })
	var asked atomic.Int32
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			asked.Add(1)
			if reply := dnsReply(buf[:n], name, a); reply != nil {
				_, _ = pc.WriteTo(reply, from)
			}
		}
	}()
	return &asked
}

// dnsReply answers a one-question query (RFC 1035, 4.1): A for name with
// a, anything else with an empty answer.
func dnsReply(q []byte, name string, a [4]byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// The question: labels up to the root, then type and class.
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		n := int(q[i])
		if i+1+n > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+n]))
		i += 1 + n
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := uint16(q[i+1])<<8 | uint16(q[i+2])
	question := q[12 : i+5]
	out := append([]byte{}, q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0) // id; response, RD, RA; one question
	out = append(out, question...)
	if strings.Join(labels, ".")+"." == name && qtype == 1 {
		out[7] = 1 // one answer
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		out = append(out, a[:]...)
	}
	return out
}

// A wrong SHA-256: ErrConfigDigest, and eth0 as found.
func TestLoadSourceOverDHCPWrongDigest(t *testing.T) {
	l := newSourceLab(t, false)
	before := l.asFound("eth0")
	err := l.load("bondstrap.config=http://198.51.100.1:8080/fleet/bondstrap.yaml bondstrap.config-sha256="+sha("other"), l.options())
	if !errors.Is(err, ErrConfigDigest) {
		t.Fatalf("error %v, want ErrConfigDigest", err)
	}
	if after := l.asFound("eth0"); after != before {
		t.Errorf("eth0 is not as found:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// No HTTP server: a bounded failure, and eth0 as found.
func TestLoadSourceOverDHCPNoServer(t *testing.T) {
	l := newSourceLab(t, true)
	before := l.asFound("eth0")
	opts := l.options()
	opts.Attempts = 2
	start := time.Now()
	err := l.load("bondstrap.config=http://198.51.100.1:8080/fleet/bondstrap.yaml", opts)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s", d)
	}
	if after := l.asFound("eth0"); after != before {
		t.Errorf("eth0 is not as found:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
