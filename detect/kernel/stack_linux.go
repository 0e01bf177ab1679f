package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The kernel keeps a bridge's times in clock_t, hundredths of a second
// (USER_HZ), which it turns into jiffies: a time that is not a multiple of
// one jiffy (4 ms at HZ=250) reads back rounded down.
const clockTick = 10 * time.Millisecond

func clockT(d time.Duration) []byte { return nl.Uint32Attr(uint32(d / clockTick)) }

func fromClockT(b []byte) time.Duration { return time.Duration(u32(b)) * clockTick }

// bridgeInfo builds IFLA_LINKINFO {kind bridge, data {...}}: STP always,
// the times that are not zero, the priority when not -1. The kernel applies
// them in its own order (times first, STP last) whatever the order here.
func bridgeInfo(c BridgeConfig) *nl.RtAttr {
	info, data := newLinkInfo(false, "bridge")
	for _, t := range []struct {
		typ int
		d   time.Duration
	}{
		{unix.IFLA_BR_FORWARD_DELAY, c.ForwardDelay}, {unix.IFLA_BR_HELLO_TIME, c.HelloTime},
		{unix.IFLA_BR_MAX_AGE, c.MaxAge}, {unix.IFLA_BR_AGEING_TIME, c.AgeingTime},
	} {
		if t.d != 0 {
			data.AddRtAttr(t.typ, clockT(t.d))
		}
	}
	stp := uint32(0)
	if c.STP {
		stp = 1
	}
	data.AddRtAttr(unix.IFLA_BR_STP_STATE, nl.Uint32Attr(stp))
	if c.Priority >= 0 {
		data.AddRtAttr(unix.IFLA_BR_PRIORITY, nl.Uint16Attr(uint16(c.Priority)))
	}
	return info
}

// decodeBridge reads a bridge's IFLA_INFO_DATA.
func decodeBridge(data []byte) (*BridgeConfig, error) {
	c := &BridgeConfig{Priority: -1}
	return c, eachAttr(data, func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_BR_FORWARD_DELAY:
			c.ForwardDelay = fromClockT(v)
		case unix.IFLA_BR_HELLO_TIME:
			c.HelloTime = fromClockT(v)
		case unix.IFLA_BR_MAX_AGE:
			c.MaxAge = fromClockT(v)
		case unix.IFLA_BR_AGEING_TIME:
			c.AgeingTime = fromClockT(v)
		case unix.IFLA_BR_STP_STATE:
			// 1: the kernel's STP, 2: a user space daemon's.
			c.STP = uintAttr(v) != 0
		case unix.IFLA_BR_PRIORITY:
			c.Priority = int(uintAttr(v))
		}
	})
}

// eachAttr calls fn with the type and value of each attribute in b.
func eachAttr(b []byte, fn func(typ uint16, v []byte)) error {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return err
	}
	for _, a := range attrs {
		fn(a.Attr.Type&nl.NLA_TYPE_MASK, a.Value)
	}
	return nil
}

// newLinkInfo returns IFLA_LINKINFO with kind (IFLA_INFO_KIND, or the
// slave kind for a port) and the data attribute to fill.
func newLinkInfo(port bool, kind string) (info, data *nl.RtAttr) {
	info = nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	if port {
		info.AddRtAttr(unix.IFLA_INFO_SLAVE_KIND, nl.NonZeroTerminated(kind))
		return info, info.AddRtAttr(unix.IFLA_INFO_SLAVE_DATA, nil)
	}
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated(kind))
	return info, info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
}

// portInfo builds IFLA_LINKINFO {slave kind bridge, slave data {cost,
// priority}}: what `ip link set PORT type bridge_slave` sends.
func portInfo(p BridgePort) *nl.RtAttr {
	info, data := newLinkInfo(true, "bridge")
	if p.Cost != 0 {
		data.AddRtAttr(unix.IFLA_BRPORT_COST, nl.Uint32Attr(uint32(p.Cost)))
	}
	if p.Priority >= 0 {
		data.AddRtAttr(unix.IFLA_BRPORT_PRIORITY, nl.Uint16Attr(uint16(p.Priority)))
	}
	return info
}

// decodeBridgePort reads a bridge port's IFLA_INFO_SLAVE_DATA.
func decodeBridgePort(data []byte) (*BridgePort, error) {
	p := &BridgePort{}
	return p, eachAttr(data, func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_BRPORT_COST:
			p.Cost = int(uintAttr(v))
		case unix.IFLA_BRPORT_PRIORITY:
			p.Priority = int(uintAttr(v))
		}
	})
}

// vlanInfo builds IFLA_LINKINFO {kind vlan, data {id}}.
func vlanInfo(id int) *nl.RtAttr {
	info, data := newLinkInfo(false, "vlan")
	data.AddRtAttr(unix.IFLA_VLAN_ID, nl.Uint16Attr(uint16(id)))
	return info
}

