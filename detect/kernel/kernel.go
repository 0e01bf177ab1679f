// Package kernel is bondstrap's seam to the running kernel: the rtnetlink
// operations apply and status need (links, bonds, ports, addresses, routes,
// carrier events) behind one small interface, with plain values in and out.
//
// Every call that changes the kernel returns its own Undo, so a caller keeps
// a journal and reverts a failed run exactly. Snapshot and Restore put back
// what a journal cannot know about: the routes the kernel itself flushes
// when a NIC goes down, the IPv6 addresses it drops, a bond's ports and
// options.
//
// Netlink (Open) is the real kernel; the fake package is a model of it that
// keeps the same rules (a port must be down to be enslaved, the bonding
// driver's per-mode refusals, what going down flushes), so the stages run
// against it in `go test -short` and against the real one in the VM.
package kernel

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// ErrNotFound is wrapped by the errors of calls that name an interface that
// does not exist.
var ErrNotFound = errors.New("no such interface")

// Link is one network interface.
type Link struct {
	Index int
	Name  string
	// Kind is the link kind ("bond", "veth", "bridge", "vlan", ...), empty
	// for a physical NIC.
	Kind string
	// MAC is the current address; PermMAC the NIC's permanent one, empty
	// when the driver reports none.
	MAC     net.HardwareAddr
	PermMAC net.HardwareAddr
	MTU     int
	// Up is IFF_UP, the administrative state; Carrier is IFF_LOWER_UP.
	Up      bool
	Carrier bool
	// OperState is the RFC 2863 state as ip(8) prints it ("up", "down",
	// "lower-layer-down", ...).
	OperState string
	// Master is the name of the bond (or bridge) the link is enslaved to.
	Master string
	// Bond is set for a bond; Port for a link enslaved to a bond.
	Bond *Bond
	Port *Port
	// VLAN is set for a VLAN; Bridge for a bridge; BridgePort for a link
	// enslaved to a bridge.
	VLAN       *VLAN
	Bridge     *BridgeConfig
	BridgePort *BridgePort
	// ParentBus and ParentDev name the device behind the link
	// (IFLA_PARENT_DEV_BUS_NAME, IFLA_PARENT_DEV_NAME: "pci",
	// "0000:00:03.0"); EncapType is "ether" for Ethernet.
	ParentBus, ParentDev, EncapType string
	// Stats are the link's counters, when the kernel reports them.
	Stats *Counters
}

// Bond is a bond's configuration and 802.3ad state as the kernel reports it.
type Bond struct {
	// Mode is the canonical mode name.
	Mode string
	// Settings are every parameter the kernel reported, decoded by its
	// spec.Param, in spec.Params order.
	Settings spec.Settings
	// Primary and ActivePort are port names ("" for none).
	Primary, ActivePort string
	// AD is the active 802.3ad aggregator, nil when there is none.
	AD *ADInfo
}

// ADInfo is a bond's active 802.3ad aggregator (IFLA_BOND_AD_INFO).
type ADInfo struct {
	AggregatorID int
	NumPorts     int
	ActorKey     int
	PartnerKey   int
	// PartnerMAC is the LACP partner's system MAC; all zeros: no partner.
	PartnerMAC net.HardwareAddr
}

// Port is a bond port's state (IFLA_BOND_SLAVE_*).
type Port struct {
	// Active: the bond sends on it (state 0); else it is a backup.
	Active bool
	// MII is the MII status: 0 up, 1 going down, 2 down, 3 going back.
	MII          uint8
	LinkFailures uint32
	// PermMAC is the MAC the port had when it was enslaved, which the bond
	// gives back on release.
	PermMAC net.HardwareAddr
	QueueID uint16
	// 802.3ad: the port's aggregator and LACP states; the churn states
	// are nil on kernels that do not report them.
	AggregatorID             uint16
	ActorState, PartnerState uint8
	ActorChurn, PartnerChurn *uint8
}

// Counters are a link's statistics.
type Counters struct {
	RxPackets, TxPackets, RxBytes, TxBytes   uint64
	RxErrors, TxErrors, RxDropped, TxDropped uint64
}

// Addr is an address on a link.
type Addr struct {
	Link   string
	Prefix netip.Prefix
	// Valid and Preferred are the remaining lifetimes; 0 means forever.
	Valid, Preferred time.Duration
	// Permanent is IFA_F_PERMANENT: configured, not learned (SLAAC,
	// DHCPv6) and not expiring.
	Permanent bool
	// Broadcast is an IPv4 address's broadcast address: the zero Addr lets
	// AddAddr derive it from the prefix, as ip(8) with "brd +" and networkd
	// do; 0.0.0.0 means none (what a snapshot records when the kernel
	// reports none).
	Broadcast netip.Addr
	// Flags are the address flags one sets (IFA_F_NODAD, IFA_F_NOPREFIXROUTE,
	// IFA_F_MANAGETEMPADDR, ...), not its state (tentative, deprecated).
	Flags int
}

