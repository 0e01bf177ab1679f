package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
	uiorand "github.com/u-root/uio/rand"
)

var testMAC6 = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// testDUID6 is DUID-LL of testMAC6, written out by hand from RFC 8415
// section 11.4.
var testDUID6 = []byte{0x00, 0x03, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

var testIAID6 = [4]byte{0x00, 0x12, 0x34, 0x56}

func TestDHCP6Identity(t *testing.T) {
	duid, err := dhcp6DUID(testMAC6)
	if err != nil {
		t.Fatal(err)
	}
	if got := duid.ToBytes(); !bytes.Equal(got, testDUID6) {
		t.Errorf("DUID % x, want % x", got, testDUID6)
	}
	if got := dhcp6IAID(testMAC6); got != testIAID6 {
		t.Errorf("IAID % x, want % x", got, testIAID6)
	}
	typ, raw, iaid, err := networkdDHCPv6(testMAC6)
	if err != nil {
		t.Fatal(err)
	}
	// What the .network unit must say, checked against networkd v252:
	// DUIDRawData is the DUID after its type; IAID= is the number whose
	// big-endian bytes are the IAID on the wire.
	if typ != "link-layer" || raw != "00:01:52:54:00:12:34:56" || iaid != "1193046" {
		t.Errorf("networkd keys DUIDType=%s DUIDRawData=%s IAID=%s", typ, raw, iaid)
	}

	ib := make(net.HardwareAddr, 20)
	for i := range ib {
		ib[i] = byte(i + 1)
	}
	duid, err = dhcp6DUID(ib)
	if err != nil {
		t.Fatal(err)
	}
	if got := duid.ToBytes(); !bytes.Equal(got[:4], []byte{0, 3, 0, 32}) || !bytes.Equal(got[4:], ib) {
		t.Errorf("InfiniBand DUID % x", got)
	}
	if got := dhcp6IAID(ib); got != [4]byte{17, 18, 19, 20} {
		t.Errorf("InfiniBand IAID % x", got)
	}
	for _, bad := range []net.HardwareAddr{nil, {1, 2, 3, 4}, make(net.HardwareAddr, 8)} {
		if _, err := dhcp6DUID(bad); err == nil {
			t.Errorf("DUID from %q: no error", bad)
		}
	}
}

func testExchange6() *exchange6 {
	duid, _ := dhcp6DUID(testMAC6)
	return &exchange6{duid: duid, clientID: duid.ToBytes(), iaid: dhcp6IAID(testMAC6), timing: defaultDHCP6Timing,
		log: slog.New(slog.DiscardHandler), ifname: "bond0"}
}

// wire sends m through its encoding, as a server would read it.
func wire(t *testing.T, m *dhcpv6.Message) *dhcpv6.Message {
	t.Helper()
	back, err := dhcpv6.MessageFromBytes(m.ToBytes())
	if err != nil {
		t.Fatalf("message does not parse back: %v", err)
	}
	return back
}

func TestNewSolicit(t *testing.T) {
	x := testExchange6()
	m := wire(t, x.newSolicit(dhcpv6.TransactionID{1, 2, 3}))
	if m.MessageType != dhcpv6.MessageTypeSolicit || m.TransactionID != (dhcpv6.TransactionID{1, 2, 3}) {
		t.Errorf("type %s xid %s", m.MessageType, m.TransactionID)
	}
	if cid := m.Options.ClientID(); cid == nil || !bytes.Equal(cid.ToBytes(), testDUID6) {
		t.Errorf("client id %v", cid)
	}
	if m.Options.ServerID() != nil {
		t.Error("a Solicit with a server id")
	}
	if m.GetOneOption(dhcpv6.OptionElapsedTime) == nil || m.Options.ElapsedTime() != 0 {
		t.Errorf("elapsed time option missing or not 0: %v", m.Options.ElapsedTime())
	}
	oro := m.Options.RequestedOptions()
	if !oro.Contains(dhcpv6.OptionDNSRecursiveNameServer) || !oro.Contains(dhcpv6.OptionDomainSearchList) {
		t.Errorf("ORO %v lacks DNS or domain list", oro)
	}
	if m.GetOneOption(dhcpv6.OptionRapidCommit) == nil {
		t.Error("no Rapid Commit")
	}
	ias := m.Options.IANA()
	if len(ias) != 1 || ias[0].IaId != testIAID6 || ias[0].T1 != 0 || ias[0].T2 != 0 || len(ias[0].Options.Addresses()) != 0 {
		t.Errorf("IA_NA %v", ias)
	}
	if len(m.Options.IAPD()) > 0 || len(m.Options.IATA()) > 0 {
		t.Error("IA_PD or IA_TA asked for")
	}
}

func TestNewRequest(t *testing.T) {
	x := testExchange6()
	server := &dhcpv6.DUIDLLT{HWType: iana.HWTypeEthernet, Time: 7, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	offered := &Lease6{Addrs: []Lease6Addr{
		{Addr: netip.MustParseAddr("2001:db8::10"), Preferred: time.Hour, Valid: 2 * time.Hour},
		{Addr: netip.MustParseAddr("fe80::1"), Preferred: time.Hour, Valid: 2 * time.Hour},
		{Addr: netip.MustParseAddr("2001:db8::11"), Preferred: time.Hour, Valid: 2 * time.Hour},
	}}
	m := wire(t, x.newRequest(dhcpv6.TransactionID{9, 9, 9}, server, offered))
	if m.MessageType != dhcpv6.MessageTypeRequest || m.TransactionID != (dhcpv6.TransactionID{9, 9, 9}) {
		t.Errorf("type %s xid %s", m.MessageType, m.TransactionID)
	}
	if cid := m.Options.ClientID(); cid == nil || !bytes.Equal(cid.ToBytes(), testDUID6) {
		t.Errorf("client id %v", cid)
	}
	if sid := m.Options.ServerID(); sid == nil || !bytes.Equal(sid.ToBytes(), server.ToBytes()) {
		t.Errorf("server id %v, want %v", sid, server)
	}
	if m.GetOneOption(dhcpv6.OptionElapsedTime) == nil {
		t.Error("no elapsed time")
	}
	oro := m.Options.RequestedOptions()
	if !oro.Contains(dhcpv6.OptionDNSRecursiveNameServer) || !oro.Contains(dhcpv6.OptionDomainSearchList) {
		t.Errorf("ORO %v", oro)
	}
	if m.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
		t.Error("Rapid Commit in a Request")
	}
	ia := m.Options.OneIANA()
	if ia == nil || ia.IaId != testIAID6 || ia.T1 != 0 || ia.T2 != 0 {
		t.Fatalf("IA_NA %v", ia)
	}
	var got []string
	for _, a := range ia.Options.Addresses() {
		got = append(got, a.IPv6Addr.String())
		if a.PreferredLifetime != 0 || a.ValidLifetime != 0 {
			t.Errorf("requested %s with lifetimes %s/%s", a.IPv6Addr, a.PreferredLifetime, a.ValidLifetime)
		}
	}
	if want := []string{"2001:db8::10", "2001:db8::11"}; !slices.Equal(got, want) {
		t.Errorf("requested %v, want %v (the link-local one is not usable)", got, want)
	}
}

func TestElapsedAndRetransmissionTimes(t *testing.T) {
	if got := elapsed6(20 * time.Minute); got != 655350*time.Millisecond {
		t.Errorf("elapsed %s not capped", got)
	}
	m := &dhcpv6.Message{}
	m.AddOption(dhcpv6.OptElapsedTime(elapsed6(time.Hour)))
	if b := m.Options.ToBytes(); !bytes.Equal(b[len(b)-2:], []byte{0xff, 0xff}) {
		t.Errorf("elapsed time of an hour encoded as % x, want ff ff", b[len(b)-2:])
	}
	for range 100 {
		if rt := jitter6(time.Second, true); rt < time.Second || rt > 1100*time.Millisecond {
			t.Fatalf("first Solicit RT %s outside [1s, 1.1s]", rt)
		}
		if rt := nextRT6(time.Second, 0); rt < 1800*time.Millisecond || rt > 2200*time.Millisecond {
			t.Fatalf("second RT %s outside [1.8s, 2.2s]", rt)
		}
		if rt := nextRT6(20*time.Second, 30*time.Second); rt < 27*time.Second || rt > 33*time.Second {
			t.Fatalf("RT %s past MRT 30s ±10%%", rt)
		}
	}
}

var testServerDUID6 = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x53}}

