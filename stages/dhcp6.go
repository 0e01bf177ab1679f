package stages

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan/spec"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"
	uiorand "github.com/u-root/uio/rand"
)

// DHCPv6 transmission parameters (RFC 8415 section 7.6). bondstrap does not
// delay its first Solicit (SOL_MAX_DELAY): a boot is waiting on it.
const (
	sol6Timeout = time.Second
	sol6MaxRT   = 3600 * time.Second
	req6Timeout = time.Second
	req6MaxRT   = 30 * time.Second
	req6MaxRC   = 10
)

// lease6Infinity is the lifetime RFC 8415 calls infinite (0xffffffff
// seconds).
const lease6Infinity = 0xffffffff * time.Second

// maxLease6Lifetime is the longest finite lifetime taken from a lease: one
// second short of infinity, so that no finite lifetime becomes the kernel's
// "forever" or wraps its 32-bit seconds.
const maxLease6Lifetime = lease6Infinity - time.Second

// Bounds on what a reply may give.
const (
	maxLease6Addrs  = 8
	maxLease6DNS    = 8
	maxLease6Search = 16
	// maxDUIDLen is a DUID's largest size with its type (RFC 8415 section
	// 11.1).
	maxDUIDLen = 130
)

// ErrNoLease6 is wrapped by the error of a DHCPv6 exchange that got no
// lease before its deadline.
var ErrNoLease6 = errors.New("no DHCPv6 lease")

// ErrNoLinkLocal is wrapped, with ErrNoLease6, when the interface had no
// usable IPv6 link-local address to send from before the deadline: IPv6
// disabled, no carrier, or duplicate address detection not finished (or
// failed).
var ErrNoLinkLocal = errors.New("no usable IPv6 link-local address")

// DHCPv6Client gets a DHCPv6 lease of addresses (IA_NA) for an interface,
// within ctx.
//
// # Identity
//
// bondstrap identifies itself to a DHCPv6 server with values computed from
// the interface's MAC alone, so that systemd-networkd, after the reboot,
// sends the same ones and the server hands back the same binding (RFC 8415
// keys a binding on DUID and IAID):
//
//   - DUID: DUID-LL (RFC 8415 section 11.4): 00 03, the hardware type (00 01
//     for a 6-byte Ethernet MAC, 00 20 for a 20-byte InfiniBand address),
//     then the MAC. For 52:54:00:12:34:56 it is 00:03:00:01:52:54:00:12:34:56.
//   - IAID of the IA_NA: the MAC's last four bytes, in that order on the
//     wire. For 52:54:00:12:34:56 it is 00 12 34 56, the number 0x00123456
//     = 1193046.
//
// Why not networkd's defaults (v252, read in src/libsystemd-network/
// dhcp-identifier.c and src/network/networkd-dhcp-common.c): its DUID is
// DUID-EN (enterprise 43793) of a siphash of /etc/machine-id, which an
// initramfs may not have, or not have yet on a first boot; its IAID is a
// siphash of the interface's udev persistent name, else of its MAC, with a
// byte-order quirk. bondstrap could not compute either reliably, and any
// mismatch makes the server see a new client after the reboot (a second
// address, the first one held until it expires). Not DUID-LLT either: its
// time field would have to be persisted too. DUID-LL of the bond's MAC is
// stable because the persisted units pin that MAC (MACAddress=).
//
// The .network unit reproduces both with (checked against networkd v252,
// Debian 12's):
//
//	[DHCPv6]
//	DUIDType=link-layer
//	DUIDRawData=00:01:52:54:00:12:34:56
//	IAID=1193046
//
// DUIDRawData is the DUID without its type: the hardware type and the MAC.
// It pins the DUID even if the link's MAC were not the same after the
// reboot; DUIDType=link-layer alone would derive the same bytes from the
// link's current MAC. networkdDHCPv6 computes the three values. Traps, from
// v252's source: DUIDRawData= is ignored without DUIDType=; [DHCPv6]
// DUIDType= does not mark the DUID as set, so a [DHCPv4] or [DHCP]
// DUIDType= later in the same file overwrites it (set DUIDType= in
// [DHCPv6] only, or write that section last); [DHCPv4] IAID= also sets the
// DHCPv6 IAID unless [DHCPv6] IAID= is given, so always give it; IAID= is
// read with base prefixes (safe_atou32: 0x..., 0o...), so write it in
// decimal without leading zeros. networkd starts its DHCPv6 client only when a router advertisement
// carries the M or O flag, unless [DHCPv6] WithoutRA=solicit.
type DHCPv6Client interface {
	// Lease6 runs DHCPv6 on ifname until it has a lease or ctx is done.
	// mac is the interface's MAC: the client's DUID and IAID are made from
	// it (see networkdDHCPv6).
	Lease6(ctx context.Context, ifname string, mac net.HardwareAddr, log *slog.Logger) (*Lease6, error)
}