// SettableAddrFlags are the IFA_F_* flags an address is configured with:
// NODAD, HOMEADDRESS, MANAGETEMPADDR, NOPREFIXROUTE, MCAUTOJOIN,
// STABLE_PRIVACY.
const SettableAddrFlags = 0x02 | 0x10 | 0x100 | 0x200 | 0x400 | 0x800

// Route is a route through a link.
type Route struct {
	Link string
	Dst  netip.Prefix
	// Gw is the gateway; the zero Addr for a route on the link.
	Gw       netip.Addr
	Src      netip.Addr
	Table    int
	Metric   int
	Protocol int
	Scope    int
	OnLink   bool
}

// Route protocols (RTPROT_*).
const (
	ProtoKernel = 2
	ProtoBoot   = 3
	ProtoStatic = 4
	ProtoRA     = 9
	ProtoDHCP   = 16
)

// Route scopes (RT_SCOPE_*).
const (
	ScopeUniverse = 0
	ScopeLink     = 253
	ScopeHost     = 254
)

// TableMain is the main routing table.
const TableMain = 254

// Key identifies a route in its table: two routes with the same key replace
// each other.
func (r Route) Key() RouteKey {
	t := r.Table
	if t == 0 {
		t = TableMain
	}
	return RouteKey{Table: t, Dst: r.Dst, Metric: r.Metric}
}

// RouteKey is what makes a route unique in the kernel's table.
type RouteKey struct {
	Table  int
	Dst    netip.Prefix
	Metric int
}

// BondConfig is a bond to create.
type BondConfig struct {
	Name     string
	Mode     string
	Settings spec.Settings
	// MAC and MTU are set when not zero.
	MAC net.HardwareAddr
	MTU int
}

// VLAN is a VLAN link's id and the link it sits on.
type VLAN struct {
	ID     int
	Parent string
}

// VLANConfig is an 802.1Q VLAN to create on Parent.
type VLANConfig struct {
	Name, Parent string
	ID           int
	// MAC and MTU are set when not zero (a VLAN takes its parent's MAC).
	MAC net.HardwareAddr
	MTU int
}

// BridgeConfig is a bridge's settings, to create or change it, and as
// Link.Bridge reports them (every field set, Name and MAC and MTU left
// zero).
type BridgeConfig struct {
	Name string
	// MAC and MTU are set when not zero.
	MAC net.HardwareAddr
	MTU int
	// STP turns the kernel's spanning tree on.
	STP bool
	// The STP times; 0 leaves the kernel's value (a new bridge: forward
	// delay 15s, hello 2s, max age 20s, ageing 300s). The kernel keeps
	// them in hundredths of a second.
	ForwardDelay, HelloTime, MaxAge, AgeingTime time.Duration
	// Priority is the bridge priority, 0-65535; -1 leaves the kernel's
	// (32768).
	Priority int
}

// BridgePort is a bridge port's settings: STP path cost (1-65535) and port
// priority (0-63). In SetBridgePort, 0 leaves the cost and -1 the priority
// as they are.
type BridgePort struct {
	Cost, Priority int
}

// IPv6Config is a link's IPv6 settings (net.ipv6.conf.<link>).
type IPv6Config struct {
	// AcceptRA is accept_ra: 0 ignore router advertisements, 1 accept them
	// unless forwarding, 2 accept them even when forwarding.
	AcceptRA int
	// Autoconf is autoconf: form SLAAC addresses from the RA's prefixes.
	Autoconf bool
}

// Undo reverts one change.
type Undo func(context.Context) error