// testIANA is an IA_NA as a server sends it.
func testIANA(iaid [4]byte, t1, t2 time.Duration, opts ...dhcpv6.Option) *dhcpv6.OptIANA {
	return &dhcpv6.OptIANA{IaId: iaid, T1: t1, T2: t2, Options: dhcpv6.IdentityOptions{Options: opts}}
}

func testIAAddr(a string, pref, valid time.Duration, opts ...dhcpv6.Option) *dhcpv6.OptIAAddress {
	return &dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(a), PreferredLifetime: pref, ValidLifetime: valid,
		Options: dhcpv6.AddressOptions{Options: opts}}
}

// testReply6 is a Reply for testMAC6's client, with the given options.
func testReply6(typ dhcpv6.MessageType, opts ...dhcpv6.Option) *dhcpv6.Message {
	duid, _ := dhcp6DUID(testMAC6)
	m := &dhcpv6.Message{MessageType: typ, TransactionID: dhcpv6.TransactionID{1, 2, 3}}
	m.AddOption(dhcpv6.OptClientID(duid))
	m.AddOption(dhcpv6.OptServerID(testServerDUID6))
	for _, o := range opts {
		m.AddOption(o)
	}
	return m
}

func noAddrs(msg string) *dhcpv6.OptStatusCode {
	return &dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: msg}
}