// decodeVLANID reads a VLAN's id from its IFLA_INFO_DATA.
func decodeVLANID(data []byte) (int, error) {
	id := -1
	err := eachAttr(data, func(typ uint16, v []byte) {
		if typ == unix.IFLA_VLAN_ID {
			id = int(uintAttr(v))
		}
	})
	if err == nil && id < 0 {
		err = errors.New("no VLAN id")
	}
	return id, err
}

// CreateVLAN makes a VLAN on its parent (IFLA_LINK), with its id, MAC and
// MTU in one RTM_NEWLINK.
func (k *Netlink) CreateVLAN(ctx context.Context, c VLANConfig) (Undo, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("create VLAN %s: %w", c.Name, err)
	}
	p, err := k.Link(ctx, c.Parent)
	if err != nil {
		return nil, fmt.Errorf("create VLAN %s: parent %w", c.Name, err)
	}
	return k.createLink(ctx, c.Name, c.MAC, c.MTU, "VLAN", "802.1Q VLAN driver (8021q.ko)",
		nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(uint32(p.Index))), vlanInfo(c.ID))
}

// CreateBridge makes a bridge with its settings, MAC and MTU in one
// RTM_NEWLINK. Settings the kernel would refuse, or clamp, are refused
// before (BridgeConfig.Check).
func (k *Netlink) CreateBridge(ctx context.Context, c BridgeConfig) (Undo, error) {
	if err := CheckName(c.Name); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", c.Name, err)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", c.Name, err)
	}
	return k.createLink(ctx, c.Name, c.MAC, c.MTU, "bridge", "bridge driver (bridge.ko)", bridgeInfo(c))
}

// ChangeBridge sends a bridge's settings in one request; two when STP goes
// off: the kernel sets the times before STP, and would check a forward
// delay against STP's range while STP is still on.
func (k *Netlink) ChangeBridge(ctx context.Context, c BridgeConfig) (Undo, error) {
	l, err := k.Link(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	if l.Bridge == nil {
		return nil, fmt.Errorf("change bridge %s: a %s link: %w", c.Name, orDevice(l.Kind), unix.EOPNOTSUPP)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("change bridge %s: %w", c.Name, err)
	}
	if l.Bridge.STP && !c.STP {
		if err := k.setLinkInfo(ctx, l.Index, bridgeInfo(BridgeConfig{Priority: -1})); err != nil {
			return nil, fmt.Errorf("change bridge %s: STP off: %w", c.Name, err)
		}
	}
	if err := k.setLinkInfo(ctx, l.Index, bridgeInfo(c)); err != nil {
		return nil, fmt.Errorf("change bridge %s: %w", c.Name, err)
	}
	old := *l.Bridge
	old.Name = c.Name
	return func(ctx context.Context) error {
		_, err := k.ChangeBridge(ctx, old)
		return err
	}, nil
}

// SetBridgePort sends a port's cost and priority as bridge slave data.
func (k *Netlink) SetBridgePort(ctx context.Context, name string, p BridgePort) (Undo, error) {
	l, err := k.Link(ctx, name)
	if err != nil {
		return nil, err
	}
	if p.Cost == 0 && p.Priority < 0 {
		return func(context.Context) error { return nil }, nil
	}
	// Checked here: bridge slave data sent to a bond's port would be read
	// as the bond's (IFLA_BRPORT_COST is IFLA_BOND_SLAVE_LINK_FAILURE_COUNT).
	if l.BridgePort == nil {
		return nil, fmt.Errorf("set bridge port %s: not a bridge's port: %w", name, unix.EOPNOTSUPP)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("set bridge port %s: %w", name, err)
	}
	if err := k.setLinkInfo(ctx, l.Index, portInfo(p)); err != nil {
		return nil, fmt.Errorf("set bridge port %s: %w", name, err)
	}
	old := BridgePort{Priority: -1}
	if p.Cost != 0 {
		old.Cost = l.BridgePort.Cost
	}
	if p.Priority >= 0 {
		old.Priority = l.BridgePort.Priority
	}
	return func(ctx context.Context) error {
		_, err := k.SetBridgePort(ctx, name, old)
		return err
	}, nil
}

// setLinkInfo sends IFLA_LINKINFO to the link with index.
func (k *Netlink) setLinkInfo(ctx context.Context, index int, info *nl.RtAttr) error {
	req := linkRequest(0, index)
	req.AddData(info)
	_, err := k.execute(ctx, req, 0)
	return err
}

// createLink makes a link in one RTM_NEWLINK: name, MAC and MTU when set,
// and attrs. The undo deletes it. what names the kind in errors, and
// driver what the kernel lacks when it does not know the kind.
func (k *Netlink) createLink(ctx context.Context, name string, mac net.HardwareAddr, mtu int, what, driver string,
	attrs ...*nl.RtAttr) (Undo, error) {
	req := linkRequest(unix.NLM_F_CREATE|unix.NLM_F_EXCL, 0)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	if len(mac) > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_ADDRESS, mac))
	}
	if mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	}
	for _, a := range attrs {
		req.AddData(a)
	}
	if _, err := k.execute(ctx, req, 0); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("create %s %s: %w (the kernel has no %s: is it loaded or in the initramfs?)", what, name, err, driver)
		}
		return nil, fmt.Errorf("create %s %s: %w", what, name, err)
	}
	l, err := k.Link(ctx, name)
	if err != nil {
		return nil, err
	}
	index := l.Index
	return func(ctx context.Context) error {
		return k.deleteIndex(ctx, name, index)
	}, nil
}

