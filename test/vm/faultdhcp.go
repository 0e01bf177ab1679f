package vm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Faults say how a FaultDHCP server misbehaves. dnsmasq is the independent peer
// that judges the client everywhere else; this server exists for what dnsmasq
// cannot be made to do on demand.
type Faults struct {
	// IgnoreDiscovers drops the first N DISCOVERs: a server that answers only
	// after the client's first retries.
	IgnoreDiscovers int
	// NakRequests answers the first N REQUESTs with a NAK.
	NakRequests int
}

// FaultDHCP is a DHCPv4 server on one segment of a VM's network that misbehaves
// as its Faults say, then serves normally: addresses from .150 of the segment, the
// host as router and DNS server.
type FaultDHCP struct {
	srv    *server4.Server
	done   chan struct{}
	prefix netip.Prefix

	mu        sync.Mutex
	faults    Faults
	discovers int
	requests  int
	naks      int
	leases    map[string]netip.Addr // client MAC -> address
	events    []string
}

// StartFaultDHCP runs a FaultDHCP server on segment seg, in the VM's namespace (the
// socket is made there; the server runs in this process). Stop it with Close.
func (n *Network) StartFaultDHCP(seg int, f Faults, lease time.Duration) (*FaultDHCP, error) {
	if seg < 0 || seg >= len(n.segs) {
		return nil, fmt.Errorf("network: no segment %d", seg)
	}
	if s := n.segs[seg]; s.dhcp != nil {
		return nil, fmt.Errorf("network: dnsmasq already serves segment %d", seg)
	}
	host := n.segs[seg].cfg.Host
	d := &FaultDHCP{done: make(chan struct{}), prefix: host, faults: f, leases: map[string]netip.Addr{}}
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		d.handle(conn, peer, m, host.Addr(), lease)
	}

	err := n.inNamespace(func() error {
		var err error
		d.srv, err = server4.NewServer(n.Bridge(seg), &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, handler)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fault DHCP on %s: %w", n.Bridge(seg), err)
	}
	go func() {
		defer close(d.done)
		_ = d.srv.Serve()
	}()
	return d, nil
}

func (d *FaultDHCP) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4, host netip.Addr, lease time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	mac := m.ClientHWAddr.String()
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		d.discovers++
		if d.discovers <= d.faults.IgnoreDiscovers {
			d.events = append(d.events, "ignored DISCOVER from "+mac)
			return
		}
		d.reply(conn, m, dhcpv4.MessageTypeOffer, d.addrFor(mac), host, lease)
		d.events = append(d.events, "OFFER to "+mac)
	case dhcpv4.MessageTypeRequest:
		d.requests++
		if d.naks < d.faults.NakRequests {
			d.naks++
			d.reply(conn, m, dhcpv4.MessageTypeNak, netip.Addr{}, host, 0)
			d.events = append(d.events, "NAK to "+mac)
			return
		}
		d.reply(conn, m, dhcpv4.MessageTypeAck, d.addrFor(mac), host, lease)
		d.events = append(d.events, "ACK to "+mac)
	}
}

func (d *FaultDHCP) addrFor(mac string) netip.Addr {
	if a, ok := d.leases[mac]; ok {
		return a
	}
	a := d.prefix.Masked().Addr()
	for range 150 + len(d.leases) {
		a = a.Next()
	}
	d.leases[mac] = a
	return a
}

func (d *FaultDHCP) reply(conn net.PacketConn, m *dhcpv4.DHCPv4, typ dhcpv4.MessageType, yiaddr, host netip.Addr, lease time.Duration) {
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(typ), dhcpv4.WithServerIP(net.IP(host.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP(host.AsSlice())))}
	if typ != dhcpv4.MessageTypeNak {
		mods = append(mods,
			dhcpv4.WithYourIP(net.IP(yiaddr.AsSlice())),
			dhcpv4.WithNetmask(net.CIDRMask(d.prefix.Bits(), 32)),
			dhcpv4.WithRouter(net.IP(host.AsSlice())),
			dhcpv4.WithDNS(net.IP(host.AsSlice())),
			dhcpv4.WithLeaseTime(uint32(lease/time.Second)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		return
	}
	// The client has no address yet: broadcast.
	_, _ = conn.WriteTo(resp.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
}

// Events lists what the server did, in order.
func (d *FaultDHCP) Events() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.events...)
}

// Reset arms the faults again, for the next client run.
func (d *FaultDHCP) Reset(f Faults) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults, d.discovers, d.requests, d.naks, d.events = f, 0, 0, 0, nil
}

// Close stops the server.
func (d *FaultDHCP) Close() error {
	err := d.srv.Close()
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		return errors.Join(err, errors.New("fault DHCP server did not stop"))
	}
	return err
}

// WaitEvent waits until the server has done something that matches want.
func (d *FaultDHCP) WaitEvent(ctx context.Context, want func(string) bool) error {
	return pollUntil(ctx, 50*time.Millisecond, func() (bool, error) {
		for _, e := range d.Events() {
			if want(e) {
				return true, nil
			}
		}
		return false, nil
	})
}
