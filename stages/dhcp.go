package stages

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// dhcpFirstWait is how long the first DISCOVER waits for an offer; the client
// doubles it on each retry, until the DHCP deadline.
const dhcpFirstWait = 2 * time.Second

// nakBackoff is the pause before starting over after a NAK.
const nakBackoff = time.Second

// ErrNoLease is wrapped by the error of a DHCP exchange that got no lease
// before its deadline.
var ErrNoLease = errors.New("no DHCPv4 lease")

// DHCPClient gets a DHCPv4 lease for an interface, within ctx.
type DHCPClient interface {
	// Lease runs DHCP on ifname as mac (the client identifier is 01 and
	// mac) until it has a lease or ctx is done.
	Lease(ctx context.Context, ifname string, mac net.HardwareAddr, log *slog.Logger) (*Lease, error)
}

// Lease is what a DHCP server granted.
type Lease struct {
	// Addr is the address with the subnet's prefix length.
	Addr netip.Prefix
	// Routers is the router option; Classless the classless static routes
	// (option 121), which, when present, take its place (RFC 3442).
	Routers   []netip.Addr
	Classless []ClasslessRoute
	DNS       []netip.Addr
	// DomainName and Search are options 15 and 119.
	DomainName string
	Search     []string
	// MTU is option 26, 0 when not sent.
	MTU      int
	Lifetime time.Duration
	Server   netip.Addr
	Obtained time.Time
}

// ClasslessRoute is one route of option 121; Via is unspecified for a route
// on the link.
type ClasslessRoute struct {
	Dst netip.Prefix
	Via netip.Addr
}

// minLeaseMTU is the smallest MTU a lease may set (RFC 1122's 576, which
// systemd's client also takes as the floor): anything smaller is a broken or
// hostile server.
const minLeaseMTU = 576

// dhcp runs DHCPv4 on ifname within dhcp-timeout (and the run's deadline)
// and turns the lease into the interface's configuration.
func (s *state) dhcp(ctx context.Context, ifname string) (ifConfig, *LeaseReport, error) {
	l, err := s.k.Link(ctx, ifname)
	if err != nil {
		return ifConfig{}, nil, err
	}
	mac := l.MAC
	deadline := s.until(s.cfg.DHCPTimeout())
	timeout := time.Until(deadline)
	var lease *Lease
	err = s.op(fmt.Sprintf("DHCPv4 on %s (client id 01:%s, up to %s)", ifname, mac, timeout.Round(time.Second)), func() error {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var err error
		lease, err = s.opts.DHCP.Lease(dctx, ifname, mac, s.log)
		if err != nil && dctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%w on %s: no server answered within %s", ErrNoLease, ifname, timeout.Round(time.Second))
		}
		return err
	})
	if err != nil {
		return ifConfig{}, &LeaseReport{ClientID: clientIDString(mac)}, err
	}
	c, lr := leaseConfig(lease)
	lr.ClientID = clientIDString(mac)
	if len(c.Addrs) == 0 {
		return ifConfig{}, lr, fmt.Errorf("the lease from %v has no usable address: %v", lease.Server, lease.Addr)
	}
	if lease.MTU > 0 && c.MTU == 0 {
		s.warn("lease MTU ignored: below the minimum", "interface", ifname, "mtu", lease.MTU, "minimum", minLeaseMTU)
	}
	s.note("lease", "interface", ifname, "address", lr.Address, "server", lr.Server, "lease_seconds", lr.LeaseSeconds,
		"routes", lr.Routes, "dns", lr.DNS, "mtu", lr.MTU)
	return c, lr, nil
}

// nclientDHCP is the DHCP client of insomniacslk/dhcp on a raw socket.
type nclientDHCP struct{}

