package kernel

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// ErrNoIPv6 is wrapped by the errors of IPv6 and SetIPv6 for a link that
// has no IPv6: the kernel has none (booted with ipv6.disable=1, or built or
// loaded without it), it is disabled on the link (disable_ipv6), or the
// link's MTU is below MinIPv6MTU (the kernel drops IPv6 from such a link,
// and its settings with it).
var ErrNoIPv6 = errors.New("no IPv6 on the link")

// The limits the kernel puts on bridges, ports, VLANs and IPv6 links
// (net/bridge/br_private.h, br_stp_if.c, 8021q/vlan_netlink.c, ipv6.h).
const (
	// With STP on, the forward delay must be within these (ERANGE when it
	// is already on; when STP starts, the kernel clamps it).
	MinForwardDelay = 2 * time.Second
	MaxForwardDelay = 30 * time.Second
	// Hello time and max age are checked whether STP is on or not.
	MinHelloTime = 1 * time.Second
	MaxHelloTime = 10 * time.Second
	MinMaxAge    = 6 * time.Second
	MaxMaxAge    = 40 * time.Second
	// MaxBridgePriority is the highest bridge priority (a u16).
	MaxBridgePriority = 65535
	// A port's STP path cost is 1-MaxPortCost, its priority 0-MaxPortPriority.
	MaxPortCost     = 65535
	MaxPortPriority = 63
	// MaxVLANID is the highest VLAN id (4095 is reserved).
	MaxVLANID = 4094
	// MinIPv6MTU is the least MTU a link keeps IPv6 with.
	MinIPv6MTU = 1280
	// MaxNameLen is the longest interface name (IFNAMSIZ less the NUL).
	MaxNameLen = 15
)

// DefaultBridge is what the kernel gives a new bridge: STP off, forward
// delay 15 s, hello 2 s, max age 20 s, ageing 300 s, priority 32768.
var DefaultBridge = BridgeConfig{ForwardDelay: 15 * time.Second, HelloTime: 2 * time.Second,
	MaxAge: 20 * time.Second, AgeingTime: 300 * time.Second, Priority: 32768}

// DefaultPortPriority is a new bridge port's priority.
const DefaultPortPriority = 32

// DefaultIPv6 is what the kernel gives a new link (net.ipv6.conf.default
// as it boots).
var DefaultIPv6 = IPv6Config{AcceptRA: 1, Autoconf: true}

// Check reports what the kernel would refuse of a bridge's settings, with
// the kernel's errno (ERANGE): hello time and max age out of their ranges,
// and an explicit forward delay out of its range with STP on. (In a request
// that turns STP on, the kernel sets the forward delay first, while STP is
// still off, and then clamps it: Check refuses what would be clamped, so
// that a bridge gets what was asked for or an error.) Zero times and
// priority -1 are left as the bridge has them, and not checked.
func (c BridgeConfig) Check() error {
	for _, t := range []struct {
		name     string
		d        time.Duration
		min, max time.Duration
		checked  bool
	}{
		{"forward delay", c.ForwardDelay, MinForwardDelay, MaxForwardDelay, c.STP},
		{"hello time", c.HelloTime, MinHelloTime, MaxHelloTime, true},
		{"max age", c.MaxAge, MinMaxAge, MaxMaxAge, true},
		{"ageing time", c.AgeingTime, 0, time.Duration(1<<32-1) * 10 * time.Millisecond, true},
	} {
		if t.d < 0 || (t.d != 0 && t.checked && (t.d < t.min || t.d > t.max)) {
			return fmt.Errorf("bridge %s: %s %s outside %s-%s: %w", c.Name, t.name, t.d, t.min, t.max, syscall.ERANGE)
		}
	}
	if c.Priority < -1 || c.Priority > MaxBridgePriority {
		return fmt.Errorf("bridge %s: priority %d outside 0-%d: %w", c.Name, c.Priority, MaxBridgePriority, syscall.ERANGE)
	}
	return nil
}

// Check reports what the kernel would refuse of a bridge port's settings
// (ERANGE). Cost 0 and priority -1 leave them as they are.
func (p BridgePort) Check() error {
	if p.Cost < 0 || p.Cost > MaxPortCost {
		return fmt.Errorf("bridge port cost %d outside 1-%d: %w", p.Cost, MaxPortCost, syscall.ERANGE)
	}
	if p.Priority < -1 || p.Priority > MaxPortPriority {
		return fmt.Errorf("bridge port priority %d outside 0-%d: %w", p.Priority, MaxPortPriority, syscall.ERANGE)
	}
	return nil
}

// Check reports what the kernel would refuse of a VLAN to create: a bad
// name (EINVAL), an id outside 0-MaxVLANID (ERANGE).
func (c VLANConfig) Check() error {
	if err := CheckName(c.Name); err != nil {
		return err
	}
	if c.ID < 0 || c.ID > MaxVLANID {
		return fmt.Errorf("VLAN %s: id %d outside 0-%d: %w", c.Name, c.ID, MaxVLANID, syscall.ERANGE)
	}
	return nil
}

// Check reports an accept_ra the kernel would take but that means nothing
// (EINVAL): the sysctl stores any integer, bondstrap writes only 0, 1, 2.
func (c IPv6Config) Check() error {
	if c.AcceptRA < 0 || c.AcceptRA > 2 {
		return fmt.Errorf("accept_ra %d is not 0, 1 or 2: %w", c.AcceptRA, syscall.EINVAL)
	}
	return nil
}

// CheckName reports a name the kernel refuses for an interface (EINVAL, as
// dev_valid_name): empty, longer than MaxNameLen, "." or "..", or with a
// '/', ':' or white space in it.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n\v\f\r") {
		return fmt.Errorf("interface name %q: %w", name, syscall.EINVAL)
	}
	return nil
}