// Rename renames a link that is down (IFLA_IFNAME).
func (k *Netlink) Rename(ctx context.Context, name, newName string) (Undo, error) {
	if err := CheckName(newName); err != nil {
		return nil, fmt.Errorf("rename %s: %w", name, err)
	}
	hl, l, err := k.handleLink(ctx, name)
	if err != nil {
		return nil, err
	}
	if newName == name {
		return func(context.Context) error { return nil }, nil
	}
	if l.Up {
		return nil, fmt.Errorf("rename %s to %s: the link is up: %w", name, newName, unix.EBUSY)
	}
	if err := k.h.LinkSetName(hl, newName); err != nil {
		return nil, fmt.Errorf("rename %s to %s: %w", name, newName, err)
	}
	index := l.Index
	return func(ctx context.Context) error {
		now, err := k.Link(ctx, newName)
		if err != nil {
			return err
		}
		if now.Index != index {
			return fmt.Errorf("rename %s back to %s: %s is another link now", newName, name, newName)
		}
		_, err = k.Rename(ctx, newName, name)
		return err
	}, nil
}

// inNetns runs fn on an OS thread of its own in k's network namespace:
// /proc/sys/net shows the namespace of the thread that opens a file in
// it. A thread that cannot be put back is not handed back to the runtime:
// it ends with its goroutine.
func (k *Netlink) inNetns(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(k.ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// ipv6Dir is net.ipv6.conf.<name> under procSys, or an error wrapping
// ErrNoIPv6 that says why there is none. It runs in k's namespace.
func (k *Netlink) ipv6Dir(name string) (string, error) {
	root := filepath.Join(k.sysctlRoot(), "net", "ipv6")
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w (the kernel has none: booted with ipv6.disable=1, or without the ipv6 module)", ErrNoIPv6)
	}
	dir := filepath.Join(root, "conf", name)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w (the kernel dropped IPv6 from it: is its MTU below %d?)", ErrNoIPv6, MinIPv6MTU)
	} else if err != nil {
		return "", err
	}
	disabled, err := readSysctl(filepath.Join(dir, "disable_ipv6"))
	if err != nil {
		return "", err
	}
	if disabled != 0 {
		return "", fmt.Errorf("%w (disable_ipv6 is set)", ErrNoIPv6)
	}
	return dir, nil
}

func (k *Netlink) sysctlRoot() string {
	if k.procSys != "" {
		return k.procSys
	}
	return "/proc/sys"
}

func readSysctl(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func writeSysctl(path string, v int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(v))
	return errors.Join(err, f.Close())
}

// IPv6 reads accept_ra and autoconf from /proc/sys/net/ipv6/conf/<name>.
func (k *Netlink) IPv6(ctx context.Context, name string) (IPv6Config, error) {
	if _, err := k.Link(ctx, name); err != nil {
		return IPv6Config{}, err
	}
	var c IPv6Config
	err := k.inNetns(func() error {
		dir, err := k.ipv6Dir(name)
		if err != nil {
			return err
		}
		c, err = readIPv6(dir)
		return err
	})
	if err != nil {
		return IPv6Config{}, fmt.Errorf("IPv6 settings of %s: %w", name, err)
	}
	return c, nil
}

// readIPv6 reads the settings in dir, net.ipv6.conf.<link>.
func readIPv6(dir string) (IPv6Config, error) {
	ra, err := readSysctl(filepath.Join(dir, "accept_ra"))
	if err != nil {
		return IPv6Config{}, err
	}
	auto, err := readSysctl(filepath.Join(dir, "autoconf"))
	if err != nil {
		return IPv6Config{}, err
	}
	return IPv6Config{AcceptRA: ra, Autoconf: auto != 0}, nil
}

// SetIPv6 writes accept_ra and autoconf; when the second write fails, the
// first is put back.
func (k *Netlink) SetIPv6(ctx context.Context, name string, c IPv6Config) (Undo, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("set IPv6 settings of %s: %w", name, err)
	}
	if _, err := k.Link(ctx, name); err != nil {
		return nil, err
	}
	var old IPv6Config
	err := k.inNetns(func() error {
		dir, err := k.ipv6Dir(name)
		if err != nil {
			return err
		}
		if old, err = readIPv6(dir); err != nil {
			return err
		}
		if err := writeSysctl(filepath.Join(dir, "accept_ra"), c.AcceptRA); err != nil {
			return err
		}
		if err := writeSysctl(filepath.Join(dir, "autoconf"), boolInt(c.Autoconf)); err != nil {
			return errors.Join(err, writeSysctl(filepath.Join(dir, "accept_ra"), old.AcceptRA))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set IPv6 settings of %s: %w", name, err)
	}
	return func(ctx context.Context) error {
		_, err := k.SetIPv6(ctx, name, old)
		return err
	}, nil
}