// Lease6 is what a DHCPv6 server granted: the addresses of one IA_NA and
// the configuration options that came with them, as the server sent them
// (lease6Config decides what to use).
type Lease6 struct {
	// Addrs are the IA_NA's addresses, in the server's order, but for
	// those RFC 8415 has the client discard (a failure status of their
	// own, a preferred lifetime above the valid one).
	Addrs []Lease6Addr
	// DNS and Search are options 23 and 24.
	DNS    []netip.Addr
	Search []string
	// ServerID is the server's DUID; ClientID the client's, both as sent.
	ServerID []byte
	ClientID []byte
	IAID     [4]byte
	// T1 and T2 are the IA_NA's renew and rebind times; 0 leaves them to
	// the client, lease6Infinity means never.
	T1, T2 time.Duration
	// RapidCommit is true when the server committed the lease in answer to
	// the Solicit (two messages instead of four).
	RapidCommit bool
	Obtained    time.Time
}

// Lease6Addr is one address of an IA_NA. A DHCPv6 address has no prefix
// length (it is a /128); the link's prefixes and routes come from router
// advertisements.
type Lease6Addr struct {
	Addr netip.Addr
	// Preferred and Valid are its lifetimes; lease6Infinity means forever.
	Preferred, Valid time.Duration
}

// Lease6Report is the DHCPv6 lease an interface got, as report.json holds
// it.
type Lease6Report struct {
	// ClientDUID (hex bytes, colon-separated) and IAID ("0x" and hex, as
	// networkd's DHCP6_CLIENT_IAID in /run/systemd/netif/links/) are what
	// bondstrap identified itself with.
	ClientDUID string `json:"client_duid"`
	IAID       string `json:"iaid"`
	ServerDUID string `json:"server_duid,omitempty"`
	// Addresses are the addresses taken, each a /128.
	Addresses []Lease6AddrReport `json:"addresses,omitempty"`
	// T1 and T2 are in milliseconds; -1 means infinite, 0 left to the
	// client.
	T1          Millis    `json:"t1_ms"`
	T2          Millis    `json:"t2_ms"`
	Obtained    time.Time `json:"obtained,omitzero"`
	RapidCommit bool      `json:"rapid_commit,omitempty"`
	DNS         []string  `json:"dns,omitempty"`
	Search      []string  `json:"search,omitempty"`
	// Dropped says which of the server's values were not taken, and why.
	Dropped []string `json:"dropped,omitempty"`
}

// Lease6AddrReport is one address of a DHCPv6 lease; lifetimes are in
// milliseconds, -1 for infinite.
type Lease6AddrReport struct {
	Address   string `json:"address"`
	Preferred Millis `json:"preferred_ms"`
	Valid     Millis `json:"valid_ms"`
}

// dhcp6DUID is the client's DUID: DUID-LL of mac (spec.DHCPv6HWType).
func dhcp6DUID(mac net.HardwareAddr) (*dhcpv6.DUIDLL, error) {
	hw := spec.DHCPv6HWType(mac)
	if hw == 0 {
		return nil, fmt.Errorf("no DHCPv6 DUID from hardware address %q: neither Ethernet nor InfiniBand", mac)
	}
	return &dhcpv6.DUIDLL{HWType: iana.HWType(hw), LinkLayerAddr: slices.Clone(mac)}, nil
}

// dhcp6IAID is the IAID of the client's IA_NA (spec.DHCPv6IAID) as it goes
// on the wire. dhcp6DUID has checked the MAC's length.
func dhcp6IAID(mac net.HardwareAddr) [4]byte {
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], spec.DHCPv6IAID(mac))
	return id
}

