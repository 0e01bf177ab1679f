package detect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/mdlayher/ethtool"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// maxDumpAttempts bounds the retries of a dump the kernel marks as
// interrupted (NLM_F_DUMP_INTR: the link table changed while it was read).
const maxDumpAttempts = 5

// rtLink is one link of an rtnetlink dump.
type rtLink struct {
	netlink.Link
	// ad is a bond's active 802.3ad aggregator. vishvananda/netlink v1.3.1
	// leaves IFLA_BOND_AD_INFO unparsed ("TODO"), so dumpLinks reads it
	// from the raw message.
	ad *ADInfo
}

// dumpLinks lists every link of the current network namespace in one
// RTM_GETLINK dump, retrying when the dump was interrupted.
func dumpLinks(ctx context.Context, log *slog.Logger) ([]rtLink, error) {
	for attempt := 1; ; attempt++ {
		links, err := dumpLinksOnce(ctx)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < maxDumpAttempts {
			log.Debug("rtnetlink link dump interrupted, retrying", "attempt", attempt)
			continue
		}
		return links, err
	}
}

func dumpLinksOnce(ctx context.Context) ([]rtLink, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer s.Close()
	// The socket is polled by the runtime: closing it wakes a blocked
	// receive, so cancellation needs no timer.
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		tv := unix.NsecToTimeval(max(time.Until(d), time.Millisecond).Nanoseconds())
		if err := s.SetReceiveTimeout(&tv); err != nil {
			return nil, err
		}
	}

	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	msgs, execErr := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if execErr != nil && !errors.Is(execErr, netlink.ErrDumpInterrupted) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		return nil, fmt.Errorf("rtnetlink link dump: %w", execErr)
	}
	links := make([]rtLink, 0, len(msgs))
	for _, m := range msgs {
		l, err := netlink.LinkDeserialize(nil, m)
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		rl := rtLink{Link: l}
		if l.Type() == "bond" {
			if rl.ad, err = parseADInfo(m); err != nil {
				return nil, fmt.Errorf("rtnetlink link dump: %s: %w", l.Attrs().Name, err)
			}
		}
		links = append(links, rl)
	}
	return links, execErr
}

// parseADInfo digs IFLA_LINKINFO → IFLA_INFO_DATA → IFLA_BOND_AD_INFO out of
// an RTM_NEWLINK message body (ifinfomsg and attributes). It returns nil when
// the bond has no active aggregator (any mode but 802.3ad, or none yet).
func parseADInfo(msg []byte) (*ADInfo, error) {
	if len(msg) < unix.SizeofIfInfomsg {
		return nil, errors.New("short RTM_NEWLINK message")
	}
	find := func(b []byte, typ uint16) ([]byte, error) {
		attrs, err := nl.ParseRouteAttr(b)
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type&nl.NLA_TYPE_MASK == typ {
				return a.Value, nil
			}
		}
		return nil, nil
	}
	b := msg[unix.SizeofIfInfomsg:]
	for _, typ := range []uint16{unix.IFLA_LINKINFO, nl.IFLA_INFO_DATA, nl.IFLA_BOND_AD_INFO} {
		var err error
		if b, err = find(b, typ); err != nil || b == nil {
			return nil, err
		}
	}
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	u16 := func(v []byte) int {
		if len(v) < 2 {
			return 0
		}
		return int(binary.NativeEndian.Uint16(v))
	}
	var ad ADInfo
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case nl.IFLA_BOND_AD_INFO_AGGREGATOR:
			ad.AggregatorID = u16(a.Value)
		case nl.IFLA_BOND_AD_INFO_NUM_PORTS:
			ad.NumPorts = u16(a.Value)
		case nl.IFLA_BOND_AD_INFO_ACTOR_KEY:
			ad.ActorKey = u16(a.Value)
		case nl.IFLA_BOND_AD_INFO_PARTNER_KEY:
			ad.PartnerKey = u16(a.Value)
		case nl.IFLA_BOND_AD_INFO_PARTNER_MAC:
			if len(a.Value) >= 6 {
				ad.PartnerMAC = net.HardwareAddr(a.Value[:6]).String()
			}
		}
	}
	return &ad, nil
}

// addrDump lists every address of the current network namespace in one
// RTM_GETADDR dump, retrying when the dump was interrupted.
func addrDump(ctx context.Context, log *slog.Logger) ([]netlink.Addr, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer h.Close()
	stop := context.AfterFunc(ctx, h.Close)
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		if err := h.SetSocketTimeout(max(time.Until(d), time.Millisecond)); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < maxDumpAttempts {
			log.Debug("rtnetlink address dump interrupted, retrying", "attempt", attempt)
			continue
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			}
			return nil, fmt.Errorf("rtnetlink address dump: %w", err)
		}
		return addrs, nil
	}
}