func TestLease6FromReply(t *testing.T) {
	good := testIANA(testIAID6, 1800*time.Second, 2880*time.Second,
		testIAAddr("2001:db8::10", time.Hour, 2*time.Hour))
	dns := dhcpv6.OptDNS(net.ParseIP("2001:db8::53"), net.ParseIP("2001:db8::54"))
	search := dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"lab.example", "example.org"}})

	m := wire(t, testReply6(dhcpv6.MessageTypeReply,
		testIANA([4]byte{9, 9, 9, 9}, 0, 0, testIAAddr("2001:db8::99", time.Hour, time.Hour)), good, dns, search))
	l, err := lease6FromReply(m, testIAID6)
	if err != nil {
		t.Fatal(err)
	}
	want := []Lease6Addr{{Addr: netip.MustParseAddr("2001:db8::10"), Preferred: time.Hour, Valid: 2 * time.Hour}}
	if !slices.Equal(l.Addrs, want) {
		t.Errorf("addresses %v, want %v (only our IA's)", l.Addrs, want)
	}
	if l.T1 != 1800*time.Second || l.T2 != 2880*time.Second || l.IAID != testIAID6 {
		t.Errorf("T1 %s T2 %s IAID % x", l.T1, l.T2, l.IAID)
	}
	if !bytes.Equal(l.ServerID, testServerDUID6.ToBytes()) {
		t.Errorf("server id % x", l.ServerID)
	}
	if fmt.Sprint(l.DNS) != "[2001:db8::53 2001:db8::54]" || !slices.Equal(l.Search, []string{"lab.example", "example.org"}) {
		t.Errorf("DNS %v search %v", l.DNS, l.Search)
	}

	for _, c := range []struct {
		name string
		m    *dhcpv6.Message
		want string
	}{
		{"NoAddrsAvail in the message", testReply6(dhcpv6.MessageTypeReply, noAddrs("pool\x1b[2J empty")),
			`message status NoAddrsAvail: "pool[2J empty"`},
		{"NoAddrsAvail in the IA", testReply6(dhcpv6.MessageTypeAdvertise, testIANA(testIAID6, 0, 0, noAddrs(""))),
			"IA_NA status NoAddrsAvail"},
		{"advertise without IA", testReply6(dhcpv6.MessageTypeAdvertise, dns), "no IA_NA 00123456"},
		{"another IAID only", testReply6(dhcpv6.MessageTypeReply,
			testIANA([4]byte{1, 1, 1, 1}, 0, 0, testIAAddr("2001:db8::10", time.Hour, time.Hour))), "no IA_NA"},
		{"T1 above T2", testReply6(dhcpv6.MessageTypeReply,
			testIANA(testIAID6, time.Hour, time.Minute, testIAAddr("2001:db8::10", time.Hour, time.Hour))), "T1"},
		{"empty IA", testReply6(dhcpv6.MessageTypeReply, testIANA(testIAID6, 0, 0)), "no address"},
		{"only addresses to discard", testReply6(dhcpv6.MessageTypeReply, testIANA(testIAID6, 0, 0,
			testIAAddr("2001:db8::10", 2*time.Hour, time.Hour),
			testIAAddr("2001:db8::11", time.Hour, time.Hour, noAddrs("")))), "no address"},
		{"no server id", func() *dhcpv6.Message {
			m := testReply6(dhcpv6.MessageTypeReply, good)
			m.Options.Del(dhcpv6.OptionServerID)
			return m
		}(), "no server identifier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := lease6FromReply(wire(t, c.m), testIAID6)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("lease %+v, error %v; want an error with %q", l, err, c.want)
			}
		})
	}

	// The addresses RFC 8415 has the client discard go; the others stay.
	m = wire(t, testReply6(dhcpv6.MessageTypeReply, testIANA(testIAID6, 0, 0,
		testIAAddr("2001:db8::1", 2*time.Hour, time.Hour),
		testIAAddr("2001:db8::2", time.Hour, time.Hour, noAddrs("")),
		testIAAddr("2001:db8::3", time.Minute, time.Hour))))
	l, err = lease6FromReply(m, testIAID6)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Addrs) != 1 || l.Addrs[0].Addr != netip.MustParseAddr("2001:db8::3") {
		t.Errorf("addresses %v, want only 2001:db8::3", l.Addrs)
	}
}

