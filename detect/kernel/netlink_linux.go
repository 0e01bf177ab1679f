package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// requestTimeout bounds one rtnetlink request: the kernel answers at once or
// something is badly wrong, and a boot must not hang on it.
const requestTimeout = 10 * time.Second

// dumpRetries bounds the retries of a dump the kernel interrupted because a
// table changed under it (NLM_F_DUMP_INTR).
const dumpRetries = 5

// Netlink is the running kernel, over rtnetlink, in the network namespace
// that was current on the thread that called Open.
type Netlink struct {
	ns  netns.NsHandle
	h   *netlink.Handle
	log *slog.Logger

	mu   sync.Mutex // serializes raw requests on sock
	sock *nl.SocketHandle

	// subscribe is netlink.LinkSubscribeWithOptions, or a test's stand-in.
	subscribe subscribeFunc

	// ethtoolFD is a datagram socket made in the namespace, for the ethtool
	// ioctl.
	ethtoolFD int
	// procSys is where sysctls are read, /proc/sys when empty (tests
	// point it elsewhere).
	procSys string
}

// Open returns the kernel of the calling thread's network namespace. log
// receives debug lines (nil discards).
func Open(log *slog.Logger) (*Netlink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("current network namespace: %w", err)
	}
	// Route only: a bare NewHandle also opens XFRM and netfilter sockets,
	// whose modules an initramfs does not load.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	if err := h.SetSocketTimeout(requestTimeout); err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("rtnetlink timeout: %w", err)
	}
	sock, err := nl.GetNetlinkSocketAt(ns, ns, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	tv := unix.NsecToTimeval(requestTimeout.Nanoseconds())
	if err := sock.SetReceiveTimeout(&tv); err != nil {
		sock.Close()
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("rtnetlink timeout: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		sock.Close()
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("ethtool socket: %w", err)
	}
	return &Netlink{ns: ns, h: h, log: log, sock: &nl.SocketHandle{Socket: sock}, ethtoolFD: fd}, nil
}

// Close releases the sockets.
func (k *Netlink) Close() {
	k.h.Close()
	k.sock.Close()
	unix.Close(k.ethtoolFD)
	k.ns.Close()
}

// execute sends a raw request on the kernel's socket.
func (k *Netlink) execute(ctx context.Context, req *nl.NetlinkRequest, resType uint16) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: k.sock}
	return req.Execute(unix.NETLINK_ROUTE, resType)
}