// networkdDHCPv6 is spec.NetworkdDHCPv6, what the units write.
func networkdDHCPv6(mac net.HardwareAddr) (duidType, duidRawData, iaid string, err error) {
	return spec.NetworkdDHCPv6(mac)
}

func iaidNumber(id [4]byte) uint32 {
	return uint32(id[0])<<24 | uint32(id[1])<<16 | uint32(id[2])<<8 | uint32(id[3])
}

func colonHex(b []byte) string {
	s := make([]byte, 0, 3*len(b))
	for i, c := range b {
		if i > 0 {
			s = append(s, ':')
		}
		s = hex.AppendEncode(s, []byte{c})
	}
	return string(s)
}

// dhcp6Timing holds the retransmission parameters, so tests can run the
// exchange fast.
type dhcp6Timing struct {
	solTimeout, solMaxRT time.Duration
	reqTimeout, reqMaxRT time.Duration
	reqMaxRC             int
	// restart is the pause before soliciting again after a Request failed
	// (no reply, or a refusal), so a refusing server is not hammered.
	restart time.Duration
}

var defaultDHCP6Timing = dhcp6Timing{
	solTimeout: sol6Timeout, solMaxRT: sol6MaxRT,
	reqTimeout: req6Timeout, reqMaxRT: req6MaxRT, reqMaxRC: req6MaxRC,
	restart: nakBackoff,
}

// nclient6DHCP is the DHCPv6 client of insomniacslk/dhcp (nclient6) on a
// UDP socket bound to the interface's link-local address, port 546.
//
// It uses nclient6 for the socket and for pairing replies with requests by
// transaction ID, and builds and checks the messages itself: nclient6's own
// Solicit sends a DUID-LLT with the current time, never updates the elapsed
// time on retransmission, and takes any reply without checking that it is
// for this client. nclient6 reads at most 1500 bytes per datagram: a longer
// reply is dropped as malformed.
type nclient6DHCP struct {
	// addrs lists the kernel's addresses (kernel.Kernel.Addrs): the
	// client looks for the interface's link-local address there.
	addrs func(context.Context) ([]kernel.Addr, error)
	// listen opens the client's socket on the link-local address ll of
	// ifname; it fails with EADDRNOTAVAIL while ll is tentative.
	listen func(ifname string, ll netip.Addr) (net.PacketConn, error)
	timing dhcp6Timing
}

// newNclient6DHCP returns the DHCPv6 client that finds link-local
// addresses with addrs (the stage passes its kernel's Addrs).
func newNclient6DHCP(addrs func(context.Context) ([]kernel.Addr, error)) *nclient6DHCP {
	return &nclient6DHCP{addrs: addrs, listen: listenDHCP6, timing: defaultDHCP6Timing}
}

// listenDHCP6 opens a UDP socket on [ll%ifname]:546. Binding to a link-local
// address with its zone also binds the socket to the interface, so the
// multicast Solicit leaves through it.
func listenDHCP6(ifname string, ll netip.Addr) (net.PacketConn, error) {
	return net.ListenUDP("udp6", &net.UDPAddr{IP: ll.AsSlice(), Port: dhcpv6.DefaultClientPort, Zone: ifname})
}

// Lease6 waits for a usable link-local address on ifname, then runs
// Solicit/Advertise/Request/Reply (or Solicit/Reply when the server does
// Rapid Commit) until it has a lease or ctx is done. A failed Request
// (no reply, or a refusal such as NoAddrsAvail) starts over with a
// Solicit.
func (d *nclient6DHCP) Lease6(ctx context.Context, ifname string, mac net.HardwareAddr, log *slog.Logger) (*Lease6, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	duid, err := dhcp6DUID(mac)
	if err != nil {
		return nil, fmt.Errorf("DHCPv6 on %s: %w", ifname, err)
	}
	// Transaction IDs come from earlyRandom (never blocking on the
	// kernel's pool), and so does anything the library itself draws.
	useEarlyRandom()

	conn, ll, err := d.open(ctx, ifname, log)
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %w", ErrNoLease6, ifname, err)
	}
	dest := &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: dhcpv6.DefaultServerPort, Zone: ifname}
	c, err := nclient6.NewWithConn(conn, mac,
		// The exchange ends each wait with a context of its own: the
		// library's timer and retries stay out of the way.
		nclient6.WithTimeout(24*time.Hour),
		nclient6.WithRetry(1),
		nclient6.WithBroadcastAddr(dest))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("DHCPv6 client on %s: %w", ifname, err)
	}
	defer c.Close()

	x := &exchange6{
		c: c, dest: dest, ifname: ifname, duid: duid, clientID: duid.ToBytes(), iaid: dhcp6IAID(mac),
		timing: d.timing, log: log.With("interface", ifname),
	}
	x.log.Info("DHCPv6: soliciting", "source", ll.String(), "duid", colonHex(x.clientID),
		"iaid", fmt.Sprintf("0x%x", iaidNumber(x.iaid)))
	return x.run(ctx)
}

