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

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"golang.org/x/sys/unix"
)

// dhcpFirstWait is how long the first DISCOVER waits for an offer; the client
// doubles it on each retry, until the DHCP deadline.
const dhcpFirstWait = 2 * time.Second

// nakBackoff is the pause before starting over after a NAK.
const nakBackoff = time.Second

// ErrNoLease is wrapped by the error of a DHCP exchange that got no lease
// before its deadline.
var ErrNoLease = errors.New("no DHCPv4 lease")

// dhcp runs DHCPv4 on ifname within dhcp-timeout and turns the lease into the
// interface's configuration.
func (s *state) dhcp(ctx context.Context, ifname string) (ifConfig, *LeaseReport, error) {
	l, err := s.k.link(ifname)
	if err != nil {
		return ifConfig{}, nil, err
	}
	mac := l.Attrs().HardwareAddr
	timeout := s.cfg.DHCPTimeout()
	var lease *nclient4.Lease
	err = s.op(fmt.Sprintf("DHCPv4 on %s (client id 01:%s, up to %s)", ifname, mac, timeout), func() error {
		var err error
		lease, err = acquireLease(ctx, ifname, mac, timeout, s.log)
		return err
	})
	if err != nil {
		return ifConfig{}, &LeaseReport{ClientID: clientIDString(mac)}, err
	}
	c, lr, err := leaseConfig(lease)
	lr.ClientID = clientIDString(mac)
	if err != nil {
		return ifConfig{}, lr, err
	}
	s.note("lease", "interface", ifname, "address", lr.Address, "server", lr.Server, "lease_seconds", lr.LeaseSeconds,
		"routes", lr.Routes, "dns", lr.DNS, "mtu", lr.MTU)
	return c, lr, nil
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
func acquireLease(ctx context.Context, ifname string, mac net.HardwareAddr, timeout time.Duration, log *slog.Logger) (*nclient4.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w on %s: no server answered within %s", ErrNoLease, ifname, timeout)
			}
			return nil, ctx.Err()
		}
		var nak *nclient4.ErrNak
		if !errors.As(err, &nak) {
			return nil, fmt.Errorf("DHCP on %s: %w", ifname, err)
		}
		log.Info("DHCP server refused the request; starting over", "interface", ifname, "error", err)
		t := time.NewTimer(nakBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// leaseConfig turns a lease into an interface configuration: the address with
// its subnet and lifetime, the routes (classless static routes when offered,
// in which case the router option is ignored, as RFC 3442 says; else a
// default route via the first router), the MTU when offered, DNS servers and
// search domains.
func leaseConfig(lease *nclient4.Lease) (ifConfig, *LeaseReport, error) {
	ack := lease.ACK
	lr := &LeaseReport{}
	c := ifConfig{Protocol: unix.RTPROT_DHCP}

	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return c, lr, fmt.Errorf("lease without an address: %v", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = net.IP(ip.AsSlice()).DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return c, lr, fmt.Errorf("lease with a bad subnet mask %v", mask)
	}
	addr := netip.PrefixFrom(ip, ones)
	c.Addrs = []netip.Prefix{addr}
	c.Lifetime = ack.IPAddressLeaseTime(0)

	if csr := ack.ClasslessStaticRoute(); len(csr) > 0 {
		lr.Classless = true
		for _, r := range csr {
			dst, ok := ipNetPrefix(r.Dest)
			if !ok {
				continue
			}
			rs := routeSpec{Dst: dst.Masked()}
			if gw, ok := netip.AddrFromSlice(r.Router.To4()); ok && !gw.IsUnspecified() {
				rs.Gw = gw
			}
			c.Routes = append(c.Routes, rs)
		}
	} else if routers := ack.Router(); len(routers) > 0 {
		if gw, ok := netip.AddrFromSlice(routers[0].To4()); ok && !gw.IsUnspecified() {
			c.Routes = append(c.Routes, routeSpec{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gw})
		}
	}
	if mtu, err := dhcpv4.GetUint16(dhcpv4.OptionInterfaceMTU, ack.Options); err == nil && mtu >= 68 {
		c.MTU = int(mtu)
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && !a.IsUnspecified() {
			c.DNS = append(c.DNS, a)
		}
	}
	if labels := ack.DomainSearch(); labels != nil {
		for _, d := range labels.Labels {
			if validDomain(d) {
				c.Search = append(c.Search, d)
			}
		}
	}
	if len(c.Search) == 0 {
		if d := ack.DomainName(); validDomain(d) {
			c.Search = []string{d}
		}
	}

	lr.Address = addr.String()
	if sid := ack.ServerIdentifier(); sid != nil {
		lr.Server = sid.String()
	}
	lr.LeaseSeconds = int64(c.Lifetime / time.Second)
	lr.Obtained = lease.CreationTime
	for _, r := range c.Routes {
		lr.Routes = append(lr.Routes, r.String())
	}
	for _, d := range c.DNS {
		lr.DNS = append(lr.DNS, d.String())
	}
	lr.Search = c.Search
	lr.MTU = c.MTU
	return c, lr, nil
}

// dhcpLogger sends the DHCP client's chatter to slog at debug level.
type dhcpLogger struct{ log *slog.Logger }

func (d dhcpLogger) Printf(format string, v ...any) { d.log.Debug(fmt.Sprintf(format, v...)) }

func (d dhcpLogger) PrintMessage(prefix string, m *dhcpv4.DHCPv4) {
	d.log.Debug("dhcp: "+prefix, "type", m.MessageType().String(), "xid", m.TransactionID.String())
}