// Lease runs DISCOVER/OFFER/REQUEST/ACK until ctx is done; a NAK starts
// over.
func (nclientDHCP) Lease(ctx context.Context, ifname string, mac net.HardwareAddr, log *slog.Logger) (*Lease, error) {
	l, err := acquireLease(ctx, ifname, mac, log)
	if err != nil {
		return nil, err
	}
	return fromACK(l.ACK, l.CreationTime), nil
}

// clientID is the DHCP client identifier bondstrap sends: type 1 (Ethernet)
// and the MAC, so the server keys the lease to the same identity the
// persisted networkd units use after the reboot.
func clientID(mac net.HardwareAddr) []byte { return append([]byte{1}, mac...) }

func clientIDString(mac net.HardwareAddr) string {
	id := clientID(mac)
	s := make([]byte, 0, 3*len(id))
	for i, b := range id {
		if i > 0 {
			s = append(s, ':')
		}
		s = append(s, hex.EncodeToString([]byte{b})...)
	}
	return string(s)
}

// acquireLease runs DISCOVER/OFFER/REQUEST/ACK on ifname as mac until it has
// a lease or timeout passes; a NAK starts over. The interface must have
// carrier: without it the client waits in silence. The client is made here,
// after enslaving, because it reads the MAC once.
func acquireLease(ctx context.Context, ifname string, mac net.HardwareAddr, log *slog.Logger) (*nclient4.Lease, error) {
	useEarlyRandom()

	c, err := nclient4.New(ifname,
		nclient4.WithHWAddr(mac),
		nclient4.WithTimeout(dhcpFirstWait),
		nclient4.WithRetry(-1), // the context's deadline ends the retries
		nclient4.WithLogger(dhcpLogger{log}))
	if err != nil {
		return nil, fmt.Errorf("DHCP client on %s: %w", ifname, err)
	}
	defer c.Close()

	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClientIdentifier(clientID(mac))),
		dhcpv4.WithRequestedOptions(
			dhcpv4.OptionSubnetMask,
			dhcpv4.OptionRouter,
			dhcpv4.OptionDomainNameServer,
			dhcpv4.OptionDomainName,
			dhcpv4.OptionDNSDomainSearchList,
			dhcpv4.OptionInterfaceMTU,
			dhcpv4.OptionClasslessStaticRoute,
		),
	}
	for {
		lease, err := c.Request(ctx, mods...)
		if err == nil {
			return lease, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w on %s: %w", ErrNoLease, ifname, ctx.Err())
		}
		var nak *nclient4.ErrNak
		if errors.As(err, &nak) {
			log.Info("DHCP server refused the request; starting over", "interface", ifname, "error", err)
		} else {
			// A send can fail while a bond settles (ENOBUFS while 802.3ad
			// picks its aggregator, ENETDOWN): try again until the deadline.
			log.Info("DHCP exchange failed; trying again", "interface", ifname, "error", err)
		}
		t := time.NewTimer(nakBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// fromACK reads a lease out of a DHCPACK.
func fromACK(ack *dhcpv4.DHCPv4, obtained time.Time) *Lease {
	l := &Lease{Obtained: obtained, Lifetime: ack.IPAddressLeaseTime(0)}
	if ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4()); ok {
		bits := 32
		if mask := ack.SubnetMask(); mask != nil {
			if ones, size := mask.Size(); size == 32 {
				bits = ones
			} else {
				bits = -1
			}
		} else {
			ones, _ := net.IP(ip.AsSlice()).DefaultMask().Size()
			bits = ones
		}
		if bits >= 0 {
			l.Addr = netip.PrefixFrom(ip, bits)
		}
	}
	for _, r := range ack.Router() {
		if a, ok := netip.AddrFromSlice(r.To4()); ok {
			l.Routers = append(l.Routers, a)
		}
	}
	for _, r := range ack.ClasslessStaticRoute() {
		dst, ok := kernel.IPNetPrefix(r.Dest)
		if !ok {
			continue
		}
		cr := ClasslessRoute{Dst: dst}
		if gw, ok := netip.AddrFromSlice(r.Router.To4()); ok {
			cr.Via = gw
		}
		l.Classless = append(l.Classless, cr)
	}
	if mtu, err := dhcpv4.GetUint16(dhcpv4.OptionInterfaceMTU, ack.Options); err == nil {
		l.MTU = int(mtu)
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			l.DNS = append(l.DNS, a)
		}
	}
	if labels := ack.DomainSearch(); labels != nil {
		l.Search = labels.Labels
	}
	l.DomainName = ack.DomainName()
	if sid := ack.ServerIdentifier(); sid != nil {
		l.Server, _ = netip.AddrFromSlice(sid.To4())
	}
	return l
}

