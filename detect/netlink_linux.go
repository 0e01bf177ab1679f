package detect

import (
	"bytes"
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

// nicLink is what Probe needs of a link, from one rtnetlink dump.
type nicLink struct {
	Index int
	Name  string
	// Kind is IFLA_INFO_KIND ("veth", "bond"), empty for a physical NIC.
	Kind string
	// ARPType is the ARPHRD_* type (ARPHRD_ETHER for Ethernet).
	ARPType uint16
	// MAC and PermMAC as net.HardwareAddr prints them, "" for none (the
	// kernel reports all zeros for none).
	MAC, PermMAC string
	// PortPermMAC is, for a bond's port, the MAC it had before the bond
	// gave it the bond's.
	PortPermMAC string
	MTU         int
	// Up is IFF_UP, Carrier IFF_LOWER_UP; OperState as kernel.Link has it.
	Up, Carrier bool
	OperState   string
	// Master names the bond or bridge the link is enslaved to.
	Master string
	// ParentBus and ParentDev are IFLA_PARENT_DEV_BUS_NAME and
	// IFLA_PARENT_DEV_NAME ("pci", "0000:00:03.0"), on Linux 5.14 and later.
	ParentBus, ParentDev string
}

const (
	// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (Linux 4.19): no
	// IFLA_STATS64, IFLA_STATS nor IPv6 statistics, which the kernel sums
	// over every possible CPU for every link. Older kernels ignore it.
	rtextFilterSkipStats = 1 << 3
	// linkDumpTimeout bounds a link dump's wait for the kernel.
	linkDumpTimeout = 10 * time.Second
	// linkDumpRetries bounds the dumps interrupted by a change of links.
	linkDumpRetries = 5
)

// dumpLinks lists the links of the calling thread's network namespace with
// one RTM_GETLINK dump. Unlike kernel.Links it asks the kernel to leave the
// statistics out, which Probe does not use and which are most of the
// kernel's work (five times the time of the dump without them at a
// thousand links), and decodes only what Probe uses.
func dumpLinks(ctx context.Context, log *slog.Logger) ([]nicLink, error) {
	sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	defer sock.Close()
	tv := unix.NsecToTimeval(linkDumpTimeout.Nanoseconds())
	if err := sock.SetReceiveTimeout(&tv); err != nil {
		return nil, fmt.Errorf("rtnetlink timeout: %w", err)
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
		req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
		msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < linkDumpRetries {
			log.Debug("rtnetlink link dump interrupted, retrying", "attempt", attempt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		return parseNICLinks(msgs)
	}
}

// parseNICLinks decodes the RTM_NEWLINK messages of a link dump.
func parseNICLinks(msgs [][]byte) ([]nicLink, error) {
	out := make([]nicLink, len(msgs))
	masters := make([]int, len(msgs))
	names := make(map[int]string, len(msgs))
	for i, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			return nil, errors.New("rtnetlink link dump: short RTM_NEWLINK message")
		}
		flags := binary.NativeEndian.Uint32(m[8:12])
		l := &out[i]
		l.ARPType = binary.NativeEndian.Uint16(m[2:4])
		l.Index = int(int32(binary.NativeEndian.Uint32(m[4:8])))
		l.Up, l.Carrier = flags&unix.IFF_UP != 0, flags&unix.IFF_LOWER_UP != 0
		l.OperState = netlink.LinkOperState(0).String()
		var slaveKind string
		var slaveData []byte
		err := walkAttrs(m[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) error {
			switch typ {
			case unix.IFLA_IFNAME:
				l.Name = cString(v)
			case unix.IFLA_ADDRESS:
				l.MAC = macString(v)
			case unix.IFLA_PERM_ADDRESS:
				l.PermMAC = macString(v)
			case unix.IFLA_MTU:
				l.MTU = int(u32(v))
			case unix.IFLA_MASTER:
				masters[i] = int(u32(v))
			case unix.IFLA_OPERSTATE:
				if len(v) > 0 {
					l.OperState = netlink.LinkOperState(v[0]).String()
				}
			case unix.IFLA_PARENT_DEV_NAME:
				l.ParentDev = cString(v)
			case unix.IFLA_PARENT_DEV_BUS_NAME:
				l.ParentBus = cString(v)
			case unix.IFLA_LINKINFO:
				return walkAttrs(v, func(typ uint16, v []byte) error {
					switch typ {
					case unix.IFLA_INFO_KIND:
						l.Kind = cString(v)
					case unix.IFLA_INFO_SLAVE_KIND:
						slaveKind = cString(v)
					case unix.IFLA_INFO_SLAVE_DATA:
						slaveData = v
					}
					return nil
				})
			}
			return nil
		})
		if err == nil && slaveKind == "bond" {
			err = walkAttrs(slaveData, func(typ uint16, v []byte) error {
				if typ == unix.IFLA_BOND_SLAVE_PERM_HWADDR {
					l.PortPermMAC = macString(v)
				}
				return nil
			})
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: link %d: %w", l.Index, err)
		}
		names[l.Index] = l.Name
	}
	for i := range out {
		out[i].Master = names[masters[i]]
	}
	return out, nil
}

// walkAttrs calls f for each netlink attribute in b, with its type
// (without the nested and byte-order flags) and value, and stops at f's
// first error.
func walkAttrs(b []byte, f func(typ uint16, v []byte) error) error {
	for len(b) >= unix.SizeofRtAttr {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < unix.SizeofRtAttr || n > len(b) {
			return fmt.Errorf("malformed attribute: length %d of %d bytes", n, len(b))
		}
		if err := f(binary.NativeEndian.Uint16(b[2:4])&nl.NLA_TYPE_MASK, b[unix.SizeofRtAttr:n]); err != nil {
			return err
		}
		n = (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if n >= len(b) {
			break
		}
		b = b[n:]
	}
	return nil
}

// cString is a NUL-terminated attribute as a string.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// u32 reads a 32-bit attribute; 0 if it is shorter.
func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

// macString prints a hardware address, or "" for none: the kernel reports
// an absent address as all zeros.
func macString(b []byte) string {
	for _, x := range b {
		if x != 0 {
			return net.HardwareAddr(b).String()
		}
	}
	return ""
}
