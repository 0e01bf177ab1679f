package spec

import (
	"fmt"
	"slices"
	"strings"
)

// KeyValue is one key=value line of a unit file.
type KeyValue struct {
	Key, Value string
}

// SysfsWrite is one value a udev rule writes to a bond's sysfs file
// (relative to the bond's device directory) when the bond appears; or, for a
// parameter the kernel has no sysfs file for (Param.NoSysfs), the arguments
// of `ip link set dev BOND type bond` that set it, in IP.
type SysfsWrite struct {
	Attr, Value string
	IP          []string
	// Setting is what the write persists.
	Setting Setting
}

// IPCommand is where a udev rule finds iproute2's ip (Debian, RHEL, SUSE:
// /sbin is /usr/sbin or holds it). ns_ip6_target needs iproute2 6.0 or later.
const IPCommand = "/sbin/ip"

// Persisted is how a bond's parameters survive the reboot: networkd's [Bond]
// keys, and udev rule writes for what networkd cannot express.
type Persisted struct {
	Networkd []KeyValue
	Udev     []SysfsWrite
}

// changelinkOrder is the order in which the kernel applies a bond's
// rtnetlink attributes (bond_changelink), which udev writes follow too: the
// MII monitor before the delays that need it, the ARP monitor before its
// targets and validation.
var changelinkOrder = []uint16{
	AttrMode, AttrActiveSlave, AttrMIIMon, AttrUpDelay, AttrDownDelay, AttrPeerNotifDelay, AttrUseCarrier,
	AttrARPInterval, AttrARPIPTarget, AttrNSIP6Target, AttrARPValidate, AttrARPAllTargets, AttrPrimary,
	AttrPrimaryReselect, AttrFailOverMAC, AttrXmitHashPolicy, AttrResendIGMP, AttrNumPeerNotif,
	AttrAllSlavesActive, AttrMinLinks, AttrLPInterval, AttrPacketsPerSlave, AttrADLACPActive, AttrADLACPRate,
	AttrADSelect, AttrADActorSysPrio, AttrADUserPortKey, AttrADActorSystem, AttrTLBDynamicLB, AttrMissedMax,
	AttrCoupledControl,
}

// KernelOrder sorts settings in the order the kernel applies them.
func KernelOrder(ss Settings) Settings {
	out := slices.Clone(ss)
	slices.SortStableFunc(out, func(a, b Setting) int {
		return slices.Index(changelinkOrder, a.Param.Attr) - slices.Index(changelinkOrder, b.Param.Attr)
	})
	return out
}

// DefaultIn returns the kernel's value of p on a bond made in mode without
// it, when it is a number (and 0 for the others).
func DefaultIn(p *Param, mode string) int64 {
	switch p.Key {
	case "mii-monitor-interval":
		// Setting the mode forces the MII monitor on in these modes.
		if mode == LACP || mode == BalanceTLB || mode == BalanceALB {
			return DefaultMIIMon
		}
		return 0
	case "tlb-dynamic-lb", "lacp-active", "use-carrier", "gratuitous-arp",
		"resend-igmp", "packets-per-member", "learn-packet-interval":
		return 1
	case "arp-missed-max":
		return 2
	case "ad-actor-system-priority":
		return 65535
	}
	return 0
}

// Persist decides how each setting of a bond in mode is persisted: as the
// [Bond] key networkd (NetworkdVersion) sends to the kernel when it makes the
// bond, or else as a udev rule write to sysfs, which runs when the bond
// appears and before networkd brings it up. A parameter the kernel changes
// only while the bond has no ports cannot be written by udev (networkd may
// have enslaved a port by then); such a value networkd cannot express is a
// Problem.
func Persist(mode string, ss Settings) (Persisted, []Problem) {
	var out Persisted
	var problems []Problem
	arp := ss.Int("arp-interval", 0) > 0
	for _, s := range KernelOrder(ss) {
		p := s.Param
		if why := networkdCannot(s, mode, arp); why == "" {
			v, _ := s.networkdValue()
			out.Networkd = append(out.Networkd, KeyValue{Key: p.Networkd, Value: v})
			continue
		} else if IsDefault(s, mode) {
			// What networkd leaves alone the kernel makes its default: the
			// value given.
			continue
		} else if p.NoPorts {
			problems = append(problems, Problem{Key: p.Key, Msg: fmt.Sprintf(
				"is %s, which bondstrap cannot persist: %s, and the kernel changes %s only while the bond has no ports",
				s, why, p.Kernel)})
			continue
		}
		if p.NoSysfs {
			out.Udev = append(out.Udev, SysfsWrite{IP: []string{p.Kernel, s.ipValue()}, Setting: s})
			continue
		}
		for _, v := range s.Sysfs() {
			out.Udev = append(out.Udev, SysfsWrite{Attr: "bonding/" + p.Kernel, Value: v, Setting: s})
		}
	}
	// networkd sends what it knows in one message, so the kernel's rules
	// about values given together apply to its share alone.
	return out, problems
}

// IsDefault reports whether s holds what the kernel gives a bond made in mode
// without it.
func IsDefault(s Setting, mode string) bool {
	switch s.Param.Kind {
	case Enum, Int, Millis, Seconds, Bool:
		return s.N == DefaultIn(s.Param, mode)
	case IPv4List, IPv6List:
		return len(s.Addrs) == 0
	}
	return false
}

// networkdCannot says why networkd would not give the kernel s when it makes
// a bond in mode, or returns "".
func networkdCannot(s Setting, mode string, arp bool) string {
	p := s.Param
	switch {
	case p.Networkd == "":
		return "systemd-networkd has no key for " + p.Kernel
	case p.NetworkdSince > NetworkdVersion:
		return fmt.Sprintf("%s= needs systemd %d", p.Networkd, p.NetworkdSince)
	case p.NetworkdModes != nil && !slices.Contains(p.NetworkdModes, mode):
		return fmt.Sprintf("networkd sends %s= only in mode %s", p.Networkd, strings.Join(p.NetworkdModes, ", "))
	case p.NetworkdWithARP && !arp:
		return fmt.Sprintf("networkd sends %s= only with ARPIntervalSec=", p.Networkd)
	case p.NetworkdSkipsZero && s.N == 0 && DefaultIn(p, mode) != 0:
		return fmt.Sprintf("networkd does not send %s=0, and the kernel's default in %s is %d", p.Networkd, mode, DefaultIn(p, mode))
	}
	if _, ok := s.networkdValue(); !ok {
		return fmt.Sprintf("networkd does not know %s=%s", p.Networkd, s)
	}
	return ""
}