// ethtoolClient is an ethtool netlink client that closes when ctx is done,
// which unblocks a request in flight.
type ethtoolClient struct {
	*ethtool.Client
	stop func() bool
}

// newEthtool opens the ethtool generic netlink family in the calling
// thread's network namespace. It returns (nil, nil) when the kernel has no
// ethtool netlink (errors matching os.ErrNotExist): callers go on without
// speed and duplex.
func newEthtool(ctx context.Context, log *slog.Logger) (*ethtoolClient, error) {
	c, err := ethtool.New()
	if errors.Is(err, os.ErrNotExist) {
		log.Debug("no ethtool netlink in this kernel; speed, duplex and port unknown", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ethtool netlink: %w", err)
	}
	return &ethtoolClient{Client: c, stop: context.AfterFunc(ctx, func() { c.Close() })}, nil
}

func (c *ethtoolClient) close() {
	if c != nil && c.stop() {
		c.Client.Close()
	}
}

// ethtoolAll fetches one kind of ethtool data for the interfaces in ifis,
// keyed by ifindex: one dump for all, or, if the dump fails (one odd device
// can fail a whole dump on some kernels), one request per interface.
// Interfaces ethtool does not support (os.ErrNotExist) are left out.
func ethtoolAll[T any](ctx context.Context, log *slog.Logger, what string,
	dump func() ([]*T, error), one func(ethtool.Interface) (*T, error),
	index func(*T) int, ifis []ethtool.Interface) (map[int]*T, error) {

	out := make(map[int]*T, len(ifis))
	all, err := dump()
	if err == nil {
		for _, v := range all {
			out[index(v)] = v
		}
		return out, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("ethtool %s: %w", what, cerr)
	}
	log.Debug("ethtool dump failed; asking per interface", "what", what, "err", err)
	for _, ifi := range ifis {
		v, err := one(ifi)
		switch {
		case errors.Is(err, os.ErrNotExist):
			log.Debug("ethtool: not supported by interface", "what", what, "nic", ifi.Name, "err", err)
			continue
		case err != nil:
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			}
			return nil, fmt.Errorf("ethtool %s of %s: %w", what, ifi.Name, err)
		}
		out[ifi.Index] = v
	}
	return out, nil
}

// linkModes returns speed and duplex per ifindex; nil c means no ethtool.
func (c *ethtoolClient) linkModes(ctx context.Context, log *slog.Logger, ifis []ethtool.Interface) (map[int]*ethtool.LinkMode, error) {
	if c == nil || len(ifis) == 0 {
		return nil, nil
	}
	return ethtoolAll(ctx, log, "link modes", c.LinkModes, c.LinkMode,
		func(m *ethtool.LinkMode) int { return m.Interface.Index }, ifis)
}

// linkInfos returns the port type per ifindex; nil c means no ethtool.
func (c *ethtoolClient) linkInfos(ctx context.Context, log *slog.Logger, ifis []ethtool.Interface) (map[int]*ethtool.LinkInfo, error) {
	if c == nil || len(ifis) == 0 {
		return nil, nil
	}
	return ethtoolAll(ctx, log, "link info", c.LinkInfos, c.LinkInfo,
		func(m *ethtool.LinkInfo) int { return m.Interface.Index }, ifis)
}

// portName names an ethtool port type as ethtool(8) does, in lowercase.
func portName(p ethtool.Port) string {
	switch p {
	case ethtool.TwistedPair:
		return "tp"
	case ethtool.AUI:
		return "aui"
	case ethtool.MII:
		return "mii"
	case ethtool.Fibre:
		return "fibre"
	case ethtool.BNC:
		return "bnc"
	case ethtool.DirectAttach:
		return "da"
	case ethtool.None:
		return "none"
	}
	return "other"
}

// lowerUp reports IFF_LOWER_UP: the driver says the link has carrier.
func lowerUp(a *netlink.LinkAttrs) bool { return a.RawFlags&unix.IFF_LOWER_UP != 0 }

// macString formats a MAC, or "" for none (the kernel reports all zeros as
// absent).
func macString(hw net.HardwareAddr) string {
	for _, b := range hw {
		if b != 0 {
			return hw.String()
		}
	}
	return ""
}
