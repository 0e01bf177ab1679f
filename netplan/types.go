// Package netplan reads bondstrap's configuration: netplan v2 YAML
// (network: {version: 2, ethernets: …, bonds: …}) extended with match rules that
// select NICs by PCI vendor:device ID, link speed, driver, MAC, name and carrier.
// It parses strictly, validates with the key path of every error, and selects
// the members of each bond from a NIC inventory. It imports nothing that
// touches the kernel.
package netplan

import (
	"net/netip"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// Config is a parsed and validated configuration file.
type Config struct {
	// File is the path the config was read from; errors name it.
	File string `json:"-"`

	Network Network `json:"network"`
	// Bondstrap holds bondstrap's own run-time options (not netplan keys).
	Bondstrap *Options `json:"bondstrap,omitempty"`
}

// Network is netplan's top-level "network" mapping.
type Network struct {
	Version   int                 `json:"version"`
	Renderer  string              `json:"renderer,omitempty"`
	Ethernets map[string]Ethernet `json:"ethernets,omitempty"`
	Bonds     map[string]Bond     `json:"bonds,omitempty"`
	VLANs     map[string]VLAN     `json:"vlans,omitempty"`
	Bridges   map[string]Bridge   `json:"bridges,omitempty"`
}

// Addressing is the layer-3 configuration netplan allows on every
// interface: ethernets that are not members, bonds, VLANs and bridges.
type Addressing struct {
	DHCP4 *bool `json:"dhcp4,omitempty"`
	DHCP6 *bool `json:"dhcp6,omitempty"`
	// AcceptRA turns the kernel's handling of IPv6 router advertisements
	// on (SLAAC addresses and the default route) or off.
	AcceptRA       *bool        `json:"accept-ra,omitempty"`
	DHCPIdentifier string       `json:"dhcp-identifier,omitempty"`
	Addresses      []string     `json:"addresses,omitempty"`
	Gateway4       string       `json:"gateway4,omitempty"`
	Gateway6       string       `json:"gateway6,omitempty"`
	Routes         []Route      `json:"routes,omitempty"`
	Nameservers    *Nameservers `json:"nameservers,omitempty"`
	MTU            int          `json:"mtu,omitempty"`
	MACAddress     string       `json:"macaddress,omitempty"`
}

// DHCP reports whether the interface takes an IPv4 address by DHCPv4.
func (a Addressing) DHCP() bool { return a.DHCP4 != nil && *a.DHCP4 }

// DHCPv6 reports whether the interface takes an IPv6 address by DHCPv6.
func (a Addressing) DHCPv6() bool { return a.DHCP6 != nil && *a.DHCP6 }

// RA reports whether apply turns router advertisements on for the
// interface (SLAAC addresses and the default route) and waits for one:
// accept-ra: true, or dhcp6 without accept-ra (DHCPv6 gives no routes; they
// come from RAs). accept-ra: false turns them off. With neither key, apply
// leaves the kernel's setting, and the units leave networkd's default
// (both accept them), as netplan's renderer does.
func (a Addressing) RA() bool {
	if a.AcceptRA != nil {
		return *a.AcceptRA
	}
	return a.DHCPv6()
}

// HasL3 reports whether any layer-3 key is set: addresses, DHCP, RA,
// gateways, routes or nameservers (not mtu or macaddress, which a member
// may carry).
func (a Addressing) HasL3() bool {
	return a.DHCP4 != nil || a.DHCP6 != nil || a.AcceptRA != nil || len(a.Addresses) > 0 ||
		a.Gateway4 != "" || a.Gateway6 != "" || len(a.Routes) > 0 || a.Nameservers != nil ||
		a.DHCPIdentifier != ""
}

// Ethernet is an entry of network.ethernets. Its id names it in a bond's
// or a bridge's interfaces and in a VLAN's link; without Match, the id is the
// interface name. An ethernets id that is neither a bond member nor a
// bridge port is a standalone interface and may carry addressing.
type Ethernet struct {
	Match *Match `json:"match,omitempty"`
	// SetName renames the NIC the id selects, live and in a .link file.
	SetName string `json:"set-name,omitempty"`
	Addressing
}

// Match selects NICs. Every key given must hold; a list holds if any element
// does.
type Match struct {
	// Name is a shell glob on the kernel interface name.
	Name string `json:"name,omitempty"`
	// MACAddress is the permanent MAC address.
	MACAddress string `json:"macaddress,omitempty"`
	// Driver is a glob, or a list of globs, on the kernel driver name.
	Driver StringList `json:"driver,omitempty"`
	// PCIID is "vendor:device" in hex, with globs ("15b3:*"), or a list.
	PCIID StringList `json:"pci-id,omitempty"`
	// MinSpeed and MaxSpeed bound the link speed in Mb/s.
	MinSpeed *int `json:"min-speed,omitempty"`
	MaxSpeed *int `json:"max-speed,omitempty"`
	// Carrier, when true, keeps only NICs that have link.
	Carrier *bool `json:"carrier,omitempty"`
	// BootIF, when true, keeps only the NIC the machine booted from by
	// PXE: the one whose permanent MAC is BOOTIF= on the kernel command
	// line, which Config.SetBootIF gives. Without one it matches no NIC.
	BootIF *bool `json:"bootif,omitempty"`

	// bootMAC is the BOOTIF= MAC Config.SetBootIF gave, "" for none.
	bootMAC string
}

// StringList is a YAML value that may be a single string or a list of strings.
type StringList []string

// Bond is an entry of network.bonds.
type Bond struct {
	// Interfaces are ids of network.ethernets.
	Interfaces []string        `json:"interfaces"`
	Parameters *BondParameters `json:"parameters,omitempty"`

	// MinMembers (default 1) and MaxMembers (default unlimited) bound the
	// number of selected members. bondstrap extensions.
	MinMembers *int `json:"min-members,omitempty"`
	MaxMembers *int `json:"max-members,omitempty"`

	// LACP says how apply checks an 802.3ad bond's negotiation with its
	// partner, and what it does when it fails. bondstrap extension.
	LACP *LACPCheck `json:"lacp,omitempty"`

	Addressing
}

// VLAN is an entry of network.vlans: an 802.1Q VLAN on a link (a bond, an
// ethernets id or a bridge), named by its key.
type VLAN struct {
	// ID is the VLAN id, 0-4094.
	ID *int `json:"id"`
	// Link is the bond, ethernets id or bridge the VLAN sits on.
	Link string `json:"link"`
	Addressing
}

// Bridge is an entry of network.bridges: a Linux bridge over bonds, VLANs
// or ethernets ids, named by its key.
type Bridge struct {
	// Interfaces are the bridge's ports: bond names, VLAN names or
	// ethernets ids.
	Interfaces []string          `json:"interfaces,omitempty"`
	Parameters *BridgeParameters `json:"parameters,omitempty"`
	Addressing
}

// BridgeParameters are netplan's bridges.<name>.parameters. Times are in
// seconds, or with a unit (netplan and networkd read a bare number as
// seconds).
type BridgeParameters struct {
	// STP turns the spanning tree protocol on; netplan's default is true.
	STP          *bool   `json:"stp,omitempty"`
	ForwardDelay Seconds `json:"forward-delay,omitempty"`
	HelloTime    Seconds `json:"hello-time,omitempty"`
	MaxAge       Seconds `json:"max-age,omitempty"`
	AgeingTime   Seconds `json:"ageing-time,omitempty"`
	// Priority is the bridge's priority in the spanning tree, 0-65535.
	Priority *int `json:"priority,omitempty"`
	// PathCost and PortPriority are per port, by the port's name in
	// interfaces.
	PathCost     map[string]int `json:"path-cost,omitempty"`
	PortPriority map[string]int `json:"port-priority,omitempty"`
}

// STPOrDefault is stp, true when not given (netplan's default).
func (p *BridgeParameters) STPOrDefault() bool {
	return p == nil || p.STP == nil || *p.STP
}

// DefaultForwardDelay is the kernel's forward delay of a new bridge.
const DefaultForwardDelay = 15 * time.Second

// ForwardDelayOrDefault is forward-delay, or the kernel's default.
func (p *BridgeParameters) ForwardDelayOrDefault() time.Duration {
	if p == nil || p.ForwardDelay == "" {
		return DefaultForwardDelay
	}
	return p.ForwardDelay.Duration()
}

// Seconds is a time in YAML: a number of seconds, or a number with a unit
// (ms, s, m); validation normalizes it to a Go duration string.
type Seconds string

// Duration is the time, 0 when unset.
func (s Seconds) Duration() time.Duration {
	d, _ := time.ParseDuration(string(s))
	return d
}

// LACPCheck is bonds.<name>.lacp: after enslaving, apply waits for the
// bond's active aggregator to have an LACP partner and every member with link
// in it; Timeout bounds the wait, OnFailure says what happens when no
// partner answers or fewer than min-members joined, Persist what the units
// keep after a fallback.
type LACPCheck struct {
	// Timeout is a Go duration; default 30s.
	Timeout string `json:"timeout,omitempty"`
	// OnFailure is "active-backup" (the default: the bond continues in
	// active-backup over the same members, and the run is degraded),
	// "fail" (the bond stage fails: rollback, or the fallback of
	// bondstrap.on-failure) or "continue" (keep the 802.3ad bond as it is,
	// with a warning).
	OnFailure string `json:"on-failure,omitempty"`
	// Persist is what the units keep after a fallback to active-backup:
	// "built" (the default: the network that worked) or "declared" (the
	// 802.3ad bond, for the next boot to try LACP again).
	Persist string `json:"persist,omitempty"`
}

// LACP on-failure and persist values.
const (
	LACPFallbackActiveBackup = "active-backup"
	LACPFail                 = "fail"
	LACPContinue             = "continue"
	LACPPersistBuilt         = "built"
	LACPPersistDeclared      = "declared"
	// DefaultLACPTimeout bounds the wait for the partner: LACP partners
	// exchange LACPDUs at once when a port comes up, whatever their rate.
	DefaultLACPTimeout = 30 * time.Second
)

// LACPTimeout is the bond's lacp.timeout, or its default.
func (b Bond) LACPTimeout() time.Duration {
	if b.LACP != nil {
		if d, err := time.ParseDuration(b.LACP.Timeout); err == nil && d > 0 {
			return d
		}
	}
	return DefaultLACPTimeout
}

// LACPOnFailure is the bond's lacp.on-failure, or its default.
func (b Bond) LACPOnFailure() string {
	if b.LACP != nil && b.LACP.OnFailure != "" {
		return b.LACP.OnFailure
	}
	return LACPFallbackActiveBackup
}

// LACPPersist is the bond's lacp.persist, or its default.
func (b Bond) LACPPersist() string {
	if b.LACP != nil && b.LACP.Persist != "" {
		return b.LACP.Persist
	}
	return LACPPersistBuilt
}

// MinMembersOrDefault is min-members, 1 when not given.
func (b Bond) MinMembersOrDefault() int {
	if b.MinMembers != nil {
		return *b.MinMembers
	}
	return 1
}

// Route is an entry of a bond's routes. To may be "default".
type Route struct {
	To     string `json:"to"`
	Via    string `json:"via,omitempty"`
	Metric *int   `json:"metric,omitempty"`
	OnLink bool   `json:"on-link,omitempty"`
	Table  int    `json:"table,omitempty"`
}

// Destination is the route's destination prefix: "default" is the whole
// address space of the gateway's family (IPv4 without a gateway). Validation
// has checked To, so the zero Prefix is returned only for a route it did
// not see.
func (r Route) Destination() netip.Prefix {
	if r.To == "default" {
		if r.Gateway().Is6() {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	p, err := netip.ParsePrefix(r.To)
	if err != nil {
		return netip.Prefix{}
	}
	return p.Masked()
}

// Gateway is the route's gateway, or the zero Addr for an on-link route.
func (r Route) Gateway() netip.Addr {
	a, err := netip.ParseAddr(r.Via)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Nameservers are DNS servers and search domains.
type Nameservers struct {
	Addresses []string `json:"addresses,omitempty"`
	Search    []string `json:"search,omitempty"`
}

// BondParameters are netplan's bonds.<name>.parameters: the mode, the
// primary, and the bonding driver's other parameters as spec.Settings, each
// parsed and checked by its spec.Param, in the order of spec.Params.
type BondParameters struct {
	Mode BondMode
	// Primary is an ethernets id; the first member it matches becomes the
	// bond's primary.
	Primary string
	// Settings are the other parameters given.
	Settings spec.Settings
}

// BondMode is a kernel bonding mode by its canonical name (spec.Modes). In
// YAML it may also be the kernel's number 0–6. Empty means the default,
// balance-rr.
type BondMode string

// Options are bondstrap's own run-time settings, under the top-level
// "bondstrap" key beside "network".
type Options struct {
	// LinkTimeout bounds the wait for carrier (Go duration, default "30s").
	LinkTimeout string `json:"link-timeout,omitempty"`
	// LinkSettle is how much longer detect waits for the other candidate
	// NICs once every bond has enough with link (Go duration, default
	// "2s", at most link-timeout; "0s": not at all).
	LinkSettle string `json:"link-settle,omitempty"`
	// DHCPTimeout bounds DHCPv4 (Go duration, default "60s").
	DHCPTimeout string `json:"dhcp-timeout,omitempty"`
	// OnFailure is "rollback" (default: undo everything, exit 1) or
	// "fallback-dhcp" (undo the bonds, then DHCP on the first NIC with link).
	OnFailure string `json:"on-failure,omitempty"`
	// Deadline bounds the whole run, fallback included (Go duration,
	// default "5m").
	Deadline string `json:"deadline,omitempty"`
}