// Links lists every link in one RTM_GETLINK dump, bond options and port
// states decoded by spec.
func (k *Netlink) Links(ctx context.Context) ([]Link, error) {
	for attempt := 1; ; attempt++ {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		msgs, err := k.execute(ctx, req, unix.RTM_NEWLINK)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < dumpRetries {
			k.log.Debug("rtnetlink link dump interrupted, retrying", "attempt", attempt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		return parseLinks(msgs)
	}
}

// Link returns one link (from a dump: names resolve masters and primaries).
func (k *Netlink) Link(ctx context.Context, name string) (Link, error) {
	links, err := k.Links(ctx)
	if err != nil {
		return Link{}, err
	}
	return find(links, name)
}

func find(links []Link, name string) (Link, error) {
	for _, l := range links {
		if l.Name == name {
			return l, nil
		}
	}
	return Link{}, fmt.Errorf("%s: %w", name, ErrNotFound)
}

// rawLink is one RTM_NEWLINK message, parsed as far as names allow.
type rawLink struct {
	link     Link
	master   int
	bondData []byte
	portData []byte
	// parent is a VLAN's IFLA_LINK.
	parent int
}

// parseLinks decodes a link dump.
func parseLinks(msgs [][]byte) ([]Link, error) {
	raws := make([]rawLink, 0, len(msgs))
	names := make(map[int]string, len(msgs))
	for _, m := range msgs {
		l, err := netlink.LinkDeserialize(nil, m)
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		a := l.Attrs()
		r := rawLink{master: a.MasterIndex}
		r.link = Link{
			Index: a.Index, Name: a.Name, MAC: hwAddr(a.HardwareAddr), PermMAC: hwAddr(a.PermHWAddr),
			MTU: a.MTU, Up: a.Flags&net.FlagUp != 0, Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0,
			OperState: a.OperState.String(), ParentBus: a.ParentDevBus, ParentDev: a.ParentDev,
			EncapType: a.EncapType,
		}
		if t := l.Type(); t != "device" {
			r.link.Kind = t
		}
		if s := a.Statistics; s != nil {
			r.link.Stats = &Counters{RxPackets: s.RxPackets, TxPackets: s.TxPackets, RxBytes: s.RxBytes,
				TxBytes: s.TxBytes, RxErrors: s.RxErrors, TxErrors: s.TxErrors, RxDropped: s.RxDropped, TxDropped: s.TxDropped}
		}
		info, err := linkInfo(m)
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %s: %w", a.Name, err)
		}
		if err := decodeStack(&r, info, a.ParentIndex); err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %s: %w", a.Name, err)
		}
		names[a.Index] = a.Name
		raws = append(raws, r)
	}
	out := make([]Link, 0, len(raws))
	for _, r := range raws {
		l := r.link
		l.Master = names[r.master]
		if l.VLAN != nil {
			l.VLAN.Parent = names[r.parent]
		}
		if r.bondData != nil {
			b, err := decodeBond(r.bondData, names)
			if err != nil {
				return nil, fmt.Errorf("bond %s: %w", l.Name, err)
			}
			l.Bond = b
		}
		if r.portData != nil {
			p, err := decodePort(r.portData)
			if err != nil {
				return nil, fmt.Errorf("bond port %s: %w", l.Name, err)
			}
			l.Port = p
		}
		out = append(out, l)
	}
	return out, nil
}

// decodeStack reads what IFLA_LINKINFO says of a link: bond data and bond
// port data are kept for later (they name other links), a VLAN's id, a
// bridge's settings and a bridge port's are decoded. parent is IFLA_LINK.
func decodeStack(r *rawLink, info linkInfoAttrs, parent int) error {
	var err error
	switch info.kind {
	case "bond":
		r.bondData = info.data
	case "vlan":
		id, err := decodeVLANID(info.data)
		if err != nil {
			return err
		}
		r.link.VLAN, r.parent = &VLAN{ID: id}, parent
	case "bridge":
		if r.link.Bridge, err = decodeBridge(info.data); err != nil {
			return err
		}
	}
	switch info.slaveKind {
	case "bond":
		r.portData = info.slaveData
	case "bridge":
		if r.link.BridgePort, err = decodeBridgePort(info.slaveData); err != nil {
			return err
		}
	}
	return nil
}

type linkInfoAttrs struct {
	kind, slaveKind string
	data, slaveData []byte
}

// linkInfo digs IFLA_LINKINFO out of an RTM_NEWLINK message body.
func linkInfo(msg []byte) (linkInfoAttrs, error) {
	var out linkInfoAttrs
	if len(msg) < unix.SizeofIfInfomsg {
		return out, errors.New("short RTM_NEWLINK message")
	}
	attrs, err := nl.ParseRouteAttr(msg[unix.SizeofIfInfomsg:])
	if err != nil {
		return out, err
	}
	for _, a := range attrs {
		if a.Attr.Type&nl.NLA_TYPE_MASK != unix.IFLA_LINKINFO {
			continue
		}
		infos, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return out, err
		}
		for _, i := range infos {
			switch i.Attr.Type & nl.NLA_TYPE_MASK {
			case nl.IFLA_INFO_KIND:
				out.kind = cString(i.Value)
			case nl.IFLA_INFO_DATA:
				out.data = i.Value
			case nl.IFLA_INFO_SLAVE_KIND:
				out.slaveKind = cString(i.Value)
			case nl.IFLA_INFO_SLAVE_DATA:
				out.slaveData = i.Value
			}
		}
	}
	return out, nil
}

