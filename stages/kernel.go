package stages

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kernel is the seam between the stages and the running kernel: one
// rtnetlink handle, which a test opens in a namespace of its own.
type kernel struct {
	h *netlink.Handle
}

// errNoLink is wrapped by link when no interface has the name.
var errNoLink = errors.New("no such interface")

// link looks an interface up by name. netlink's LinkNotFoundError does not
// unwrap, so it is turned into errNoLink here once.
func (k kernel) link(name string) (netlink.Link, error) {
	l, err := k.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%s: %w", name, errNoLink)
		}
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return l, nil
}

// linkOrNil is link, with a missing interface as (nil, nil).
func (k kernel) linkOrNil(name string) (netlink.Link, error) {
	l, err := k.link(name)
	if errors.Is(err, errNoLink) {
		return nil, nil
	}
	return l, err
}

// dumpRetries bounds retries of a dump the kernel interrupted because the
// table changed under it.
const dumpRetries = 5

// links lists every interface, retrying interrupted dumps.
func (k kernel) links() ([]netlink.Link, error) {
	for i := 0; ; i++ {
		ls, err := k.h.LinkList()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		return ls, nil
	}
}

// addrs lists the addresses of l of a family, retrying interrupted dumps.
func (k kernel) addrs(l netlink.Link, family int) ([]netlink.Addr, error) {
	for i := 0; ; i++ {
		as, err := k.h.AddrList(l, family)
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
		}
		return as, nil
	}
}

// routes lists the routes of a table and family, retrying interrupted dumps.
func (k kernel) routes(family, table int) ([]netlink.Route, error) {
	for i := 0; ; i++ {
		rs, err := k.h.RouteListFiltered(family, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list routes: %w", err)
		}
		return rs, nil
	}
}

// prefixes returns the global-or-any addresses of l as prefixes, sorted.
func (k kernel) prefixes(l netlink.Link) ([]netip.Prefix, error) {
	as, err := k.addrs(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var ps []netip.Prefix
	for _, a := range as {
		if p, ok := ipNetPrefix(a.IPNet); ok && !p.Addr().IsLinkLocalUnicast() {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return ps, nil
}

// masterName returns the name of l's master, or "".
func (k kernel) masterName(l netlink.Link) (string, error) {
	idx := l.Attrs().MasterIndex
	if idx == 0 {
		return "", nil
	}
	m, err := k.h.LinkByIndex(idx)
	if err != nil {
		return "", fmt.Errorf("look up master of %s: %w", l.Attrs().Name, err)
	}
	return m.Attrs().Name, nil
}

func (k kernel) snapshot(name string) (*nicSnapshot, error) {
	l, err := k.link(name)
	if err != nil {
		return nil, err
	}
	master, err := k.masterName(l)
	if err != nil {
		return nil, err
	}
	ps, err := k.prefixes(l)
	if err != nil {
		return nil, err
	}
	return &nicSnapshot{
		Name:   name,
		Up:     l.Attrs().Flags&net.FlagUp != 0,
		MTU:    l.Attrs().MTU,
		Master: master,
		Addrs:  ps,
	}, nil
}

// restore puts a NIC back to its snapshot. Addresses this run added are undone
// by the journal; restore does not remove addresses, it only reports.
func (k kernel) restore(snap *nicSnapshot) error {
	l, err := k.link(snap.Name)
	if err != nil {
		return err
	}
	master, err := k.masterName(l)
	if err != nil {
		return err
	}
	if master != snap.Master {
		if master != "" {
			if err := k.h.LinkSetNoMaster(l); err != nil {
				return fmt.Errorf("release %s from %s: %w", snap.Name, master, err)
			}
		}
		if snap.Master != "" {
			m, err := k.link(snap.Master)
			if err != nil {
				return fmt.Errorf("master of %s: %w", snap.Name, err)
			}
			if err := k.h.LinkSetDown(l); err != nil {
				return fmt.Errorf("set %s down: %w", snap.Name, err)
			}
			if err := k.h.LinkSetMaster(l, m); err != nil {
				return fmt.Errorf("enslave %s to %s: %w", snap.Name, snap.Master, err)
			}
		}
		if l, err = k.link(snap.Name); err != nil {
			return err
		}
	}
	if l.Attrs().MTU != snap.MTU {
		if err := k.h.LinkSetMTU(l, snap.MTU); err != nil {
			return fmt.Errorf("set MTU of %s to %d: %w", snap.Name, snap.MTU, err)
		}
	}
	up := l.Attrs().Flags&net.FlagUp != 0
	switch {
	case up && !snap.Up:
		if err := k.h.LinkSetDown(l); err != nil {
			return fmt.Errorf("set %s down: %w", snap.Name, err)
		}
	case !up && snap.Up:
		if err := k.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", snap.Name, err)
		}
	}
	return nil
}

// hasCarrier reports whether the link has carrier: the kernel's IFF_LOWER_UP,
// or an operational state of up.
func hasCarrier(a *netlink.LinkAttrs) bool {
	return a.RawFlags&unix.IFF_LOWER_UP != 0 || a.OperState == netlink.OperUp
}

// waitCarrier waits, on link events, until every interface in names has
// carrier or the deadline passes, whichever is first: one deadline for all.
// It returns which of them had carrier. Running out of time is not an error
// (the caller decides what a missing link means); a cancelled context or a
// failed subscription is.
func (k kernel) waitCarrier(ctx context.Context, names []string, deadline time.Time) (map[string]bool, error) {
	up := make(map[string]bool, len(names))
	if len(names) == 0 {
		return up, nil
	}
	// Subscribe before the first look, so a change between the look and the
	// subscription cannot be missed.
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	subErr := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			if errors.Is(err, netlink.ErrDumpInterrupted) {
				return
			}
			select {
			case subErr <- err:
			default:
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to link events: %w", err)
	}
	defer func() {
		close(done)
		// Drain, so the library's reader is never stuck sending to us.
		go func() {
			for range updates {
			}
		}()
	}()

	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
		l, err := k.link(n)
		if err != nil {
			return nil, err
		}
		up[n] = hasCarrier(l.Attrs())
	}
	all := func() bool {
		for _, n := range names {
			if !up[n] {
				return false
			}
		}
		return true
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for !all() {
		select {
		case u, ok := <-updates:
			if !ok {
				return up, errors.New("link event subscription closed")
			}
			a := u.Link.Attrs()
			if want[a.Name] {
				up[a.Name] = u.Header.Type != unix.RTM_DELLINK && hasCarrier(a)
			}
		case err := <-subErr:
			return up, fmt.Errorf("link events: %w", err)
		case <-timer.C:
			return up, nil
		case <-ctx.Done():
			return up, ctx.Err()
		}
	}
	return up, nil
}

// ipNetPrefix converts a *net.IPNet to a netip.Prefix, IPv4 unmapped.
func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits == 0 || (a.Is4() && bits != 32 && bits != 128) {
		return netip.Prefix{}, false
	}
	if a.Is4() && bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones), true
}

// prefixIPNet converts a prefix to a *net.IPNet keeping the host bits (an
// interface address, not a network).
func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