// open waits for a link-local address on ifname that the kernel lets the
// client bind, and opens the client's socket on it. The kernel refuses to
// bind a tentative address (duplicate address detection not finished, or
// failed) with EADDRNOTAVAIL, and accepts an optimistic one: binding is
// the test. It looks again every kernel.PollInterval until ctx is done.
func (d *nclient6DHCP) open(ctx context.Context, ifname string, log *slog.Logger) (net.PacketConn, netip.Addr, error) {
	tick := time.NewTicker(kernel.PollInterval)
	defer tick.Stop()
	waiting := false
	for {
		as, err := d.addrs(ctx)
		if err != nil && ctx.Err() == nil {
			return nil, netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifname, err)
		}
		var tentative []string
		for _, a := range as {
			ll := a.Prefix.Addr()
			if a.Link != ifname || !ll.Is6() || !ll.IsLinkLocalUnicast() {
				continue
			}
			conn, err := d.listen(ifname, ll)
			if err == nil {
				return conn, ll, nil
			}
			if !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return nil, ll, fmt.Errorf("DHCPv6 socket on [%s%%%s]:%d: %w", ll, ifname, dhcpv6.DefaultClientPort, err)
			}
			tentative = append(tentative, ll.String())
		}
		if !waiting {
			waiting = true
			log.Info("DHCPv6: waiting for a usable link-local address (duplicate address detection)",
				"interface", ifname, "tentative", tentative)
		}
		select {
		case <-ctx.Done():
			why := "none on the link (IPv6 disabled, or no carrier)"
			if len(tentative) > 0 {
				why = strings.Join(tentative, ", ") + " still tentative (duplicate address detection not finished, or failed)"
			}
			return nil, netip.Addr{}, fmt.Errorf("%w on %s: %s: %w", ErrNoLinkLocal, ifname, why, ctx.Err())
		case <-tick.C:
		}
	}
}

// exchange6 is one run of the DHCPv6 client on one interface.
type exchange6 struct {
	c        *nclient6.Client
	dest     *net.UDPAddr
	ifname   string
	duid     dhcpv6.DUID
	clientID []byte
	iaid     [4]byte
	timing   dhcp6Timing
	log      *slog.Logger

	// What the final error says: messages sent, replies ignored and the
	// last reason, the last failed Request, the last send error.
	sent        int
	ignored     int
	lastIgnored string
	lastFailure error
	lastSendErr error
}

func (x *exchange6) run(ctx context.Context) (*Lease6, error) {
	for {
		adv, lease, err := x.solicit(ctx)
		if err != nil {
			return nil, x.fail(err)
		}
		if lease == nil {
			lease, err = x.request(ctx, adv)
		}
		if err == nil {
			lease.ClientID = x.clientID
			lease.Obtained = time.Now()
			return lease, nil
		}
		if ctx.Err() != nil {
			return nil, x.fail(ctx.Err())
		}
		x.lastFailure = err
		x.log.Info("DHCPv6: request failed; soliciting again", "error", err)
		t := time.NewTimer(x.timing.restart)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, x.fail(ctx.Err())
		case <-t.C:
		}
	}
}

// fail is the error of an exchange that ended without a lease.
func (x *exchange6) fail(err error) error {
	why := "no DHCPv6 server answered"
	switch {
	case x.lastFailure != nil:
		why = x.lastFailure.Error()
	case x.ignored > 0:
		why = fmt.Sprintf("%d replies ignored, the last: %s", x.ignored, x.lastIgnored)
	case x.lastSendErr != nil:
		why = "sending failed: " + x.lastSendErr.Error()
	}
	return fmt.Errorf("%w on %s after %d messages: %s: %w", ErrNoLease6, x.ifname, x.sent, why, err)
}