func TestLease6Config(t *testing.T) {
	a := func(s string, pref, valid time.Duration) Lease6Addr {
		return Lease6Addr{Addr: netip.MustParseAddr(s), Preferred: pref, Valid: valid}
	}
	l := &Lease6{
		Addrs: []Lease6Addr{
			a("2001:db8::10", time.Hour, 2*time.Hour),
			a("fd00::20", lease6Infinity, lease6Infinity),
			a("2001:db8::10", time.Hour, 2*time.Hour), // repeated
			a("fe80::1", time.Hour, time.Hour),
			a("ff02::1", time.Hour, time.Hour),
			a("::1", time.Hour, time.Hour),
			a("::", time.Hour, time.Hour),
			a("::ffff:192.0.2.1", time.Hour, time.Hour),
			a("192.0.2.1", time.Hour, time.Hour),
			a("2001:db8::30", 0, time.Hour),
			a("2001:db8::31", time.Hour, 0),
			a("2001:db8::32", 2*time.Hour, time.Hour),
			a("2001:db8::33", 30*time.Minute, time.Hour),
		},
		DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("fe80::53"), netip.MustParseAddr("ff02::fb"),
			netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("::")},
		Search:   []string{"lab.example", "evil\nnameserver 6.6.6.6", "lab.example", "b.example."},
		ServerID: testServerDUID6.ToBytes(), ClientID: testDUID6, IAID: testIAID6,
		T1: 30 * time.Minute, T2: lease6Infinity,
		Obtained: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	c, lr := lease6Config(l)
	wantAddrs := []netip.Prefix{netip.MustParsePrefix("2001:db8::10/128"), netip.MustParsePrefix("fd00::20/128"),
		netip.MustParsePrefix("2001:db8::33/128")}
	if !slices.Equal(c.Addrs, wantAddrs) {
		t.Errorf("addresses %v, want %v", c.Addrs, wantAddrs)
	}
	if c.Lifetime != time.Hour {
		t.Errorf("lifetime %s, want the shortest valid one, 1h", c.Lifetime)
	}
	if len(c.Routes) != 0 || c.MTU != 0 || c.Protocol != kernel.ProtoDHCP {
		t.Errorf("routes %v mtu %d protocol %d", c.Routes, c.MTU, c.Protocol)
	}
	if fmt.Sprint(c.DNS) != "[2001:db8::53]" {
		t.Errorf("DNS %v", c.DNS)
	}
	if !slices.Equal(c.Search, []string{"lab.example", "b.example."}) {
		t.Errorf("search %q", c.Search)
	}
	if len(lr.Dropped) != 10+4+2 {
		t.Errorf("%d dropped, want 16: %q", len(lr.Dropped), lr.Dropped)
	}
	for _, d := range lr.Dropped {
		if strings.ContainsAny(d, "\n\r") {
			t.Errorf("dropped %q carries a line break", d)
		}
	}

	data, err := json.Marshal(lr)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"client_duid": "00:03:00:01:52:54:00:12:34:56", "iaid": "0x123456", "server_duid": "00:03:00:01:02:00:00:00:00:53",
		"t1_ms": 1.8e6, "t2_ms": -1.0, "obtained": "2026-01-02T03:04:05Z",
	} {
		if got[k] != want {
			t.Errorf("report %s = %v, want %v", k, got[k], want)
		}
	}
	want := `[{"address":"2001:db8::10/128","preferred_ms":3600000,"valid_ms":7200000},` +
		`{"address":"fd00::20/128","preferred_ms":-1,"valid_ms":-1},` +
		`{"address":"2001:db8::33/128","preferred_ms":1800000,"valid_ms":3600000}]`
	if b, _ := json.Marshal(got["addresses"]); string(b) != want {
		t.Errorf("report addresses\n%s\nwant\n%s", b, want)
	}

	// Only infinite lifetimes: forever. Lifetimes past what the kernel
	// holds: capped below infinity.
	c, _ = lease6Config(&Lease6{Addrs: []Lease6Addr{a("2001:db8::1", lease6Infinity, lease6Infinity)}})
	if c.Lifetime != 0 {
		t.Errorf("infinite lease: lifetime %s, want 0 (forever)", c.Lifetime)
	}
	c, lr = lease6Config(&Lease6{Addrs: []Lease6Addr{a("2001:db8::1", lease6Infinity-time.Millisecond, lease6Infinity-time.Millisecond)}})
	if c.Lifetime != maxLease6Lifetime || lr.Addresses[0].Valid != Millis(maxLease6Lifetime) {
		t.Errorf("lifetime %s, report %v; want %s", c.Lifetime, lr.Addresses, maxLease6Lifetime)
	}

	// Bounded counts.
	many := &Lease6{}
	for i := range 40 {
		many.Addrs = append(many.Addrs, Lease6Addr{Addr: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}),
			Preferred: time.Hour, Valid: time.Hour})
		many.DNS = append(many.DNS, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: 0x53, 15: byte(i + 1)}))
		many.Search = append(many.Search, fmt.Sprintf("d%d.example", i))
	}
	c, _ = lease6Config(many)
	if len(c.Addrs) != maxLease6Addrs || len(c.DNS) != maxLease6DNS || len(c.Search) != maxLease6Search {
		t.Errorf("took %d addresses, %d servers, %d domains", len(c.Addrs), len(c.DNS), len(c.Search))
	}
}

// memConn is one end of an in-memory datagram pipe: what one end writes,
// the other reads, whole; a full queue drops, as UDP does.
type memConn struct {
	in        chan []byte
	peer      *memConn
	done      chan struct{}
	closeOnce sync.Once
	// failWrites makes that many writes fail with ENOBUFS.
	failWrites atomic.Int32

	mu    sync.Mutex
	dests []string
}

func memPipe() (*memConn, *memConn) {
	a := &memConn{in: make(chan []byte, 64), done: make(chan struct{})}
	b := &memConn{in: make(chan []byte, 64), done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

var memAddr = &net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: dhcpv6.DefaultServerPort, Zone: "bond0"}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p), memAddr, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *memConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	if c.failWrites.Load() > 0 {
		c.failWrites.Add(-1)
		return 0, &net.OpError{Op: "write", Net: "udp6", Err: syscall.ENOBUFS}
	}
	if addr != nil {
		c.mu.Lock()
		c.dests = append(c.dests, addr.String())
		c.mu.Unlock()
	}
	select {
	case c.peer.in <- bytes.Clone(b):
	default:
	}
	return len(b), nil
}