func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// decodeBond reads a bond's IFLA_INFO_DATA through the spec tables.
func decodeBond(data []byte, names map[int]string) (*Bond, error) {
	attrs, err := nl.ParseRouteAttr(data)
	if err != nil {
		return nil, err
	}
	b := &Bond{}
	for _, a := range attrs {
		typ := a.Attr.Type & nl.NLA_TYPE_MASK
		switch typ {
		case spec.AttrMode:
			if len(a.Value) < 1 {
				return nil, errors.New("empty mode")
			}
			m, ok := spec.ModeByNumber(int(a.Value[0]))
			if !ok {
				return nil, fmt.Errorf("unknown mode %d", a.Value[0])
			}
			b.Mode = m.Name
		case spec.AttrPrimary:
			b.Primary = names[int(u32(a.Value))]
		case spec.AttrActiveSlave:
			b.ActivePort = names[int(u32(a.Value))]
		case spec.AttrADInfo:
			ad, err := decodeADInfo(a.Value)
			if err != nil {
				return nil, err
			}
			b.AD = ad
		default:
			p, ok := spec.ByAttr(typ)
			if !ok {
				continue // an option bondstrap does not configure
			}
			s, err := p.Decode(a.Value)
			if err != nil {
				return nil, err
			}
			b.Settings = b.Settings.Set(s)
		}
	}
	return b, nil
}

// IFLA_BOND_AD_INFO_* and IFLA_BOND_SLAVE_* attributes.
const (
	adInfoAggregator = 1
	adInfoNumPorts   = 2
	adInfoActorKey   = 3
	adInfoPartnerKey = 4
	adInfoPartnerMAC = 5
	portState        = 1
	portMIIStatus    = 2
	portLinkFailures = 3
	portPermHWAddr   = 4
	portQueueID      = 5
	portAggregatorID = 6
	portActorState   = 7
	portPartnerState = 8
	portActorChurn   = 11
	portPartnerChurn = 12
)

func decodeADInfo(b []byte) (*ADInfo, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	ad := &ADInfo{}
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case adInfoAggregator:
			ad.AggregatorID = int(uintAttr(a.Value))
		case adInfoNumPorts:
			ad.NumPorts = int(uintAttr(a.Value))
		case adInfoActorKey:
			ad.ActorKey = int(uintAttr(a.Value))
		case adInfoPartnerKey:
			ad.PartnerKey = int(uintAttr(a.Value))
		case adInfoPartnerMAC:
			if len(a.Value) >= 6 {
				ad.PartnerMAC = net.HardwareAddr(slices.Clone(a.Value[:6]))
			}
		}
	}
	return ad, nil
}

func decodePort(b []byte) (*Port, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	p := &Port{}
	for _, a := range attrs {
		v := uintAttr(a.Value)
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case portState:
			p.Active = v == 0
		case portMIIStatus:
			p.MII = uint8(v)
		case portLinkFailures:
			p.LinkFailures = uint32(v)
		case portPermHWAddr:
			p.PermMAC = hwAddr(a.Value)
		case portQueueID:
			p.QueueID = uint16(v)
		case portAggregatorID:
			p.AggregatorID = uint16(v)
		case portActorState:
			p.ActorState = uint8(v)
		case portPartnerState:
			// The kernel sends the partner's state octet in a u16.
			p.PartnerState = uint8(v)
		case portActorChurn:
			c := uint8(v)
			p.ActorChurn = &c
		case portPartnerChurn:
			c := uint8(v)
			p.PartnerChurn = &c
		}
	}
	return p, nil
}

// uintAttr reads an unsigned attribute of any width the kernel chose.
func uintAttr(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.NativeEndian.Uint16(b))
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	case 8:
		return binary.NativeEndian.Uint64(b)
	}
	return 0
}

func u32(b []byte) uint32 { return uint32(uintAttr(b)) }