// solicit sends Solicits until a usable Advertise, or a Rapid Commit Reply,
// comes: it returns the Advertise, or the lease of the Reply. The first
// usable answer wins; bondstrap does not wait out the first retransmission
// time to compare the preferences of several servers.
func (x *exchange6) solicit(ctx context.Context) (*dhcpv6.Message, *Lease6, error) {
	xid, err := newXID6(ctx)
	if err != nil {
		return nil, nil, err
	}
	msg := x.newSolicit(xid)
	var lease *Lease6
	match := func(m *dhcpv6.Message) bool {
		l, err := x.checkSolicitAnswer(m)
		if err != nil {
			x.ignore(m, err)
			return false
		}
		lease = l
		return true
	}
	start := time.Now()
	rt := jitter6(x.timing.solTimeout, true)
	for {
		m, err := x.attempt(ctx, msg, start, rt, match)
		if err != nil {
			return nil, nil, err
		}
		if m != nil {
			if m.MessageType == dhcpv6.MessageTypeReply {
				lease.RapidCommit = true
				x.log.Info("DHCPv6: lease committed by Rapid Commit", "server", colonHex(lease.ServerID))
				return nil, lease, nil
			}
			x.log.Info("DHCPv6: advertised", "server", colonHex(lease.ServerID), "addresses", len(lease.Addrs))
			return m, nil, nil
		}
		rt = nextRT6(rt, x.timing.solMaxRT)
	}
}

// request sends Requests for what adv offered, at most reqMaxRC times, and
// returns the lease of the server's Reply.
func (x *exchange6) request(ctx context.Context, adv *dhcpv6.Message) (*Lease6, error) {
	xid, err := newXID6(ctx)
	if err != nil {
		return nil, err
	}
	offered, err := lease6FromReply(adv, x.iaid)
	if err != nil { // checkSolicitAnswer has read it already
		return nil, err
	}
	msg := x.newRequest(xid, adv.Options.ServerID(), offered)
	server := adv.Options.ServerID().ToBytes()
	match := func(m *dhcpv6.Message) bool {
		err := x.checkAuthentic(m, dhcpv6.MessageTypeReply)
		if err == nil && !bytes.Equal(m.Options.ServerID().ToBytes(), server) {
			err = fmt.Errorf("from server %s, not %s", colonHex(m.Options.ServerID().ToBytes()), colonHex(server))
		}
		if err != nil {
			x.ignore(m, err)
			return false
		}
		return true
	}
	start := time.Now()
	rt := jitter6(x.timing.reqTimeout, false)
	for range x.timing.reqMaxRC {
		m, err := x.attempt(ctx, msg, start, rt, match)
		if err != nil {
			return nil, err
		}
		if m != nil {
			l, err := lease6FromReply(m, x.iaid)
			if err != nil {
				return nil, fmt.Errorf("server %s refused the request: %w", colonHex(server), err)
			}
			if c, _ := lease6Config(l); len(c.Addrs) == 0 {
				return nil, fmt.Errorf("server %s replied with no usable address", colonHex(server))
			}
			return l, nil
		}
		rt = nextRT6(rt, x.timing.reqMaxRT)
	}
	return nil, fmt.Errorf("no reply from server %s to %d requests", colonHex(server), x.timing.reqMaxRC)
}