// leaseConfig turns a lease into an interface configuration: the address with
// its subnet and lifetime, the routes (classless static routes when offered,
// in which case the router option is ignored, as RFC 3442 says; else a
// default route via the first router), the MTU when it is at least
// minLeaseMTU, DNS servers and search domains. What a server sends is not
// trusted: unusable values are dropped, and names that could not be written
// to resolv.conf or a unit file are left out.
func leaseConfig(lease *Lease) (ifConfig, *LeaseReport) {
	lr := &LeaseReport{}
	c := ifConfig{Protocol: kernel.ProtoDHCP}
	a := lease.Addr
	if a.IsValid() && a.Addr().Is4() && !a.Addr().IsUnspecified() && !a.Addr().IsMulticast() && !a.Addr().IsLoopback() &&
		a.Bits() >= 1 && a.Bits() <= 32 {
		c.Addrs = []netip.Prefix{a}
		lr.Address = a.String()
	}
	c.Lifetime = lease.Lifetime
	if len(lease.Classless) > 0 {
		lr.Classless = true
		for _, r := range lease.Classless {
			if !r.Dst.IsValid() || !r.Dst.Addr().Is4() {
				continue
			}
			rs := routeSpec{Dst: r.Dst.Masked()}
			if r.Via.IsValid() && r.Via.Is4() && !r.Via.IsUnspecified() {
				rs.Gw = r.Via
			}
			c.Routes = append(c.Routes, rs)
		}
	} else {
		for _, gw := range lease.Routers {
			if gw.Is4() && !gw.IsUnspecified() && !gw.IsMulticast() {
				c.Routes = append(c.Routes, routeSpec{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gw})
				break
			}
		}
	}
	if lease.MTU >= minLeaseMTU && lease.MTU <= 65535 {
		c.MTU = lease.MTU
	}
	for _, d := range lease.DNS {
		if d.IsValid() && !d.IsUnspecified() && !d.IsMulticast() {
			c.DNS = append(c.DNS, d)
		}
	}
	for _, d := range lease.Search {
		if validDomain(d) {
			c.Search = append(c.Search, d)
		}
	}
	if len(c.Search) == 0 && validDomain(lease.DomainName) {
		c.Search = []string{lease.DomainName}
	}
	if lease.Server.IsValid() {
		lr.Server = lease.Server.String()
	}
	lr.LeaseSeconds = int64(c.Lifetime / time.Second)
	lr.Obtained = lease.Obtained
	for _, r := range c.Routes {
		lr.Routes = append(lr.Routes, r.String())
	}
	for _, d := range c.DNS {
		lr.DNS = append(lr.DNS, d.String())
	}
	lr.Search = c.Search
	lr.MTU = c.MTU
	return c, lr
}

// dhcpLogger sends the DHCP client's chatter to slog at debug level.
type dhcpLogger struct{ log *slog.Logger }

func (d dhcpLogger) Printf(format string, v ...any) { d.log.Debug(fmt.Sprintf(format, v...)) }

func (d dhcpLogger) PrintMessage(prefix string, m *dhcpv4.DHCPv4) {
	d.log.Debug("dhcp: "+prefix, "type", m.MessageType().String(), "xid", m.TransactionID.String())
}
