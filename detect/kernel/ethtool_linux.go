package kernel

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethFlagLRO is ETH_FLAG_LRO in ETHTOOL_GFLAGS/SFLAGS (uapi ethtool.h).
const ethFlagLRO = 1 << 15

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd, data uint32
}

// ifreqData is struct ifreq with ifr_data set: a name and a pointer, in a
// struct as large as the kernel's.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [unsafe.Sizeof(unix.Ifreq{}) - unix.IFNAMSIZ - unsafe.Sizeof(uintptr(0))]byte
}

// ethtoolFlags runs ETHTOOL_GFLAGS, or ETHTOOL_SFLAGS with flags, on the
// link name, through the socket Open made in k's namespace (a socket
// resolves names in the namespace it was made in).
func (k *Netlink) ethtoolFlags(name string, cmd, flags uint32) (uint32, error) {
	v := ethtoolValue{cmd: cmd, data: flags}
	var r ifreqData
	if len(name) >= len(r.name) {
		return 0, unix.EINVAL
	}
	copy(r.name[:], name)
	r.data = unsafe.Pointer(&v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(k.ethtoolFD), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}

// LRO reads ETH_FLAG_LRO through the ethtool ioctl (the kernel reports it
// for every device, off where the driver has none).
func (k *Netlink) LRO(ctx context.Context, name string) (bool, error) {
	if _, err := k.Link(ctx, name); err != nil {
		return false, err
	}
	flags, err := k.ethtoolFlags(name, unix.ETHTOOL_GFLAGS, 0)
	if err != nil {
		return false, fmt.Errorf("LRO of %s: ethtool flags: %w", name, err)
	}
	return flags&ethFlagLRO != 0, nil
}

// SetLRO turns ETH_FLAG_LRO on or off, the other flags as they are, and
// reads it back: the kernel may keep it off without an error (on a bridge
// port, or with IP forwarding on). Asking for the state the link is in
// sends nothing.
func (k *Netlink) SetLRO(ctx context.Context, name string, on bool) (Undo, error) {
	if _, err := k.Link(ctx, name); err != nil {
		return nil, err
	}
	flags, err := k.ethtoolFlags(name, unix.ETHTOOL_GFLAGS, 0)
	if err != nil {
		return nil, fmt.Errorf("LRO of %s: ethtool flags: %w", name, err)
	}
	if (flags&ethFlagLRO != 0) == on {
		return func(context.Context) error { return nil }, nil
	}
	want := flags &^ ethFlagLRO
	if on {
		want |= ethFlagLRO
	}
	if _, err := k.ethtoolFlags(name, unix.ETHTOOL_SFLAGS, want); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("turn LRO %s on %s: %w (the driver has no LRO)", onOff(on), name, err)
		}
		return nil, fmt.Errorf("turn LRO %s on %s: %w", onOff(on), name, err)
	}
	got, err := k.ethtoolFlags(name, unix.ETHTOOL_GFLAGS, 0)
	if err != nil {
		return nil, fmt.Errorf("LRO of %s: ethtool flags: %w", name, err)
	}
	if (got&ethFlagLRO != 0) != on {
		return nil, fmt.Errorf("turn LRO %s on %s: the kernel keeps it %s (a bridge port, or IP forwarding on?)", onOff(on), name, onOff(!on))
	}
	return func(ctx context.Context) error {
		_, err := k.SetLRO(ctx, name, !on)
		return err
	}, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