// attempt sends msg, with the elapsed time since start, and waits up to rt
// for an answer that match accepts. It returns nil and no error when rt
// passes without one (and when sending failed: the next attempt tries
// again, as the socket can fail while a bond settles), and an error only
// when ctx is done.
func (x *exchange6) attempt(ctx context.Context, msg *dhcpv6.Message, start time.Time, rt time.Duration,
	match nclient6.Matcher) (*dhcpv6.Message, error) {
	msg.UpdateOption(dhcpv6.OptElapsedTime(elapsed6(time.Since(start))))
	actx, cancel := context.WithTimeout(ctx, rt)
	defer cancel()
	x.sent++
	x.log.Debug("DHCPv6: sending", "type", msg.MessageType.String(), "xid", msg.TransactionID.String(),
		"elapsed", msg.Options.ElapsedTime(), "wait", rt.Round(time.Millisecond))
	m, err := x.c.SendAndRead(actx, x.dest, msg, match)
	switch {
	case err == nil:
		x.log.Debug("DHCPv6: received", "type", m.MessageType.String(), "xid", m.TransactionID.String())
		return m, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return nil, nil
	default:
		x.sent--
		x.lastSendErr = err
		x.log.Info("DHCPv6: sending failed; trying again", "error", err)
		<-actx.Done()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
}

func (x *exchange6) ignore(m *dhcpv6.Message, err error) {
	x.ignored++
	x.lastIgnored = fmt.Sprintf("%s: %v", m.MessageType, err)
	x.log.Info("DHCPv6: reply ignored", "type", m.MessageType.String(), "reason", err)
}

// checkAuthentic checks that m is of type want and answers this client
// from some server (RFC 8415 sections 16.3 and 16.10).
func (x *exchange6) checkAuthentic(m *dhcpv6.Message, want dhcpv6.MessageType) error {
	if m.MessageType != want {
		return fmt.Errorf("a %s where a %s was due", m.MessageType, want)
	}
	cid := m.Options.ClientID()
	if cid == nil {
		return errors.New("no client identifier")
	}
	if !bytes.Equal(cid.ToBytes(), x.clientID) {
		return fmt.Errorf("for client %s", colonHex(cid.ToBytes()))
	}
	sid := m.Options.ServerID()
	if sid == nil {
		return errors.New("no server identifier")
	}
	if n := len(sid.ToBytes()); n < 3 || n > maxDUIDLen {
		return fmt.Errorf("a server identifier of %d bytes", n)
	}
	return nil
}

// checkSolicitAnswer accepts an Advertise, or a Reply with Rapid Commit,
// that answers this client and offers at least one usable address, and
// returns what it offers.
func (x *exchange6) checkSolicitAnswer(m *dhcpv6.Message) (*Lease6, error) {
	want := dhcpv6.MessageTypeAdvertise
	if m.MessageType == dhcpv6.MessageTypeReply {
		if m.GetOneOption(dhcpv6.OptionRapidCommit) == nil {
			return nil, errors.New("a Reply to a Solicit without Rapid Commit")
		}
		want = dhcpv6.MessageTypeReply
	}
	if err := x.checkAuthentic(m, want); err != nil {
		return nil, err
	}
	l, err := lease6FromReply(m, x.iaid)
	if err != nil {
		return nil, err
	}
	if c, _ := lease6Config(l); len(c.Addrs) == 0 {
		return nil, errors.New("no usable address offered")
	}
	return l, nil
}

// newSolicit builds a Solicit: client identifier, elapsed time, the options
// bondstrap uses (DNS servers, domain search list), Rapid Commit, and an
// empty IA_NA with the client's IAID.
func (x *exchange6) newSolicit(xid dhcpv6.TransactionID) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeSolicit, TransactionID: xid}
	m.AddOption(dhcpv6.OptClientID(x.duid))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	m.AddOption(dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList))
	m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	m.AddOption(&dhcpv6.OptIANA{IaId: x.iaid})
	return m
}

// newRequest builds a Request to server for the usable addresses offered,
// with zero lifetimes and T1/T2 (RFC 8415 sections 21.4, 21.6: the server
// chooses).
func (x *exchange6) newRequest(xid dhcpv6.TransactionID, server dhcpv6.DUID, offered *Lease6) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeRequest, TransactionID: xid}
	m.AddOption(dhcpv6.OptClientID(x.duid))
	m.AddOption(dhcpv6.OptServerID(server))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	m.AddOption(dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList))
	ia := &dhcpv6.OptIANA{IaId: x.iaid}
	c, _ := lease6Config(offered)
	for _, p := range c.Addrs {
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.IP(p.Addr().AsSlice())})
	}
	m.AddOption(ia)
	return m
}

// newXID6 draws a transaction ID from the installed random reader
// (earlyRandom), within ctx.
func newXID6(ctx context.Context) (dhcpv6.TransactionID, error) {
	var xid dhcpv6.TransactionID
	if _, err := uiorand.ReadContext(ctx, xid[:]); err != nil {
		return xid, fmt.Errorf("DHCPv6 transaction ID: %w", err)
	}
	return xid, nil
}

// elapsed6 caps an elapsed time at what the option holds (0xffff
// hundredths of a second): the library's encoding would wrap.
func elapsed6(d time.Duration) time.Duration {
	return min(d, 0xffff*10*time.Millisecond)
}