// Kernel is what apply and status need of the kernel. Names are interface
// names; an unknown one is an error wrapping ErrNotFound.
type Kernel interface {
	// Links lists every link.
	Links(ctx context.Context) ([]Link, error)
	// Link returns one link.
	Link(ctx context.Context, name string) (Link, error)
	// Addrs lists every address of every link.
	Addrs(ctx context.Context) ([]Addr, error)
	// Routes lists the routes of every table but the kernel's local one,
	// both families.
	Routes(ctx context.Context) ([]Route, error)

	// CreateBond makes a bond, down, with its mode and settings in one
	// request; the undo deletes it.
	CreateBond(ctx context.Context, c BondConfig) (Undo, error)
	// ChangeBond changes a bond's mode (when mode is not "") and settings
	// in one request, mode first, as the kernel applies them; the undo
	// puts back the values it reported before for the same parameters.
	ChangeBond(ctx context.Context, name, mode string, settings spec.Settings) (Undo, error)
	// DeleteLink deletes a link. There is no undo: Restore recreates a
	// bond from a Snapshot.
	DeleteLink(ctx context.Context, name string) error
	// SetUp sets the administrative state.
	SetUp(ctx context.Context, name string, up bool) (Undo, error)
	// SetMaster enslaves name to master, or releases it ("").
	SetMaster(ctx context.Context, name, master string) (Undo, error)
	SetMTU(ctx context.Context, name string, mtu int) (Undo, error)
	SetMAC(ctx context.Context, name string, mac net.HardwareAddr) (Undo, error)
	// SetPrimary sets a bond's primary port ("" clears it).
	SetPrimary(ctx context.Context, bond, port string) (Undo, error)
	// AddAddr adds an address or replaces its lifetimes; the undo removes
	// it, or puts the old lifetimes back.
	AddAddr(ctx context.Context, a Addr) (Undo, error)
	// DelAddr removes an address; the undo adds it back.
	DelAddr(ctx context.Context, a Addr) (Undo, error)
	// AddRoute adds a route or replaces the one with the same key; the
	// undo removes it and puts the replaced one back.
	AddRoute(ctx context.Context, r Route) (Undo, error)
	// DelRoute removes a route; the undo adds it back.
	DelRoute(ctx context.Context, r Route) (Undo, error)

	// CreateVLAN makes a VLAN on its parent, down; the undo deletes it.
	CreateVLAN(ctx context.Context, c VLANConfig) (Undo, error)
	// CreateBridge makes a bridge, down, with its settings in one request;
	// the undo deletes it.
	CreateBridge(ctx context.Context, c BridgeConfig) (Undo, error)
	// ChangeBridge sets the STP, times and priority of bridge c.Name (as
	// CreateBridge: zero times and priority -1 are left; MAC and MTU are
	// not looked at); the undo puts back the values before. Out of range
	// is an error wrapping ERANGE (BridgeConfig.Check).
	ChangeBridge(ctx context.Context, c BridgeConfig) (Undo, error)
	// SetBridgePort sets a bridge port's cost and priority (cost 0 and
	// priority -1 are left); the undo puts back the values before. A link
	// that is no bridge's port is an error wrapping EOPNOTSUPP.
	SetBridgePort(ctx context.Context, name string, p BridgePort) (Undo, error)
	// IPv6 reads a link's IPv6 settings; SetIPv6 sets them, and its undo
	// puts back those before. A link without IPv6 (no IPv6 in the kernel,
	// disable_ipv6, an MTU below 1280) is an error wrapping ErrNoIPv6. A
	// bond port has IPv6 settings (the kernel only gives it no addresses).
	IPv6(ctx context.Context, name string) (IPv6Config, error)
	SetIPv6(ctx context.Context, name string, c IPv6Config) (Undo, error)
	// LRO reports whether large receive offload is on; SetLRO turns it on
	// or off, and its undo puts it back. A link whose driver has no LRO
	// reports false; turning it off there changes nothing, turning it on
	// is an error wrapping EOPNOTSUPP. The kernel keeps it off on a bridge
	// port (turning it on is an error).
	LRO(ctx context.Context, name string) (bool, error)
	SetLRO(ctx context.Context, name string, on bool) (Undo, error)
	// Rename renames a link, which must be down: an up link is an error
	// wrapping EBUSY on every kernel (before 6.2 the kernel refuses it
	// itself). The undo renames it back.
	Rename(ctx context.Context, name, newName string) (Undo, error)

	// WaitCarrier waits until every link of names has carrier or deadline
	// passes, whichever is first, and reports which had it. It waits on
	// link events; when the event subscription fails it polls.
	WaitCarrier(ctx context.Context, names []string, deadline time.Time) (map[string]bool, error)
	// WaitFor waits until cond holds for the links or deadline passes, and
	// returns the links of its last look and whether cond held. It looks
	// again on every link event and at least every PollInterval: some
	// changes (a bond's 802.3ad state) come without one.
	WaitFor(ctx context.Context, deadline time.Time, cond func([]Link) bool) ([]Link, bool, error)
}

// PollInterval is how often WaitFor and WaitCarrier look without an event.
const PollInterval = 100 * time.Millisecond

// LACP port state bits (IEEE 802.1AX; uapi if_bonding.h).
const (
	LACPActivity     = 0x01
	LACPTimeout      = 0x02
	LACPAggregation  = 0x04
	LACPSync         = 0x08
	LACPCollecting   = 0x10
	LACPDistributing = 0x20
	LACPDefaulted    = 0x40
	LACPExpired      = 0x80
)

// Joined reports whether a bond port is in aggregator agg and carries
// traffic there: in sync with its partner, collecting and distributing.
func (p *Port) Joined(agg int) bool {
	const up = LACPSync | LACPCollecting | LACPDistributing
	return p != nil && agg != 0 && int(p.AggregatorID) == agg && p.ActorState&up == up
}

// HasPartner reports whether an 802.3ad aggregator has an LACP partner.
func (ad *ADInfo) HasPartner() bool {
	if ad == nil {
		return false
	}
	for _, b := range ad.PartnerMAC {
		if b != 0 {
			return true
		}
	}
	return false
}

// ModeSteps splits the settings to send with a change of a bond's mode from
// one mode to another into those to send before it, while the bond is still
// in mode from (the parameters mode to refuses, such as lacp_rate when going
// back from 802.3ad: the kernel keeps them, and reports them), and those to
// send with it (the kernel applies the mode first). Settings neither mode
// accepts are left out.
func ModeSteps(from, to string, ss spec.Settings) (before, with spec.Settings) {
	for _, s := range ss {
		switch {
		case s.Param.AcceptedIn(to):
			with = with.Set(s)
		case s.Param.AcceptedIn(from):
			before = before.Set(s)
		}
	}
	return before, with
}