// hwAddr copies a MAC, or nil for none (the kernel reports all zeros as
// absent).
func hwAddr(b []byte) net.HardwareAddr {
	for _, x := range b {
		if x != 0 {
			return net.HardwareAddr(slices.Clone(b))
		}
	}
	return nil
}

// linkRequest starts an RTM_NEWLINK for the link with index (0 for a new
// one).
func linkRequest(flags int, index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, flags|unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	return req
}

// bondData builds IFLA_LINKINFO {kind bond, data {mode, settings}}, the
// settings in the kernel's order.
func bondData(mode string, settings spec.Settings) (*nl.RtAttr, error) {
	info, data := newLinkInfo(false, "bond")
	if mode != "" {
		m, ok := spec.LookupMode(mode)
		if !ok {
			return nil, fmt.Errorf("unknown bond mode %q", mode)
		}
		data.AddRtAttr(spec.AttrMode, []byte{byte(m.Number)})
	}
	for _, s := range spec.KernelOrder(settings) {
		if err := s.Check(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Param.Key, err)
		}
		data.AddChild(&rawAttr{typ: s.Param.Attr, payload: s.Encode()})
	}
	return info, nil
}

// rawAttr is an attribute whose payload is already encoded (spec.Encode,
// nested lists included).
type rawAttr struct {
	typ     uint16
	payload []byte
}

func (a *rawAttr) Len() int { return unix.SizeofRtAttr + len(a.payload) }

func (a *rawAttr) Serialize() []byte {
	l := a.Len()
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b, uint16(l))
	binary.NativeEndian.PutUint16(b[2:], a.typ)
	copy(b[4:], a.payload)
	return b
}

// CreateBond makes a bond in one RTM_NEWLINK: name, MAC, MTU, mode and
// every setting.
func (k *Netlink) CreateBond(ctx context.Context, c BondConfig) (Undo, error) {
	info, err := bondData(c.Mode, c.Settings)
	if err != nil {
		return nil, err
	}
	return k.createLink(ctx, c.Name, c.MAC, c.MTU, "bond", "bonding driver (bonding.ko)", info)
}

// ChangeBond sends mode and settings to a live bond in one request.
func (k *Netlink) ChangeBond(ctx context.Context, name, mode string, settings spec.Settings) (Undo, error) {
	l, err := k.Link(ctx, name)
	if err != nil {
		return nil, err
	}
	if l.Bond == nil {
		return nil, fmt.Errorf("%s is a %s link, not a bond", name, orDevice(l.Kind))
	}
	if err := k.changeBond(ctx, l.Index, mode, settings); err != nil {
		return nil, fmt.Errorf("change bond %s: %w", name, err)
	}
	oldMode := ""
	if mode != "" && mode != l.Bond.Mode {
		oldMode = l.Bond.Mode
	}
	var old spec.Settings
	for _, s := range settings {
		if have, ok := l.Bond.Settings.Get(s.Param.Key); ok {
			old = old.Set(have)
		}
	}
	index := l.Index
	return func(ctx context.Context) error {
		if oldMode == "" {
			return k.changeBond(ctx, index, "", old)
		}
		before, with := ModeSteps(mode, oldMode, old)
		if err := k.changeBond(ctx, index, "", before); err != nil {
			return err
		}
		return k.changeBond(ctx, index, oldMode, with)
	}, nil
}

func (k *Netlink) changeBond(ctx context.Context, index int, mode string, settings spec.Settings) error {
	if mode == "" && len(settings) == 0 {
		return nil
	}
	info, err := bondData(mode, settings)
	if err != nil {
		return err
	}
	return k.setLinkInfo(ctx, index, info)
}

func orDevice(kind string) string {
	if kind == "" {
		return "device"
	}
	return kind
}

// DeleteLink deletes a link.
func (k *Netlink) DeleteLink(ctx context.Context, name string) error {
	l, err := k.Link(ctx, name)
	if err != nil {
		return err
	}
	return k.deleteIndex(ctx, name, l.Index)
}