// jitter6 adds RAND*rt, RAND uniform in [-0.1, 0.1] (RFC 8415 section
// 15), or in [0, 0.1] for the first Solicit, whose RAND must be positive.
func jitter6(rt time.Duration, positive bool) time.Duration {
	r := rand.Float64()*0.2 - 0.1
	if positive {
		r = rand.Float64() * 0.1
	}
	return rt + time.Duration(float64(rt)*r)
}

// nextRT6 is the next retransmission time: doubled, with jitter, capped at
// maxRT with jitter (RFC 8415 section 15).
func nextRT6(rt, maxRT time.Duration) time.Duration {
	rt = jitter6(2*rt, false)
	if maxRT > 0 && rt > maxRT {
		rt = jitter6(maxRT, false)
	}
	return rt
}

// status6Error is a failure status a server sent (RFC 8415 section 21.13),
// in a message or in an IA.
type status6Error struct {
	Code    iana.StatusCode
	Message string
	In      string
}

func (e *status6Error) Error() string {
	s := fmt.Sprintf("%s status %s", e.In, e.Code)
	if e.Message != "" {
		s += ": " + strconv.Quote(e.Message)
	}
	return s
}

func status6(sc *dhcpv6.OptStatusCode, in string) error {
	if sc == nil || sc.StatusCode == iana.StatusSuccess {
		return nil
	}
	return &status6Error{Code: sc.StatusCode, Message: printable(sc.StatusMessage, 80), In: in}
}

// lease6FromReply reads the lease of the IA_NA with iaid out of a Reply
// (or what an Advertise offers). It fails when the message or that IA
// carries a failure status (NoAddrsAvail, ...), when the message has no
// such IA or no server identifier, when T1 > T2 (RFC 8415 section 21.4 has
// the client discard the IA), or when no address is left: those with a
// failure status of their own, or a preferred lifetime above the valid one
// (section 21.6), are left out. Everything else is taken as sent:
// lease6Config judges it.
func lease6FromReply(m *dhcpv6.Message, iaid [4]byte) (*Lease6, error) {
	if err := status6(m.Options.Status(), "message"); err != nil {
		return nil, err
	}
	sid := m.Options.ServerID()
	if sid == nil {
		return nil, errors.New("no server identifier")
	}
	var ia *dhcpv6.OptIANA
	for _, o := range m.Options.IANA() {
		if o.IaId == iaid {
			ia = o
			break
		}
	}
	if ia == nil {
		return nil, fmt.Errorf("no IA_NA %x", iaid[:])
	}
	if err := status6(ia.Options.Status(), "IA_NA"); err != nil {
		return nil, err
	}
	if ia.T1 > 0 && ia.T2 > 0 && ia.T1 > ia.T2 {
		return nil, fmt.Errorf("IA_NA with T1 %s above T2 %s", ia.T1, ia.T2)
	}
	l := &Lease6{ServerID: sid.ToBytes(), IAID: iaid, T1: ia.T1, T2: ia.T2}
	for _, a := range ia.Options.Addresses() {
		if status6(a.Options.Status(), "address") != nil || a.PreferredLifetime > a.ValidLifetime {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IPv6Addr)
		if !ok {
			continue
		}
		l.Addrs = append(l.Addrs, Lease6Addr{Addr: ip, Preferred: a.PreferredLifetime, Valid: a.ValidLifetime})
	}
	if len(l.Addrs) == 0 {
		return nil, errors.New("no address in the IA_NA")
	}
	for _, ip := range m.Options.DNS() {
		if a, ok := netip.AddrFromSlice(ip); ok {
			l.DNS = append(l.DNS, a)
		}
	}
	if labels := m.Options.DomainSearchList(); labels != nil {
		l.Search = labels.Labels
	}
	return l, nil
}

// usableLease6Addr reports why an address may not be taken from a lease,
// or "" when it may: it must be a unicast IPv6 address of global or
// unique-local scope, not an IPv4 one in disguise.
func usableLease6Addr(a netip.Addr) string {
	switch {
	case !a.Is6() || a.Is4In6():
		return "not IPv6"
	case a.Zone() != "":
		return "scoped"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsMulticast():
		return "multicast"
	case a.IsLinkLocalUnicast():
		return "link-local"
	}
	return ""
}