func (c *memConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func (c *memConn) destinations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dests)
}

func (c *memConn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// server6 is a DHCPv6 server for the tests: it reads what the client
// sends, keeps it, and answers with what handle returns.
type server6 struct {
	conn   *memConn
	handle func(n int, m *dhcpv6.Message) []*dhcpv6.Message

	mu  sync.Mutex
	got []*dhcpv6.Message
}

func (s *server6) serve() {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := dhcpv6.MessageFromBytes(buf[:n])
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.got = append(s.got, m)
		k := len(s.got)
		s.mu.Unlock()
		for _, r := range s.handle(k, m) {
			s.conn.WriteTo(r.ToBytes(), memAddr)
		}
	}
}

func (s *server6) messages() []*dhcpv6.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// answer is what a well-behaved server answers m with: an Advertise to a
// Solicit (a Reply when rapid and the client asked for Rapid Commit), a
// Reply to a Request, offering addr in the client's IA_NA.
func answer(m *dhcpv6.Message, server dhcpv6.DUID, rapid bool, addr string) *dhcpv6.Message {
	var r *dhcpv6.Message
	var err error
	switch {
	case m.MessageType == dhcpv6.MessageTypeSolicit && rapid && m.GetOneOption(dhcpv6.OptionRapidCommit) != nil:
		r, err = dhcpv6.NewReplyFromMessage(m)
	case m.MessageType == dhcpv6.MessageTypeSolicit:
		r, err = dhcpv6.NewAdvertiseFromSolicit(m)
	case m.MessageType == dhcpv6.MessageTypeRequest:
		r, err = dhcpv6.NewReplyFromMessage(m)
	default:
		return nil
	}
	if err != nil {
		panic(err)
	}
	r.AddOption(dhcpv6.OptServerID(server))
	iaid := [4]byte{}
	if ia := m.Options.OneIANA(); ia != nil {
		iaid = ia.IaId
	}
	r.AddOption(testIANA(iaid, 1800*time.Second, 2880*time.Second, testIAAddr(addr, time.Hour, 2*time.Hour)))
	r.AddOption(dhcpv6.OptDNS(net.ParseIP("2001:db8::53")))
	r.AddOption(dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"lab.example"}}))
	return r
}

// patientDHCP6Timing is for the tests that count messages: no answer is
// late enough, on a loaded machine, to make the client send again.
var patientDHCP6Timing = dhcp6Timing{solTimeout: 5 * time.Second, solMaxRT: 10 * time.Second,
	reqTimeout: 5 * time.Second, reqMaxRT: 10 * time.Second, reqMaxRC: 4, restart: 10 * time.Millisecond}

// fastDHCP6Timing is for the tests of retransmission and deadlines.
var fastDHCP6Timing = dhcp6Timing{solTimeout: 20 * time.Millisecond, solMaxRT: 200 * time.Millisecond,
	reqTimeout: 20 * time.Millisecond, reqMaxRT: 100 * time.Millisecond, reqMaxRC: 4, restart: 10 * time.Millisecond}

const testLL6 = "fe80::5054:ff:fe12:3456"