// deleteIndex deletes the link with index, if it still has name.
func (k *Netlink) deleteIndex(ctx context.Context, name string, index int) error {
	l, err := k.Link(ctx, name)
	if errors.Is(err, ErrNotFound) || (err == nil && l.Index != index) {
		return nil // gone already, or another link took the name
	}
	if err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(unix.RTM_DELLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	if _, err := k.execute(ctx, req, 0); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// handleLink returns the library's view of a link for its setters.
func (k *Netlink) handleLink(ctx context.Context, name string) (netlink.Link, Link, error) {
	l, err := k.Link(ctx, name)
	if err != nil {
		return nil, Link{}, err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Index = l.Name, l.Index
	return &netlink.Device{LinkAttrs: attrs}, l, nil
}

// SetUp sets IFF_UP.
func (k *Netlink) SetUp(ctx context.Context, name string, up bool) (Undo, error) {
	hl, l, err := k.handleLink(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := k.setUp(hl, up); err != nil {
		return nil, fmt.Errorf("set %s %s: %w", name, upDown(up), err)
	}
	was := l.Up
	return func(ctx context.Context) error {
		hl, _, err := k.handleLink(ctx, name)
		if err != nil {
			return err
		}
		return k.setUp(hl, was)
	}, nil
}

func (k *Netlink) setUp(l netlink.Link, up bool) error {
	if up {
		return k.h.LinkSetUp(l)
	}
	return k.h.LinkSetDown(l)
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// SetMaster enslaves name to master ("" releases it). The kernel refuses to
// enslave a port that is up: the caller sets it down first.
func (k *Netlink) SetMaster(ctx context.Context, name, master string) (Undo, error) {
	hl, l, err := k.handleLink(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := k.setMaster(ctx, hl, master); err != nil {
		return nil, err
	}
	was, wasUp := l.Master, l.Up
	return func(ctx context.Context) error {
		hl, now, err := k.handleLink(ctx, name)
		if err != nil {
			return err
		}
		if now.Master == was {
			return nil
		}
		// A bond takes only ports that are down; a bridge any.
		if m, err := k.Link(ctx, was); err == nil && m.Kind == "bond" && now.Up {
			if err := k.h.LinkSetDown(hl); err != nil {
				return fmt.Errorf("set %s down: %w", name, err)
			}
		}
		if err := k.setMaster(ctx, hl, was); err != nil {
			return err
		}
		if was == "" && wasUp {
			return k.h.LinkSetUp(hl)
		}
		return nil
	}, nil
}

func (k *Netlink) setMaster(ctx context.Context, hl netlink.Link, master string) error {
	if master == "" {
		if err := k.h.LinkSetNoMaster(hl); err != nil {
			return fmt.Errorf("release %s: %w", hl.Attrs().Name, err)
		}
		return nil
	}
	m, err := k.Link(ctx, master)
	if err != nil {
		return err
	}
	if err := k.h.LinkSetMasterByIndex(hl, m.Index); err != nil {
		return fmt.Errorf("enslave %s to %s: %w", hl.Attrs().Name, master, err)
	}
	return nil
}

// SetMTU sets a link's MTU.
func (k *Netlink) SetMTU(ctx context.Context, name string, mtu int) (Undo, error) {
	hl, l, err := k.handleLink(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := k.h.LinkSetMTU(hl, mtu); err != nil {
		return nil, fmt.Errorf("set MTU of %s to %d: %w", name, mtu, err)
	}
	was := l.MTU
	return func(ctx context.Context) error {
		hl, _, err := k.handleLink(ctx, name)
		if err != nil {
			return err
		}
		return k.h.LinkSetMTU(hl, was)
	}, nil
}

// SetMAC sets a link's MAC.
func (k *Netlink) SetMAC(ctx context.Context, name string, mac net.HardwareAddr) (Undo, error) {
	hl, l, err := k.handleLink(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := k.h.LinkSetHardwareAddr(hl, mac); err != nil {
		return nil, fmt.Errorf("set MAC of %s to %s: %w", name, mac, err)
	}
	was := l.MAC
	return func(ctx context.Context) error {
		hl, _, err := k.handleLink(ctx, name)
		if err != nil || was == nil {
			return err
		}
		return k.h.LinkSetHardwareAddr(hl, was)
	}, nil
}

// SetPrimary sets a bond's primary port by ifindex ("" clears it).
func (k *Netlink) SetPrimary(ctx context.Context, bond, port string) (Undo, error) {
	links, err := k.Links(ctx)
	if err != nil {
		return nil, err
	}
	b, err := find(links, bond)
	if err != nil {
		return nil, err
	}
	if b.Bond == nil {
		return nil, fmt.Errorf("%s is not a bond", bond)
	}
	index := 0
	if port != "" {
		p, err := find(links, port)
		if err != nil {
			return nil, err
		}
		index = p.Index
	}
	if err := k.setPrimary(ctx, b.Index, index); err != nil {
		return nil, fmt.Errorf("set primary of %s to %q: %w", bond, port, err)
	}
	was := b.Bond.Primary
	return func(ctx context.Context) error {
		idx := 0
		if was != "" {
			p, err := k.Link(ctx, was)
			if err != nil {
				return err
			}
			idx = p.Index
		}
		return k.setPrimary(ctx, b.Index, idx)
	}, nil
}

func (k *Netlink) setPrimary(ctx context.Context, bond, port int) error {
	info, data := newLinkInfo(false, "bond")
	data.AddRtAttr(spec.AttrPrimary, nl.Uint32Attr(uint32(port)))
	return k.setLinkInfo(ctx, bond, info)
}

// Addrs lists every address.
func (k *Netlink) Addrs(ctx context.Context) ([]Addr, error) {
	links, err := k.Links(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Index] = l.Name
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		as, err := k.h.AddrList(nil, netlink.FAMILY_ALL)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink address dump: %w", err)
		}
		out := make([]Addr, 0, len(as))
		for _, a := range as {
			p, ok := IPNetPrefix(a.IPNet)
			if !ok {
				continue
			}
			addr := Addr{Link: names[a.LinkIndex], Prefix: p, Permanent: a.Flags&unix.IFA_F_PERMANENT != 0,
				Valid: lifetime(a.ValidLft), Preferred: lifetime(a.PreferedLft), Flags: a.Flags & SettableAddrFlags}
			if p.Addr().Is4() {
				addr.Broadcast = netip.IPv4Unspecified()
				if b, ok := netip.AddrFromSlice(a.Broadcast.To4()); ok {
					addr.Broadcast = b
				}
			}
			out = append(out, addr)
		}
		return out, nil
	}
}

// lifetime converts a kernel lifetime in seconds; 0xffffffff is forever.
func lifetime(secs int) time.Duration {
	if secs <= 0 || secs == 0xffffffff || int64(secs) >= 0xffffffff {
		return 0
	}
	return time.Duration(secs) * time.Second
}

func (k *Netlink) nlAddr(ctx context.Context, a Addr) (netlink.Link, *netlink.Addr, error) {
	hl, _, err := k.handleLink(ctx, a.Link)
	if err != nil {
		return nil, nil, err
	}
	na := &netlink.Addr{IPNet: prefixIPNet(a.Prefix), Flags: a.Flags & SettableAddrFlags}
	if a.Broadcast.IsValid() && a.Prefix.Addr().Is4() {
		// 0.0.0.0 is sent as such (the kernel keeps no broadcast); nil
		// would make the library derive one.
		na.Broadcast = net.IP(a.Broadcast.AsSlice())
	}
	if a.Valid > 0 {
		na.ValidLft = int(max(a.Valid/time.Second, 1))
		na.PreferedLft = int(max(a.Preferred/time.Second, 0))
		if a.Preferred == 0 {
			na.PreferedLft = na.ValidLft
		}
	}
	return hl, na, nil
}

// AddAddr adds or refreshes an address.
func (k *Netlink) AddAddr(ctx context.Context, a Addr) (Undo, error) {
	before, err := k.addrOn(ctx, a.Link, a.Prefix)
	if err != nil {
		return nil, err
	}
	hl, na, err := k.nlAddr(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := k.h.AddrReplace(hl, na); err != nil {
		return nil, fmt.Errorf("add address %s to %s: %w", a.Prefix, a.Link, err)
	}
	return func(ctx context.Context) error {
		if before != nil {
			_, err := k.AddAddr(ctx, *before)
			return err
		}
		_, err := k.DelAddr(ctx, a)
		return err
	}, nil
}

// addrOn returns the address p on link, or nil.
func (k *Netlink) addrOn(ctx context.Context, link string, p netip.Prefix) (*Addr, error) {
	as, err := k.Addrs(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.Link == link && a.Prefix == p {
			return &a, nil
		}
	}
	return nil, nil
}

// DelAddr removes an address (absent is not an error).
func (k *Netlink) DelAddr(ctx context.Context, a Addr) (Undo, error) {
	before, err := k.addrOn(ctx, a.Link, a.Prefix)
	if err != nil {
		return nil, err
	}
	if before == nil {
		return func(context.Context) error { return nil }, nil
	}
	hl, na, err := k.nlAddr(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := k.h.AddrDel(hl, na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil, fmt.Errorf("remove address %s from %s: %w", a.Prefix, a.Link, err)
	}
	return func(ctx context.Context) error {
		_, err := k.AddAddr(ctx, *before)
		return err
	}, nil
}

// Routes lists the unicast routes of every table but local.
func (k *Netlink) Routes(ctx context.Context) ([]Route, error) {
	links, err := k.Links(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Index] = l.Name
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rs, err := k.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink route dump: %w", err)
		}
		out := make([]Route, 0, len(rs))
		for _, r := range rs {
			if r.Table == unix.RT_TABLE_LOCAL || r.Type != unix.RTN_UNICAST || r.MultiPath != nil || r.LinkIndex == 0 {
				continue
			}
			rt := Route{Link: names[r.LinkIndex], Table: r.Table, Metric: r.Priority, Protocol: int(r.Protocol),
				Scope: int(r.Scope), OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0}
			if p, ok := IPNetPrefix(r.Dst); ok {
				rt.Dst = p.Masked()
			} else if r.Family == unix.AF_INET6 {
				rt.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			} else {
				rt.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			}
			if a, ok := netip.AddrFromSlice(r.Gw); ok {
				rt.Gw = a.Unmap()
			}
			if a, ok := netip.AddrFromSlice(r.Src); ok {
				rt.Src = a.Unmap()
			}
			out = append(out, rt)
		}
		return out, nil
	}
}

func (k *Netlink) nlRoute(ctx context.Context, r Route) (*netlink.Route, error) {
	l, err := k.Link(ctx, r.Link)
	if err != nil {
		return nil, err
	}
	nr := &netlink.Route{
		LinkIndex: l.Index,
		Dst:       &net.IPNet{IP: net.IP(r.Dst.Addr().AsSlice()), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Priority:  r.Metric,
		Table:     r.Table,
		Protocol:  netlink.RouteProtocol(r.Protocol),
		Scope:     netlink.Scope(r.Scope),
	}
	if nr.Table == 0 {
		nr.Table = unix.RT_TABLE_MAIN
	}
	if r.Dst.Addr().Is6() {
		nr.Family = unix.AF_INET6
	} else {
		nr.Family = unix.AF_INET
	}
	if r.Gw.IsValid() {
		nr.Gw = net.IP(r.Gw.AsSlice())
	}
	if r.Src.IsValid() {
		nr.Src = net.IP(r.Src.AsSlice())
	}
	if r.OnLink {
		nr.Flags = int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}

// routeByKey returns the route with r's key, or nil.
func (k *Netlink) routeByKey(ctx context.Context, r Route) (*Route, error) {
	rs, err := k.Routes(ctx)
	if err != nil {
		return nil, err
	}
	for _, have := range rs {
		if have.Key() == r.Key() {
			return &have, nil
		}
	}
	return nil, nil
}

// AddRoute adds a route, replacing the one with the same key.
func (k *Netlink) AddRoute(ctx context.Context, r Route) (Undo, error) {
	before, err := k.routeByKey(ctx, r)
	if err != nil {
		return nil, err
	}
	nr, err := k.nlRoute(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := k.h.RouteReplace(nr); err != nil {
		return nil, fmt.Errorf("add route %s via %s dev %s: %w", r.Dst, r.Gw, r.Link, err)
	}
	return func(ctx context.Context) error {
		if _, err := k.DelRoute(ctx, r); err != nil {
			return err
		}
		if before != nil {
			_, err := k.AddRoute(ctx, *before)
			return err
		}
		return nil
	}, nil
}

// DelRoute removes a route (absent is not an error).
func (k *Netlink) DelRoute(ctx context.Context, r Route) (Undo, error) {
	nr, err := k.nlRoute(ctx, r)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return func(context.Context) error { return nil }, nil
		}
		return nil, err
	}
	if err := k.h.RouteDel(nr); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return func(context.Context) error { return nil }, nil
		}
		return nil, fmt.Errorf("remove route %s dev %s: %w", r.Dst, r.Link, err)
	}
	return func(ctx context.Context) error {
		_, err := k.AddRoute(ctx, r)
		return err
	}, nil
}

// WaitCarrier waits until every named link has carrier or the deadline
// passes, on link events and a poll (see WaitFor).
func (k *Netlink) WaitCarrier(ctx context.Context, names []string, deadline time.Time) (map[string]bool, error) {
	up := make(map[string]bool, len(names))
	if len(names) == 0 {
		return up, nil
	}
	carrier := func(links []Link) bool {
		for _, n := range names {
			if l, err := find(links, n); err != nil || !l.Carrier {
				return false
			}
		}
		return true
	}
	links, _, err := k.WaitFor(ctx, deadline, carrier)
	if err != nil {
		return up, err
	}
	for _, n := range names {
		l, err := find(links, n)
		if err != nil {
			return up, err
		}
		up[n] = l.Carrier
	}
	return up, nil
}

// subscribeFunc subscribes to link events; Netlink.subscribe replaces it in
// tests to make the subscription fail.
type subscribeFunc func(ch chan<- netlink.LinkUpdate, done <-chan struct{}, opts netlink.LinkSubscribeOptions) error

// WaitFor waits for cond on link events, subscribed before the first look
// so that no change falls between the two, and a poll every PollInterval.
// When the subscription fails, or reports an error (ENOBUFS: events were
// lost), the poll alone goes on.
func (k *Netlink) WaitFor(ctx context.Context, deadline time.Time, cond func([]Link) bool) ([]Link, bool, error) {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	ns := k.ns
	subscribe := k.subscribe
	if subscribe == nil {
		subscribe = netlink.LinkSubscribeWithOptions
	}
	var events <-chan netlink.LinkUpdate
	if err := subscribe(updates, done, netlink.LinkSubscribeOptions{
		Namespace: &ns,
		ErrorCallback: func(err error) {
			if !errors.Is(err, netlink.ErrDumpInterrupted) {
				k.log.Warn("link events failed; polling", "error", err)
			}
		},
	}); err != nil {
		k.log.Warn("link events unavailable; polling", "error", err)
	} else {
		events = updates
		defer func() {
			close(done)
			// Drain, so the library's reader is never stuck sending.
			go func() {
				for range updates {
				}
			}()
		}()
	}
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		links, err := k.Links(ctx)
		if err != nil {
			return nil, false, err
		}
		if cond(links) {
			return links, true, nil
		}
		select {
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		case <-tick.C:
		case <-timer.C:
			links, err := k.Links(ctx)
			if err != nil {
				return nil, false, err
			}
			return links, cond(links), nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// IPNetPrefix converts a *net.IPNet to a netip.Prefix, IPv4 unmapped.
func IPNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
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