// lease6Config turns a DHCPv6 lease into an interface configuration: each
// address as a /128 (DHCPv6 gives no prefix length and no routes; those
// come from router advertisements), DNS servers and search domains. What a
// server sends is not trusted: addresses that are not global or
// unique-local unicast, with a zero valid or preferred lifetime, or a
// preferred lifetime above the valid one, are dropped; finite lifetimes
// are capped below infinity; at most maxLease6Addrs addresses,
// maxLease6DNS servers and maxLease6Search domains are taken, without
// repeats; names that could not be written to resolv.conf or a unit file
// are left out. Lifetime is the shortest valid lifetime of the addresses
// taken (0, forever, when all are infinite): ifConfig has one lifetime for
// all its addresses. The report keeps each address's own.
func lease6Config(l *Lease6) (ifConfig, *Lease6Report) {
	c := ifConfig{Protocol: kernel.ProtoDHCP}
	lr := &Lease6Report{
		ClientDUID: colonHex(l.ClientID), IAID: fmt.Sprintf("0x%x", iaidNumber(l.IAID)),
		ServerDUID: colonHex(l.ServerID), T1: lifetime6Millis(l.T1), T2: lifetime6Millis(l.T2),
		Obtained: l.Obtained, RapidCommit: l.RapidCommit,
	}
	drop := func(what string, v any, why string) {
		lr.Dropped = append(lr.Dropped, fmt.Sprintf("%s %v: %s", what, v, why))
	}
	for _, a := range l.Addrs {
		why := usableLease6Addr(a.Addr)
		switch {
		case why != "":
		case a.Valid <= 0:
			why = "valid lifetime 0"
		case a.Preferred <= 0:
			why = "deprecated (preferred lifetime 0)"
		case a.Preferred > a.Valid:
			why = "preferred lifetime above the valid one"
		case slices.Contains(c.Addrs, netip.PrefixFrom(a.Addr, 128)):
			why = "repeated"
		case len(c.Addrs) == maxLease6Addrs:
			why = fmt.Sprintf("more than %d addresses", maxLease6Addrs)
		}
		if why != "" {
			drop("address", a.Addr, why)
			continue
		}
		p := netip.PrefixFrom(a.Addr, 128)
		c.Addrs = append(c.Addrs, p)
		pref, valid := capLifetime6(a.Preferred), capLifetime6(a.Valid)
		if valid != lease6Infinity && (c.Lifetime == 0 || valid < c.Lifetime) {
			c.Lifetime = valid
		}
		lr.Addresses = append(lr.Addresses, Lease6AddrReport{Address: p.String(),
			Preferred: lifetime6Millis(pref), Valid: lifetime6Millis(valid)})
	}
	for _, d := range l.DNS {
		why := usableLease6Addr(d)
		switch {
		case why != "":
		case slices.Contains(c.DNS, d):
			why = "repeated"
		case len(c.DNS) == maxLease6DNS:
			why = fmt.Sprintf("more than %d servers", maxLease6DNS)
		}
		if why != "" {
			drop("DNS server", d, why)
			continue
		}
		c.DNS = append(c.DNS, d)
		lr.DNS = append(lr.DNS, d.String())
	}
	for _, d := range l.Search {
		why := ""
		switch {
		case !validDomain(d):
			why = "not a domain name"
			d = strconv.Quote(printable(d, 64))
		case slices.Contains(c.Search, d):
			why = "repeated"
		case len(c.Search) == maxLease6Search:
			why = fmt.Sprintf("more than %d domains", maxLease6Search)
		}
		if why != "" {
			drop("search domain", d, why)
			continue
		}
		c.Search = append(c.Search, d)
	}
	lr.Search = c.Search
	return c, lr
}

// capLifetime6 keeps infinity, and caps any other lifetime below it.
func capLifetime6(d time.Duration) time.Duration {
	if d >= lease6Infinity {
		return lease6Infinity
	}
	return min(d, maxLease6Lifetime)
}

// lifetime6Millis is a lifetime for the report: -1 for infinity.
func lifetime6Millis(d time.Duration) Millis {
	if d >= lease6Infinity {
		return Millis(-time.Millisecond)
	}
	return Millis(max(d, 0))
}

// printable keeps the printable runes of a server's text, at most limit
// bytes of them, so a status message cannot put escape sequences on a
// console.
func printable(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.ToValidUTF8(s, ""))
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "")
	}
	return s
}