// log6 logs through t, so `go test -v` shows the client's decisions.
func log6(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(log6Writer{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type log6Writer struct{ t *testing.T }

func (w log6Writer) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// runLease6 runs the client on bond0 against a server answering with
// handle, for at most timeout.
func runLease6(t *testing.T, timing dhcp6Timing, timeout time.Duration, handle func(n int, m *dhcpv6.Message) []*dhcpv6.Message) (*Lease6, *server6, *memConn, error) {
	t.Helper()
	client, server := memPipe()
	s := &server6{conn: server, handle: handle}
	go s.serve()
	t.Cleanup(func() { server.Close() })
	var listened atomic.Int32
	d := &nclient6DHCP{
		addrs: func(context.Context) ([]kernel.Addr, error) {
			return []kernel.Addr{
				{Link: "eth9", Prefix: netip.MustParsePrefix("fe80::99/64")},
				{Link: "bond0", Prefix: netip.MustParsePrefix("2001:db8::77/64")},
				{Link: "bond0", Prefix: netip.MustParsePrefix(testLL6 + "/64")},
			}, nil
		},
		listen: func(ifname string, ll netip.Addr) (net.PacketConn, error) {
			if ifname != "bond0" || ll != netip.MustParseAddr(testLL6) {
				t.Errorf("listen on %s %s", ifname, ll)
			}
			listened.Add(1)
			return client, nil
		},
		timing: timing,
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l, err := d.Lease6(ctx, "bond0", testMAC6, log6(t))
	if listened.Load() != 1 {
		t.Errorf("listened %d times", listened.Load())
	}
	if !client.closed() {
		t.Error("the client's socket was left open")
	}
	return l, s, client, err
}

func checkLease6(t *testing.T, l *Lease6, addr string, rapid bool) {
	t.Helper()
	if l == nil {
		t.Fatal("no lease")
	}
	want := []Lease6Addr{{Addr: netip.MustParseAddr(addr), Preferred: time.Hour, Valid: 2 * time.Hour}}
	if !slices.Equal(l.Addrs, want) {
		t.Errorf("addresses %v, want %v", l.Addrs, want)
	}
	if !bytes.Equal(l.ClientID, testDUID6) || l.IAID != testIAID6 {
		t.Errorf("client id % x IAID % x", l.ClientID, l.IAID)
	}
	if !bytes.Equal(l.ServerID, testServerDUID6.ToBytes()) {
		t.Errorf("server id % x", l.ServerID)
	}
	if l.T1 != 1800*time.Second || l.T2 != 2880*time.Second || l.RapidCommit != rapid {
		t.Errorf("T1 %s T2 %s rapid commit %v", l.T1, l.T2, l.RapidCommit)
	}
	if fmt.Sprint(l.DNS) != "[2001:db8::53]" || !slices.Equal(l.Search, []string{"lab.example"}) {
		t.Errorf("DNS %v search %v", l.DNS, l.Search)
	}
	if time.Since(l.Obtained) > time.Minute {
		t.Errorf("obtained %s", l.Obtained)
	}
}

func TestLease6FourMessages(t *testing.T) {
	l, s, client, err := runLease6(t, patientDHCP6Timing, 5*time.Second, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		return []*dhcpv6.Message{answer(m, testServerDUID6, false, "2001:db8::10")}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::10", false)
	got := s.messages()
	if len(got) != 2 || got[0].MessageType != dhcpv6.MessageTypeSolicit || got[1].MessageType != dhcpv6.MessageTypeRequest {
		t.Fatalf("server got %v", got)
	}
	req := got[1]
	if req.TransactionID == got[0].TransactionID {
		t.Error("the Request reuses the Solicit's transaction ID")
	}
	if sid := req.Options.ServerID(); sid == nil || !bytes.Equal(sid.ToBytes(), testServerDUID6.ToBytes()) {
		t.Errorf("Request to server %v", sid)
	}
	if ia := req.Options.OneIANA(); ia == nil || ia.IaId != testIAID6 || len(ia.Options.Addresses()) != 1 ||
		!ia.Options.OneAddress().IPv6Addr.Equal(net.ParseIP("2001:db8::10")) {
		t.Errorf("Request IA_NA %v", ia)
	}
	for _, d := range client.destinations() {
		if d != "[ff02::1:2%bond0]:547" {
			t.Errorf("sent to %s, not All_DHCP_Relay_Agents_and_Servers on bond0", d)
		}
	}
	// The client draws transaction IDs without waiting for the kernel's
	// pool.
	if _, ok := uiorand.Reader.(*earlyRandom); !ok {
		t.Errorf("random reader %T, not earlyRandom", uiorand.Reader)
	}
}

func TestLease6RapidCommit(t *testing.T) {
	l, s, _, err := runLease6(t, patientDHCP6Timing, 5*time.Second, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		return []*dhcpv6.Message{answer(m, testServerDUID6, true, "2001:db8::20")}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::20", true)
	if got := s.messages(); len(got) != 1 {
		t.Errorf("server got %d messages, want the Solicit only", len(got))
	}
}

// Unanswered Solicits are sent again with the same transaction ID and a
// growing elapsed time.
func TestLease6Retransmits(t *testing.T) {
	l, s, _, err := runLease6(t, fastDHCP6Timing, 5*time.Second, func(n int, m *dhcpv6.Message) []*dhcpv6.Message {
		if n <= 3 {
			return nil
		}
		return []*dhcpv6.Message{answer(m, testServerDUID6, false, "2001:db8::30")}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::30", false)
	// Four Solicits (more if the machine is slow to deliver the answer),
	// all with one transaction ID and a growing elapsed time, then a
	// Request that starts its own clock.
	got := s.messages()
	var solicits []*dhcpv6.Message
	for _, m := range got {
		if m.MessageType == dhcpv6.MessageTypeSolicit {
			solicits = append(solicits, m)
		}
	}
	if len(solicits) < 4 || got[len(got)-1].MessageType != dhcpv6.MessageTypeRequest {
		t.Fatalf("server got %d messages, %d Solicits; want 4 Solicits or more, then a Request", len(got), len(solicits))
	}
	var last time.Duration
	for i, m := range solicits {
		if m.TransactionID != got[0].TransactionID {
			t.Errorf("Solicit %d: xid %s, the first had %s", i, m.TransactionID, got[0].TransactionID)
		}
		e := m.Options.ElapsedTime()
		if (i == 0 && e != 0) || (i > 0 && e <= last) {
			t.Errorf("Solicit %d: elapsed %s after %s", i, e, last)
		}
		last = e
	}
	if req := got[len(solicits)]; req.MessageType != dhcpv6.MessageTypeRequest || req.Options.ElapsedTime() != 0 {
		t.Errorf("the first Request: %s with elapsed time %s, want 0", req.MessageType, req.Options.ElapsedTime())
	}
}

// Answers that are not for this client, or offer nothing usable, are
// ignored; the client takes the next good one.
func TestLease6IgnoresBadAnswers(t *testing.T) {
	other := &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x66}}
	l, _, _, err := runLease6(t, patientDHCP6Timing, 5*time.Second, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		if m.MessageType != dhcpv6.MessageTypeSolicit {
			return []*dhcpv6.Message{answer(m, testServerDUID6, false, "2001:db8::40")}
		}
		wrongClient := answer(m, other, false, "2001:db8::66")
		wrongClient.UpdateOption(dhcpv6.OptClientID(other))
		noClient := answer(m, other, false, "2001:db8::67")
		noClient.Options.Del(dhcpv6.OptionClientID)
		noServer := answer(m, other, false, "2001:db8::68")
		noServer.Options.Del(dhcpv6.OptionServerID)
		noAddrsAvail := answer(m, other, false, "2001:db8::69")
		noAddrsAvail.UpdateOption(testIANA(testIAID6, 0, 0, noAddrs("none left")))
		noIA := answer(m, other, false, "2001:db8::70")
		noIA.Options.Del(dhcpv6.OptionIANA)
		linkLocal := answer(m, other, false, "fe80::71")
		replyNoRapid := answer(m, other, false, "2001:db8::72")
		replyNoRapid.MessageType = dhcpv6.MessageTypeReply
		return []*dhcpv6.Message{wrongClient, noClient, noServer, noAddrsAvail, noIA, linkLocal, replyNoRapid,
			answer(m, testServerDUID6, false, "2001:db8::40")}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::40", false)
}

// A Reply from a server other than the one requested is ignored.
func TestLease6ReplyFromAnotherServer(t *testing.T) {
	other := &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x66}}
	l, s, _, err := runLease6(t, patientDHCP6Timing, 5*time.Second, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		if m.MessageType == dhcpv6.MessageTypeRequest {
			return []*dhcpv6.Message{answer(m, other, false, "2001:db8::66"), answer(m, testServerDUID6, false, "2001:db8::50")}
		}
		return []*dhcpv6.Message{answer(m, testServerDUID6, false, "2001:db8::50")}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::50", false)
	if n := len(s.messages()); n != 2 {
		t.Errorf("server got %d messages", n)
	}
}

// A refused Request starts over with a Solicit.
func TestLease6RequestRefused(t *testing.T) {
	refusals := 2
	l, s, _, err := runLease6(t, patientDHCP6Timing, 5*time.Second, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		r := answer(m, testServerDUID6, false, "2001:db8::60")
		if m.MessageType == dhcpv6.MessageTypeRequest && refusals > 0 {
			refusals--
			r.UpdateOption(testIANA(testIAID6, 0, 0, noAddrs("taken meanwhile")))
		}
		return []*dhcpv6.Message{r}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::60", false)
	var types []string
	for _, m := range s.messages() {
		types = append(types, m.MessageType.String())
	}
	if want := "SOLICIT REQUEST SOLICIT REQUEST SOLICIT REQUEST"; strings.Join(types, " ") != want {
		t.Errorf("server got %s, want %s", types, want)
	}
}

func TestLease6NoServer(t *testing.T) {
	start := time.Now()
	l, s, _, err := runLease6(t, fastDHCP6Timing, 300*time.Millisecond, func(int, *dhcpv6.Message) []*dhcpv6.Message { return nil })
	if l != nil || !errors.Is(err, ErrNoLease6) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lease %v, error %v", l, err)
	}
	if !strings.Contains(err.Error(), "no DHCPv6 server answered") {
		t.Errorf("error %q", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s past a 300ms deadline", d)
	}
	// 20, 40, 80, 160 ms: about four Solicits fit in 300 ms.
	if n := len(s.messages()); n < 3 || n > 6 {
		t.Errorf("%d Solicits in 300ms", n)
	}
}

func TestLease6AlwaysRefused(t *testing.T) {
	l, _, _, err := runLease6(t, fastDHCP6Timing, 300*time.Millisecond, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		r := answer(m, testServerDUID6, false, "2001:db8::60")
		if m.MessageType == dhcpv6.MessageTypeRequest {
			r.UpdateOption(testIANA(testIAID6, 0, 0, noAddrs("pool exhausted")))
		}
		return []*dhcpv6.Message{r}
	})
	if l != nil || !errors.Is(err, ErrNoLease6) {
		t.Fatalf("lease %v, error %v", l, err)
	}
	if !strings.Contains(err.Error(), `IA_NA status NoAddrsAvail: "pool exhausted"`) {
		t.Errorf("error %q does not say why", err)
	}
	var se *status6Error
	if errors.As(err, &se) {
		t.Errorf("the final error wraps the status of one attempt: %v", se)
	}
}

func TestLease6AdvertisesNothingUsable(t *testing.T) {
	l, _, _, err := runLease6(t, fastDHCP6Timing, 200*time.Millisecond, func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		r := answer(m, testServerDUID6, false, "2001:db8::60")
		r.UpdateOption(noAddrs("no addresses for you"))
		return []*dhcpv6.Message{r}
	})
	if l != nil || !errors.Is(err, ErrNoLease6) || !strings.Contains(err.Error(), "replies ignored") ||
		!strings.Contains(err.Error(), "NoAddrsAvail") {
		t.Fatalf("lease %v, error %v", l, err)
	}
}

// A send that fails (ENOBUFS while a bond settles) is tried again.
func TestLease6SendFailsOnce(t *testing.T) {
	client, server := memPipe()
	client.failWrites.Store(1)
	s := &server6{conn: server, handle: func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		return []*dhcpv6.Message{answer(m, testServerDUID6, false, "2001:db8::80")}
	}}
	go s.serve()
	defer server.Close()
	d := &nclient6DHCP{
		addrs: func(context.Context) ([]kernel.Addr, error) {
			return []kernel.Addr{{Link: "bond0", Prefix: netip.MustParsePrefix(testLL6 + "/64")}}, nil
		},
		listen: func(string, netip.Addr) (net.PacketConn, error) { return client, nil },
		timing: fastDHCP6Timing,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := d.Lease6(ctx, "bond0", testMAC6, log6(t))
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::80", false)
	if client.failWrites.Load() != 0 {
		t.Error("the failing write never happened")
	}
}

// The client waits until the kernel lets it bind the link-local address.
func TestLease6WaitsForLinkLocal(t *testing.T) {
	client, server := memPipe()
	s := &server6{conn: server, handle: func(_ int, m *dhcpv6.Message) []*dhcpv6.Message {
		return []*dhcpv6.Message{answer(m, testServerDUID6, true, "2001:db8::90")}
	}}
	go s.serve()
	defer server.Close()
	var looks, binds atomic.Int32
	d := &nclient6DHCP{
		addrs: func(context.Context) ([]kernel.Addr, error) {
			if looks.Add(1) <= 2 { // no link-local address yet
				return []kernel.Addr{{Link: "bond0", Prefix: netip.MustParsePrefix("192.0.2.10/24")}}, nil
			}
			return []kernel.Addr{{Link: "bond0", Prefix: netip.MustParsePrefix(testLL6 + "/64")}}, nil
		},
		listen: func(string, netip.Addr) (net.PacketConn, error) {
			if binds.Add(1) <= 2 { // tentative
				return nil, &net.OpError{Op: "listen", Net: "udp6", Err: syscall.EACCES}
			}
			return client, nil
		},
		timing: fastDHCP6Timing,
	}
	// An error that is not EADDRNOTAVAIL ends the wait at once.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.Lease6(ctx, "bond0", testMAC6, log6(t)); err == nil || errors.Is(err, ErrNoLinkLocal) ||
		!errors.Is(err, ErrNoLease6) || looks.Load() != 3 {
		t.Fatalf("error %v after %d looks", err, looks.Load())
	}

	binds.Store(0)
	d.listen = func(string, netip.Addr) (net.PacketConn, error) {
		if binds.Add(1) <= 2 {
			return nil, &net.OpError{Op: "listen", Net: "udp6", Err: syscall.EADDRNOTAVAIL}
		}
		return client, nil
	}
	start := time.Now()
	l, err := d.Lease6(ctx, "bond0", testMAC6, log6(t))
	if err != nil {
		t.Fatal(err)
	}
	checkLease6(t, l, "2001:db8::90", true)
	if binds.Load() != 3 {
		t.Errorf("bound %d times, want 3", binds.Load())
	}
	if d := time.Since(start); d < 2*kernel.PollInterval {
		t.Errorf("two tentative looks took %s, less than two poll intervals", d)
	}
}

func TestLease6NoLinkLocal(t *testing.T) {
	for _, c := range []struct {
		name   string
		addrs  []kernel.Addr
		listen error
		want   string
	}{
		{"none", []kernel.Addr{{Link: "eth0", Prefix: netip.MustParsePrefix("fe80::1/64")}}, nil, "none on the link"},
		{"tentative", []kernel.Addr{{Link: "bond0", Prefix: netip.MustParsePrefix(testLL6 + "/64")}},
			syscall.EADDRNOTAVAIL, testLL6 + " still tentative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &nclient6DHCP{
				addrs: func(context.Context) ([]kernel.Addr, error) { return c.addrs, nil },
				listen: func(string, netip.Addr) (net.PacketConn, error) {
					if c.listen == nil {
						t.Error("listen called")
					}
					return nil, c.listen
				},
				timing: fastDHCP6Timing,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			_, err := d.Lease6(ctx, "bond0", testMAC6, log6(t))
			if !errors.Is(err, ErrNoLinkLocal) || !errors.Is(err, ErrNoLease6) || !errors.Is(err, context.DeadlineExceeded) ||
				!strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

func TestLease6BadMAC(t *testing.T) {
	d := newNclient6DHCP(func(context.Context) ([]kernel.Addr, error) {
		t.Error("looked for addresses")
		return nil, nil
	})
	if _, err := d.Lease6(context.Background(), "bond0", net.HardwareAddr{1, 2, 3}, nil); err == nil {
		t.Fatal("no error for a 3-byte MAC")
	}
}
