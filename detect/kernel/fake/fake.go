// Package fake is a model of the kernel behind kernel.Kernel, for tests that
// run the stages without root: physical NICs cabled to segments (with a DHCP
// server or not, untagged or on VLANs), bonds with the bonding driver's
// rules, VLANs and bridges with theirs (stack.go), addresses and routes with
// what the kernel does to them when a link goes down or up.
//
// It keeps the rules that make apply and rollback hard: a port must be down
// to be enslaved (EPERM); the mode changes only on a bond that is down
// (EBUSY) and empty (ENOTEMPTY), and so do the options flagged so in
// spec.Params; an option outside its modes is refused (EACCES); the delays
// need the MII monitor (EPERM); a port takes the bond's MAC and gets its own
// back on release, when it also goes down; going down flushes a link's IPv4
// routes and IPv6 addresses, and coming up brings back the prefix routes of
// its IPv4 addresses and an IPv6 link-local address; a route needs its link
// up (ENETDOWN) and its gateway on the link (ENETUNREACH).
//
// Every change is written to a transcript in ip(8)'s words, which the
// declarative corpus compares.
package fake

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// NIC describes one physical NIC of the model machine.
type NIC struct {
	inventory.NIC
	// Segment is the name of the segment its cable reaches; empty: no
	// cable (no carrier ever).
	Segment string `json:"segment,omitempty"`
	// LRO: absent, the driver has no large receive offload (it reports
	// off, and refuses to turn it on); false or true, it has, off or on.
	LRO *bool `json:"lro,omitempty"`
	// LROKeptOn models a driver that keeps LRO on when the kernel disables
	// it for a bridge (dev_disable_lro) and turns it off only when asked
	// through ethtool: what apply checks for below a bridge.
	LROKeptOn bool `json:"lro_kept_on,omitempty"`
}

// Segment is an L2 network the NICs may be cabled to.
type Segment struct {
	Name string `json:"name"`
	// DHCP is the segment's DHCP server; nil: none answers.
	DHCP *DHCPServer `json:"dhcp,omitempty"`
	// LACPPartner is the system MAC of the switch behind the segment when it
	// speaks LACP (an 802.3ad bond's ports on it join its aggregator);
	// empty: the switch ignores LACPDUs.
	LACPPartner string `json:"lacp_partner,omitempty"`
	// VLANs are the tagged networks the segment carries besides its
	// untagged one, by VLAN id: a VLAN link on a NIC (or a bond, a bridge)
	// cabled here reaches the DHCP server of its id, and none when the id
	// is not listed.
	VLANs map[int]TaggedSegment `json:"vlans,omitempty"`
}

// TaggedSegment is one VLAN a segment carries.
type TaggedSegment struct {
	// DHCP is the VLAN's DHCP server; nil: none answers.
	DHCP *DHCPServer `json:"dhcp,omitempty"`
}

// DHCPServer hands out leases on a segment.
type DHCPServer struct {
	// Prefix is the segment's subnet; leases take .100 upwards.
	Prefix  netip.Prefix `json:"prefix"`
	Router  netip.Addr   `json:"router,omitzero"`
	DNS     []netip.Addr `json:"dns,omitempty"`
	Search  []string     `json:"search,omitempty"`
	MTU     int          `json:"mtu,omitempty"`
	LeaseS  int          `json:"lease_seconds,omitempty"`
	Classes []Route      `json:"classless_routes,omitempty"`
}

// Route is a classless static route a DHCP server sends.
type Route struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via"`
}

// Machine is the model machine a Kernel starts from: its NICs and what is
// already configured on them when bondstrap starts (after a PXE boot, or a
// bond an earlier run or the bonding module made).
type Machine struct {
	NICs     []NIC     `json:"nics"`
	Segments []Segment `json:"segments,omitempty"`
	// Bonds, bridges and VLANs the machine already has, made in that
	// order (a bridge's ports joining it after the VLANs are made).
	Bonds   []Bond   `json:"bonds,omitempty"`
	Bridges []Bridge `json:"bridges,omitempty"`
	VLANs   []VLAN   `json:"vlans,omitempty"`
	// NoIPv6: the kernel has no IPv6 (booted with ipv6.disable=1).
	NoIPv6 bool `json:"no_ipv6,omitempty"`
	// Up are the links that are up.
	Up []string `json:"up,omitempty"`
	// Addrs and Routes are configured on the links.
	Addrs  []Addr       `json:"addrs,omitempty"`
	Routes []RouteEntry `json:"routes,omitempty"`
}

// Bond is a bond a Machine already has.
type Bond struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	// Parameters are YAML values by key, as a config writes them.
	Parameters map[string]any `json:"parameters,omitempty"`
	MAC        string         `json:"mac,omitempty"`
	Ports      []string       `json:"ports,omitempty"`
}

// Bridge is a bridge a Machine already has.
type Bridge struct {
	Name  string   `json:"name"`
	STP   bool     `json:"stp,omitempty"`
	MAC   string   `json:"mac,omitempty"`
	Ports []string `json:"ports,omitempty"`
}

// VLAN is a VLAN a Machine already has.
type VLAN struct {
	Name string `json:"name"`
	Link string `json:"link"`
	ID   int    `json:"id"`
}

// Addr is an address a Machine has.
type Addr struct {
	Link   string       `json:"link"`
	Prefix netip.Prefix `json:"prefix"`
	// ValidSeconds is the lifetime; 0 is forever.
	ValidSeconds int `json:"valid_seconds,omitempty"`
}

// RouteEntry is a route a Machine has.
type RouteEntry struct {
	Link     string       `json:"link"`
	Dst      netip.Prefix `json:"dst"`
	Via      netip.Addr   `json:"via,omitzero"`
	Metric   int          `json:"metric,omitempty"`
	Protocol int          `json:"protocol,omitempty"`
}

// Lease is what the model's DHCP server answers.
type Lease struct {
	Addr     netip.Prefix
	Router   netip.Addr
	DNS      []netip.Addr
	Search   []string
	MTU      int
	Lifetime time.Duration
	Routes   []Route
	Server   netip.Addr
}

type link struct {
	kernel.Link
	nic     *NIC // nil for a virtual link
	bond    *kernel.Bond
	slave   bool // IFF_SLAVE
	permMAC net.HardwareAddr
	// randomMAC: a bond whose MAC the kernel made up (no MAC given, or its
	// last port left); its first port gives it its own.
	randomMAC bool

	vlan   *kernel.VLAN
	bridge *bridge
	// port is a bridge port's settings; adminCost: its cost was set, and
	// no longer follows the port's speed.
	port      *kernel.BridgePort
	adminCost bool
	// autoMAC: a VLAN or bridge whose MAC the kernel chooses (none was
	// given or set): a VLAN follows its parent's, a bridge takes the
	// lowest of its ports'. autoMTU: a bridge whose MTU follows its
	// ports' (none was given or set).
	autoMAC, autoMTU bool
	// ipv6 is net.ipv6.conf.<link>; lro the offload's state, when the
	// driver has it.
	ipv6 kernel.IPv6Config
	lro  *bool
	// lroKeptOn: the driver ignores dev_disable_lro (NIC.LROKeptOn).
	lroKeptOn bool
}

// Kernel is the model. Its zero value is not usable: call New.
type Kernel struct {
	mu       sync.Mutex
	links    []*link
	next     int
	addrs    []kernel.Addr
	routes   []kernel.Route
	segments map[string]Segment
	leases   map[string]netip.Addr // client MAC -> address
	faults   []fault
	log      []string
	noIPv6   bool
}

type fault struct {
	prefix string
	err    error
	times  int // 0: every time
}

var _ kernel.Kernel = (*Kernel)(nil)

// New builds the model of m: every NIC down, as at early boot, loopback up.
func New(m Machine) (*Kernel, error) {
	k := &Kernel{next: 1, segments: map[string]Segment{}, leases: map[string]netip.Addr{}, noIPv6: m.NoIPv6}
	k.add(&link{Link: kernel.Link{Name: "lo", Kind: "loopback", MTU: 65536, Up: true, Carrier: true, OperState: "unknown"}})
	for _, s := range m.Segments {
		k.segments[s.Name] = s
	}
	for i := range m.NICs {
		n := m.NICs[i]
		mac, err := net.ParseMAC(n.MAC)
		if err != nil {
			return nil, fmt.Errorf("fake: NIC %s: %w", n.Name, err)
		}
		l := &link{nic: &n, Link: kernel.Link{Name: n.Name, MAC: mac, MTU: cmp.Or(n.MTU, 1500), OperState: "down",
			EncapType: "ether"}}
		if n.LRO != nil {
			on := *n.LRO
			l.lro = &on
		}
		l.lroKeptOn = n.LROKeptOn
		if n.PermanentMAC != "" {
			l.PermMAC, _ = net.ParseMAC(n.PermanentMAC)
		}
		if n.PCIAddress != "" {
			l.ParentBus, l.ParentDev = "pci", n.PCIAddress
		}
		k.add(l)
	}
	if err := k.setUp(m); err != nil {
		return nil, fmt.Errorf("fake: %w", err)
	}
	k.log = nil
	return k, nil
}

// setUp configures what the machine already has, with the model's own
// operations, so it obeys the same rules.
func (k *Kernel) setUp(m Machine) error {
	ctx := context.Background()
	for _, b := range m.Bonds {
		c := kernel.BondConfig{Name: b.Name, Mode: b.Mode}
		for _, key := range slices.Sorted(maps.Keys(b.Parameters)) {
			p, ok := spec.Lookup(key)
			if !ok {
				return fmt.Errorf("bond %s: no parameter %s", b.Name, key)
			}
			v := b.Parameters[key]
			if f, isFloat := v.(float64); isFloat {
				v = json.Number(strconv.FormatFloat(f, 'f', -1, 64))
			}
			set, err := p.Parse(v)
			if err != nil {
				return fmt.Errorf("bond %s: %s: %w", b.Name, key, err)
			}
			c.Settings = c.Settings.Set(set)
		}
		mac, err := optionalMAC(b.MAC)
		if err != nil {
			return fmt.Errorf("%s: %w", b.Name, err)
		}
		c.MAC = mac
		if _, err := k.CreateBond(ctx, c); err != nil {
			return err
		}
		for _, p := range b.Ports {
			if _, err := k.SetMaster(ctx, p, b.Name); err != nil {
				return err
			}
		}
	}
	for _, b := range m.Bridges {
		c := kernel.BridgeConfig{Name: b.Name, STP: b.STP, Priority: -1}
		mac, err := optionalMAC(b.MAC)
		if err != nil {
			return fmt.Errorf("%s: %w", b.Name, err)
		}
		c.MAC = mac
		if _, err := k.CreateBridge(ctx, c); err != nil {
			return err
		}
	}
	for _, v := range m.VLANs {
		if _, err := k.CreateVLAN(ctx, kernel.VLANConfig{Name: v.Name, Parent: v.Link, ID: v.ID}); err != nil {
			return err
		}
	}
	for _, b := range m.Bridges {
		for _, p := range b.Ports {
			if _, err := k.SetMaster(ctx, p, b.Name); err != nil {
				return err
			}
		}
	}
	for _, n := range m.Up {
		if _, err := k.SetUp(ctx, n, true); err != nil {
			return err
		}
	}
	for _, a := range m.Addrs {
		if _, err := k.AddAddr(ctx, kernel.Addr{Link: a.Link, Prefix: a.Prefix,
			Valid: time.Duration(a.ValidSeconds) * time.Second, Preferred: time.Duration(a.ValidSeconds) * time.Second}); err != nil {
			return err
		}
	}
	for _, r := range m.Routes {
		if _, err := k.AddRoute(ctx, kernel.Route{Link: r.Link, Dst: r.Dst, Gw: r.Via, Metric: r.Metric,
			Protocol: r.Protocol}); err != nil {
			return err
		}
	}
	return nil
}

// optionalMAC parses a MAC, or returns nil for "".
func optionalMAC(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, nil
	}
	return net.ParseMAC(s)
}

// State describes the model as ip(8) would list it, sorted, one line per
// link, address and route: what "the machine as found" compares.
func (k *Kernel) State() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, l := range k.links {
		line := fmt.Sprintf("link %s up=%t carrier=%t mtu=%d mac=%s master=%q", l.Name, l.Up, l.Carrier, l.MTU, l.MAC, l.Master)
		if l.bond != nil {
			line += fmt.Sprintf(" bond mode=%s primary=%q %s", l.bond.Mode, l.bond.Primary, settingsText(l.bond.Settings))
		}
		line += k.stackState(l)
		out = append(out, line)
	}
	for _, a := range k.addrs {
		out = append(out, "addr "+addrText(a))
	}
	for _, r := range k.routes {
		out = append(out, "route "+routeText(r))
	}
	slices.Sort(out)
	return out
}

func (k *Kernel) add(l *link) {
	l.ipv6 = kernel.DefaultIPv6
	l.Index = k.next
	k.next++
	k.links = append(k.links, l)
}

// Transcript returns the changes made so far, one per line.
func (k *Kernel) Transcript() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.log)
}

// Fail makes the next times changes whose transcript line starts with
// prefix fail with err (times 0: every one).
func (k *Kernel) Fail(prefix string, err error, times int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults = append(k.faults, fault{prefix: prefix, err: err, times: times})
}

// SetCable plugs NIC name into segment, or unplugs it ("").
func (k *Kernel) SetCable(name, segment string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.find(name)
	if l == nil || l.nic == nil {
		return fmt.Errorf("fake: no NIC %s", name)
	}
	l.nic.Segment = segment
	k.carrier()
	return nil
}

// change runs a change: the fault injection, then fn, then the transcript
// line and the carrier update.
func (k *Kernel) change(line string, fn func() error) error {
	for i := range k.faults {
		f := &k.faults[i]
		if f.times >= 0 && strings.HasPrefix(line, f.prefix) {
			if f.times > 0 {
				f.times--
				if f.times == 0 {
					f.times = -1
				}
			}
			return fmt.Errorf("%s: %w", line, f.err)
		}
	}
	if err := fn(); err != nil {
		return err
	}
	k.log = append(k.log, line)
	k.carrier()
	return nil
}

func (k *Kernel) find(name string) *link {
	for _, l := range k.links {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func (k *Kernel) get(name string) (*link, error) {
	if l := k.find(name); l != nil {
		return l, nil
	}
	return nil, fmt.Errorf("%s: %w", name, kernel.ErrNotFound)
}

// carrier recomputes what follows from the rest: the MACs and MTUs of
// VLANs and bridges that follow others' (stackDerived), and every link's
// carrier: a NIC has it when up and cabled, a bond when up with enough
// ports that have it, a VLAN when up on a parent that has it, a bridge as
// bridgeCarrier says. Links sit on links made before or after them, so it
// goes round until nothing changes.
func (k *Kernel) carrier() {
	for range len(k.links) + 1 {
		if !k.carrierOnce() {
			return
		}
	}
}

// carrierOnce is one round of carrier; it reports whether anything changed.
func (k *Kernel) carrierOnce() bool {
	changed := false
	for _, l := range k.links {
		wasCarrier, wasOper, wasMAC, wasMTU := l.Carrier, l.OperState, l.MAC.String(), l.MTU
		k.stackDerived(l)
		switch {
		case l.nic != nil:
			l.Carrier = l.Up && l.nic.Segment != ""
		case l.bond != nil:
			n := 0
			for _, p := range k.links {
				if p.Master == l.Name && p.Carrier {
					n++
				}
			}
			l.Carrier = l.Up && n >= max(1, int(l.bond.Settings.Int("min-links", 0)))
		case l.vlan != nil:
			p := k.find(l.vlan.Parent)
			l.Carrier = l.Up && p != nil && p.Carrier
		case l.bridge != nil:
			l.Carrier = k.bridgeCarrier(l)
		}
		switch {
		case l.Kind == "loopback":
		case !l.Up:
			l.OperState = "down"
		case l.Carrier:
			l.OperState = "up"
		default:
			l.OperState = "lower-layer-down"
		}
		changed = changed || wasCarrier != l.Carrier || wasOper != l.OperState || wasMAC != l.MAC.String() || wasMTU != l.MTU
	}
	return changed
}

// snapshot copies a link out of the model.
func (k *Kernel) snapshot(l *link) kernel.Link {
	out := l.Link
	out.MAC = slices.Clone(l.MAC)
	out.PermMAC = slices.Clone(l.PermMAC)
	if l.bond != nil {
		b := *l.bond
		b.Settings = slices.Clone(l.bond.Settings)
		b.AD, _ = k.lacp(l)
		out.Bond = &b
	}
	k.snapshotStack(l, &out)
	if l.Master != "" {
		if m := k.find(l.Master); m != nil && m.bond != nil {
			p := &kernel.Port{PermMAC: slices.Clone(l.permMAC), MII: 2}
			if l.Carrier {
				p.MII = 0
			}
			p.Active = m.bond.Mode != spec.ActiveBackup || m.bond.ActivePort == l.Name
			if ad, states := k.lacp(m); ad != nil {
				if st, ok := states[l.Name]; ok {
					p.AggregatorID = uint16(ad.AggregatorID)
					p.ActorState, p.PartnerState = st[0], st[1]
				}
			}
			out.Port = p
		}
	}
	return out
}

// lacp models an 802.3ad bond's aggregation: the ports with carrier on a
// segment whose switch speaks LACP join one aggregator with it as partner;
// without such a switch, the first port with carrier forms an aggregator of
// its own, defaulted, without a partner, as the kernel does. It returns the
// active aggregator and each port's actor and partner state.
func (k *Kernel) lacp(bond *link) (*kernel.ADInfo, map[string][2]uint8) {
	if bond.bond == nil || bond.bond.Mode != spec.LACP || !bond.Up {
		return nil, nil
	}
	const joined = kernel.LACPActivity | kernel.LACPAggregation | kernel.LACPSync | kernel.LACPCollecting | kernel.LACPDistributing
	states := map[string][2]uint8{}
	var partner net.HardwareAddr
	var first string
	for _, p := range k.links {
		if p.Master != bond.Name || !p.Carrier || p.nic == nil {
			continue
		}
		if first == "" {
			first = p.Name
		}
		if mac, err := net.ParseMAC(k.segments[p.nic.Segment].LACPPartner); err == nil {
			partner = mac
			states[p.Name] = [2]uint8{joined, joined}
		}
	}
	if len(states) > 0 {
		return &kernel.ADInfo{AggregatorID: 1, NumPorts: len(states), ActorKey: 9, PartnerKey: 9, PartnerMAC: partner}, states
	}
	if first == "" {
		return nil, nil
	}
	states[first] = [2]uint8{kernel.LACPActivity | kernel.LACPAggregation | kernel.LACPDefaulted, 0}
	return &kernel.ADInfo{AggregatorID: 1, NumPorts: 1, ActorKey: 9, PartnerMAC: make(net.HardwareAddr, 6)}, states
}

// Links lists every link.
func (k *Kernel) Links(ctx context.Context) ([]kernel.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.linkList(), ctx.Err()
}

// linkList copies every link out of the model.
func (k *Kernel) linkList() []kernel.Link {
	out := make([]kernel.Link, 0, len(k.links))
	for _, l := range k.links {
		out = append(out, k.snapshot(l))
	}
	return out
}

// Link returns one link.
func (k *Kernel) Link(ctx context.Context, name string) (kernel.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, err := k.get(name)
	if err != nil {
		return kernel.Link{}, err
	}
	return k.snapshot(l), ctx.Err()
}

// Addrs lists every address.
func (k *Kernel) Addrs(ctx context.Context) ([]kernel.Addr, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.addrs), ctx.Err()
}

// Routes lists every route.
func (k *Kernel) Routes(ctx context.Context) ([]kernel.Route, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.routes), ctx.Err()
}

// Inventory is what detect would probe on the model: its physical NICs, with
// speed and duplex only when they have carrier, the MAC a bond port had
// before it was enslaved.
func (k *Kernel) Inventory(ctx context.Context) (inventory.Inventory, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	inv := inventory.Inventory{Interfaces: []inventory.NIC{}}
	for _, l := range k.links {
		if l.nic == nil {
			continue
		}
		n := l.nic.NIC
		n.Name = l.Name
		n.MAC = l.MAC.String()
		if len(l.permMAC) > 0 && n.PermanentMAC == "" {
			n.MAC = l.permMAC.String()
		}
		n.MTU, n.Carrier, n.AdminUp, n.Ifindex, n.Master = l.MTU, l.Carrier, l.Up, l.Index, l.Master
		n.OperState = l.OperState
		n.Duplex = inventory.DuplexUnknown
		if l.Carrier {
			n.SpeedMbps, n.Duplex = l.nic.SpeedMbps, cmp.Or(l.nic.Duplex, inventory.DuplexFull)
		} else {
			n.SpeedMbps = 0
		}
		inv.Interfaces = append(inv.Interfaces, n)
	}
	slices.SortFunc(inv.Interfaces, func(a, b inventory.NIC) int { return cmp.Compare(a.Name, b.Name) })
	return inv, ctx.Err()
}

// settingsText writes settings as a transcript does.
func settingsText(ss spec.Settings) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, s.Param.Kernel+" "+s.String())
	}
	return strings.Join(parts, " ")
}

// CreateBond makes a bond, down.
func (k *Kernel) CreateBond(ctx context.Context, c kernel.BondConfig) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	mode := cmp.Or(c.Mode, spec.DefaultMode)
	line := strings.TrimSpace(fmt.Sprintf("link add %s type bond mode %s %s", c.Name, mode, settingsText(c.Settings)))
	if len(c.MAC) > 0 {
		line += " address " + c.MAC.String()
	}
	if c.MTU > 0 {
		line += fmt.Sprintf(" mtu %d", c.MTU)
	}
	err := k.change(line, func() error {
		if k.find(c.Name) != nil {
			return fmt.Errorf("create %s: %w", c.Name, unix.EEXIST)
		}
		b := &kernel.Bond{Mode: spec.DefaultMode, Settings: defaults(spec.DefaultMode)}
		if err := applyBond(b, mode, c.Settings, false, false); err != nil {
			return fmt.Errorf("create %s: %w", c.Name, err)
		}
		mac := c.MAC
		if len(mac) == 0 {
			mac = net.HardwareAddr{0x02, 0, 0, 0, 0xb0, byte(k.next)}
		}
		l := &link{Link: kernel.Link{Name: c.Name, Kind: "bond", MAC: slices.Clone(mac), MTU: cmp.Or(c.MTU, 1500),
			OperState: "down"}, bond: b, randomMAC: len(c.MAC) == 0}
		k.add(l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	name := c.Name
	return func(ctx context.Context) error { return k.DeleteLink(ctx, name) }, nil
}

// defaults are the settings the kernel reports for a new bond in mode.
func defaults(mode string) spec.Settings {
	var ss spec.Settings
	for _, p := range spec.Params {
		if !p.AcceptedIn(mode) && (p.Key == "ad-actor-system-priority" || p.Key == "ad-user-port-key" || p.Key == "ad-actor-system") {
			continue // dumped only in 802.3ad
		}
		switch p.Kind {
		case spec.IPv4List, spec.IPv6List:
			continue
		case spec.MAC:
			ss = ss.Set(spec.Setting{Param: p, MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}})
			continue
		}
		ss = ss.Set(spec.Setting{Param: p, N: spec.DefaultIn(p, mode)})
	}
	return ss
}

// applyBond changes b as the kernel's bond_changelink would: mode first,
// then every setting, refusing what the bonding driver refuses.
func applyBond(b *kernel.Bond, mode string, ss spec.Settings, up, ports bool) error {
	if mode != "" {
		if up {
			return fmt.Errorf("mode: %w (the bond is up)", unix.EBUSY)
		}
		if ports {
			return fmt.Errorf("mode: %w (the bond has ports)", unix.ENOTEMPTY)
		}
		if _, ok := spec.LookupMode(mode); !ok {
			return fmt.Errorf("mode %q: %w", mode, unix.EINVAL)
		}
		b.Mode = mode
		// Setting the mode resets arp_validate; the load-balancing modes
		// force the MII monitor on and the ARP monitor off.
		b.Settings = b.Settings.Set(zero("arp-validate"))
		if !mustMode(mode).ARP {
			b.Settings = b.Settings.Set(zero("arp-interval"))
			if b.Settings.Int("mii-monitor-interval", 0) == 0 {
				b.Settings = b.Settings.Set(spec.Setting{Param: param("mii-monitor-interval"), N: spec.DefaultMIIMon})
			}
		}
	}
	if msg := inOneMessage(ss); msg != "" {
		return fmt.Errorf("%s: %w", msg, unix.EINVAL)
	}
	for _, s := range spec.KernelOrder(ss) {
		p := s.Param
		switch {
		case !p.AcceptedIn(b.Mode):
			return fmt.Errorf("%s: %w (not supported in mode %s)", p.Kernel, unix.EACCES, b.Mode)
		case p.NoPorts && ports:
			return fmt.Errorf("%s: %w", p.Kernel, unix.ENOTEMPTY)
		case p.IfDown && up:
			return fmt.Errorf("%s: %w", p.Kernel, unix.EBUSY)
		case p.NeedsMII && b.Settings.Int("mii-monitor-interval", 0) == 0:
			return fmt.Errorf("%s: %w (MII monitoring is off)", p.Kernel, unix.EPERM)
		}
		if err := s.Check(); err != nil {
			return fmt.Errorf("%s: %w: %v", p.Kernel, unix.EINVAL, err)
		}
		switch p.Key {
		case "mii-monitor-interval":
			if s.N > 0 {
				b.Settings = b.Settings.Set(zero("arp-interval"))
			}
		case "arp-interval":
			if s.N > 0 {
				b.Settings = b.Settings.Set(zero("mii-monitor-interval"))
			}
		}
		b.Settings = b.Settings.Set(spec.Effective(s, b.Settings.Int("mii-monitor-interval", 0)))
	}
	return nil
}

// inOneMessage checks what bond_changelink refuses together in one message.
func inOneMessage(ss spec.Settings) string {
	mii := ss.Int("mii-monitor-interval", 0)
	if ss.Int("arp-interval", 0) > 0 && mii > 0 {
		return "ARP monitoring cannot be used with MII monitoring"
	}
	if ss.Int("arp-validate", 0) > 0 && mii > 0 {
		return "ARP validating cannot be used with MII monitoring"
	}
	return ""
}

func param(key string) *spec.Param {
	p, ok := spec.Lookup(key)
	if !ok {
		panic("fake: no parameter " + key)
	}
	return p
}

func zero(key string) spec.Setting { return spec.Setting{Param: param(key)} }

func mustMode(name string) spec.Mode {
	m, _ := spec.LookupMode(name)
	return m
}

// ChangeBond changes a live bond.
func (k *Kernel) ChangeBond(ctx context.Context, name, mode string, ss spec.Settings) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	line := strings.TrimSpace(fmt.Sprintf("link set %s type bond %s", name, settingsText(ss)))
	if mode != "" {
		line = strings.TrimSpace(fmt.Sprintf("link set %s type bond mode %s %s", name, mode, settingsText(ss)))
	}
	var oldMode string
	var old spec.Settings
	err := k.change(line, func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		if l.bond == nil {
			return fmt.Errorf("%s is not a bond: %w", name, unix.EOPNOTSUPP)
		}
		b := *l.bond
		b.Settings = slices.Clone(l.bond.Settings)
		if err := applyBond(&b, mode, ss, l.Up, k.hasPorts(name)); err != nil {
			return fmt.Errorf("change %s: %w", name, err)
		}
		if mode != "" && mode != l.bond.Mode {
			oldMode = l.bond.Mode
		}
		for _, s := range ss {
			if have, ok := l.bond.Settings.Get(s.Param.Key); ok {
				old = old.Set(have)
			}
		}
		l.bond = &b
		return nil
	})
	if err != nil {
		return nil, err
	}
	newMode := mode
	return func(ctx context.Context) error {
		if oldMode == "" {
			_, err := k.ChangeBond(ctx, name, "", old)
			return err
		}
		before, with := kernel.ModeSteps(newMode, oldMode, old)
		if len(before) > 0 {
			if _, err := k.ChangeBond(ctx, name, "", before); err != nil {
				return err
			}
		}
		_, err := k.ChangeBond(ctx, name, oldMode, with)
		return err
	}, nil
}

func (k *Kernel) hasPorts(bond string) bool {
	return slices.ContainsFunc(k.links, func(l *link) bool { return l.Master == bond })
}

// DeleteLink deletes a link; its ports are released first, it leaves its
// own master, and the VLANs on it go with it, as the kernel does.
func (k *Kernel) DeleteLink(ctx context.Context, name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.find(name) == nil {
		return nil
	}
	return k.change("link del "+name, func() error {
		l, _ := k.get(name)
		k.remove(l)
		return nil
	})
}

// remove is unregister_netdevice: l and the VLANs on it go.
func (k *Kernel) remove(l *link) {
	for _, v := range slices.Clone(k.links) {
		if v.vlan != nil && v.vlan.Parent == l.Name {
			k.remove(v)
		}
	}
	for _, p := range k.links {
		if p.Master == l.Name {
			k.release(p)
		}
	}
	if l.Master != "" {
		k.release(l)
	}
	k.down(l)
	k.addrs = slices.DeleteFunc(k.addrs, func(a kernel.Addr) bool { return a.Link == l.Name })
	k.links = slices.DeleteFunc(k.links, func(x *link) bool { return x == l })
}

// SetUp sets the admin state.
func (k *Kernel) SetUp(ctx context.Context, name string, up bool) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var was bool
	err := k.change(fmt.Sprintf("link set %s %s", name, upDown(up)), func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		was = l.Up
		if up == l.Up {
			return nil
		}
		if up {
			k.up(l)
		} else {
			k.down(l)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := k.SetUp(ctx, name, was)
		return err
	}, nil
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// down is NETDEV_DOWN: IPv4 routes through the link go, IPv6 addresses and
// routes go, IPv4 addresses stay.
func (k *Kernel) down(l *link) {
	l.Up = false
	k.routes = slices.DeleteFunc(k.routes, func(r kernel.Route) bool { return r.Link == l.Name })
	k.addrs = slices.DeleteFunc(k.addrs, func(a kernel.Addr) bool { return a.Link == l.Name && a.Prefix.Addr().Is6() })
}

// up is NETDEV_UP: the prefix routes of the IPv4 addresses come back, and an
// IPv6 link-local address (not on a bond port, nor on a link without IPv6).
func (k *Kernel) up(l *link) {
	l.Up = true
	for _, a := range k.addrs {
		if a.Link == l.Name {
			k.prefixRoute(a)
		}
	}
	k.linkLocal(l)
}

// linkLocal gives l its IPv6 link-local address and its route.
func (k *Kernel) linkLocal(l *link) {
	if !l.slave && len(l.MAC) == 6 && k.hasIPv6(l) {
		ll := linkLocal(l.MAC)
		k.addrs = append(k.addrs, kernel.Addr{Link: l.Name, Prefix: ll, Permanent: true})
		k.prefixRoute(kernel.Addr{Link: l.Name, Prefix: ll})
	}
}

// linkLocal is the EUI-64 link-local address of mac.
func linkLocal(mac net.HardwareAddr) netip.Prefix {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// prefixRoute adds the kernel's route to an address's subnet.
func (k *Kernel) prefixRoute(a kernel.Addr) {
	r := kernel.Route{Link: a.Link, Dst: a.Prefix.Masked(), Table: kernel.TableMain, Protocol: kernel.ProtoKernel,
		Scope: kernel.ScopeLink}
	if a.Prefix.Addr().Is4() {
		r.Src = a.Prefix.Addr()
	} else {
		r.Metric = 256
		r.Scope = kernel.ScopeUniverse
	}
	if !slices.ContainsFunc(k.routes, func(x kernel.Route) bool { return x.Key() == r.Key() && x.Link == r.Link }) {
		k.routes = append(k.routes, r)
	}
}

// SetMaster enslaves or releases.
func (k *Kernel) SetMaster(ctx context.Context, name, master string) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	line := fmt.Sprintf("link set %s master %s", name, master)
	if master == "" {
		line = fmt.Sprintf("link set %s nomaster", name)
	}
	var was string
	err := k.change(line, func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		was = l.Master
		if master == "" {
			if l.Master != "" {
				k.release(l)
			}
			return nil
		}
		m, err := k.get(master)
		if err != nil {
			return err
		}
		if m.bridge != nil {
			return k.joinBridge(l, m)
		}
		switch {
		case m.bond == nil:
			return fmt.Errorf("%s is not a bond: %w", master, unix.EOPNOTSUPP)
		case l.Master != "":
			return fmt.Errorf("%s is already enslaved to %s: %w", name, l.Master, unix.EBUSY)
		case l.Up:
			return fmt.Errorf("enslave %s: device can not be enslaved while up: %w", name, unix.EPERM)
		}
		l.permMAC = slices.Clone(l.MAC)
		l.Master, l.slave = master, true
		if m.randomMAC {
			m.MAC, m.randomMAC = slices.Clone(l.MAC), false
		}
		if m.bond.Mode != spec.BalanceTLB && m.bond.Mode != spec.BalanceALB && m.bond.Settings.Int("fail-over-mac-policy", 0) == 0 {
			l.MAC = slices.Clone(m.MAC)
		}
		k.up(l) // the bond opens its port
		if m.bond.Mode == spec.ActiveBackup && m.bond.ActivePort == "" {
			m.bond.ActivePort = name
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		// A bond takes only ports that are down; a bridge any.
		if m, err := k.Link(ctx, was); err == nil && m.Kind == "bond" {
			if _, err := k.SetUp(ctx, name, false); err != nil {
				return err
			}
		}
		_, err := k.SetMaster(ctx, name, was)
		return err
	}, nil
}

// release takes l out of its master: a bridge's as leaveBridge says; a
// bond's as __bond_release_one does: the port goes down and gets back the
// MAC it had when it was enslaved.
func (k *Kernel) release(l *link) {
	if m := k.find(l.Master); m != nil && m.bridge != nil {
		k.leaveBridge(l, m)
		return
	}
	if m := k.find(l.Master); m != nil && m.bond != nil {
		if m.bond.ActivePort == l.Name {
			m.bond.ActivePort = ""
		}
		if m.bond.Primary == l.Name {
			m.bond.Primary = ""
		}
	}
	bond := l.Master
	l.Master, l.slave = "", false
	k.down(l)
	if len(l.permMAC) > 0 {
		l.MAC = l.permMAC
	}
	l.permMAC = nil
	if m := k.find(bond); m != nil && !k.hasPorts(bond) {
		// The last port left: the kernel makes up a MAC for the bond.
		m.MAC, m.randomMAC = net.HardwareAddr{0x02, 0, 0, 0, 0xbf, byte(m.Index)}, true
	}
}

// SetMTU sets the MTU.
func (k *Kernel) SetMTU(ctx context.Context, name string, mtu int) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var was int
	err := k.change(fmt.Sprintf("link set %s mtu %d", name, mtu), func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		if mtu < 68 || mtu > 65535 {
			return fmt.Errorf("mtu %d: %w", mtu, unix.EINVAL)
		}
		if l.vlan != nil {
			if p := k.find(l.vlan.Parent); p != nil && mtu > p.MTU {
				return fmt.Errorf("mtu %d above %s's %d: %w", mtu, p.Name, p.MTU, unix.ERANGE)
			}
		}
		was = l.MTU
		k.setMTU(l, mtu)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := k.SetMTU(ctx, name, was)
		return err
	}, nil
}

// SetMAC sets the MAC.
func (k *Kernel) SetMAC(ctx context.Context, name string, mac net.HardwareAddr) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var was net.HardwareAddr
	err := k.change(fmt.Sprintf("link set %s address %s", name, mac), func() error {
		l, err := k.get(name)
		if err != nil {
			return err
		}
		was, l.MAC = l.MAC, slices.Clone(mac)
		l.randomMAC, l.autoMAC = false, false
		// A bond hands its MAC to its ports (bond_set_mac_address), but in
		// the modes that keep the ports' own.
		if l.bond != nil && l.bond.Mode != spec.BalanceTLB && l.bond.Mode != spec.BalanceALB &&
			l.bond.Settings.Int("fail-over-mac-policy", 0) == 0 {
			for _, p := range k.links {
				if p.Master == name {
					p.MAC = slices.Clone(mac)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := k.SetMAC(ctx, name, was)
		return err
	}, nil
}

// SetPrimary sets a bond's primary.
func (k *Kernel) SetPrimary(ctx context.Context, bond, port string) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var was string
	err := k.change(fmt.Sprintf("link set %s type bond primary %q", bond, port), func() error {
		b, err := k.get(bond)
		if err != nil {
			return err
		}
		if b.bond == nil {
			return fmt.Errorf("%s is not a bond: %w", bond, unix.EOPNOTSUPP)
		}
		if !mustMode(b.bond.Mode).Primary {
			return fmt.Errorf("primary: %w (not supported in mode %s)", unix.EACCES, b.bond.Mode)
		}
		if port != "" {
			if _, err := k.get(port); err != nil {
				return err
			}
		}
		was, b.bond.Primary = b.bond.Primary, port
		if port != "" && b.bond.Mode == spec.ActiveBackup {
			if p := k.find(port); p != nil && p.Master == bond && p.Carrier {
				b.bond.ActivePort = port
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := k.SetPrimary(ctx, bond, was)
		return err
	}, nil
}

func addrText(a kernel.Addr) string {
	s := fmt.Sprintf("%s dev %s", a.Prefix, a.Link)
	if a.Valid > 0 {
		s += fmt.Sprintf(" valid_lft %ds", int(a.Valid/time.Second))
	}
	return s
}

// AddAddr adds or refreshes an address.
func (k *Kernel) AddAddr(ctx context.Context, a kernel.Addr) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var before *kernel.Addr
	err := k.change("addr replace "+addrText(a), func() error {
		l, err := k.get(a.Link)
		if err != nil {
			return err
		}
		a.Permanent = a.Valid == 0
		if a.Prefix.Addr().Is6() && !k.hasIPv6(l) {
			return fmt.Errorf("add %s: %w", a.Prefix, k.noIPv6Error(l))
		}
		if i := slices.IndexFunc(k.addrs, func(x kernel.Addr) bool { return x.Link == a.Link && x.Prefix == a.Prefix }); i >= 0 {
			old := k.addrs[i]
			before = &old
			k.addrs[i] = a
			return nil
		}
		k.addrs = append(k.addrs, a)
		if l.Up {
			k.prefixRoute(a)
		}
		return nil
	})
	if err != nil {
		return nil, err
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

// DelAddr removes an address and its prefix route.
func (k *Kernel) DelAddr(ctx context.Context, a kernel.Addr) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var before *kernel.Addr
	err := k.change("addr del "+fmt.Sprintf("%s dev %s", a.Prefix, a.Link), func() error {
		i := slices.IndexFunc(k.addrs, func(x kernel.Addr) bool { return x.Link == a.Link && x.Prefix == a.Prefix })
		if i < 0 {
			return nil
		}
		old := k.addrs[i]
		before = &old
		k.addrs = slices.Delete(k.addrs, i, i+1)
		k.routes = slices.DeleteFunc(k.routes, func(r kernel.Route) bool {
			return r.Link == a.Link && r.Protocol == kernel.ProtoKernel && r.Dst == a.Prefix.Masked()
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if before == nil {
			return nil
		}
		_, err := k.AddAddr(ctx, *before)
		return err
	}, nil
}

func routeText(r kernel.Route) string {
	dst := r.Dst.String()
	if r.Dst.Bits() == 0 {
		dst = "default"
	}
	s := dst
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	s += " dev " + r.Link
	if r.Table != 0 && r.Table != kernel.TableMain {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	if r.Protocol != 0 {
		s += fmt.Sprintf(" proto %d", r.Protocol)
	}
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	if r.OnLink {
		s += " onlink"
	}
	return s
}

// AddRoute adds a route, replacing the one with its key.
func (k *Kernel) AddRoute(ctx context.Context, r kernel.Route) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Table == 0 {
		r.Table = kernel.TableMain
	}
	var before *kernel.Route
	err := k.change("route replace "+routeText(r), func() error {
		l, err := k.get(r.Link)
		if err != nil {
			return err
		}
		if !l.Up {
			return fmt.Errorf("route %s: nexthop device is not up: %w", routeText(r), unix.ENETDOWN)
		}
		if r.Gw.IsValid() && !r.OnLink && !k.onLink(r.Link, r.Gw) {
			return fmt.Errorf("route %s: nexthop has invalid gateway: %w", routeText(r), unix.ENETUNREACH)
		}
		if i := slices.IndexFunc(k.routes, func(x kernel.Route) bool { return x.Key() == r.Key() }); i >= 0 {
			old := k.routes[i]
			before = &old
			k.routes[i] = r
			return nil
		}
		k.routes = append(k.routes, r)
		return nil
	})
	if err != nil {
		return nil, err
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

// onLink reports whether gw is inside a link-scope route of the link.
func (k *Kernel) onLink(name string, gw netip.Addr) bool {
	return slices.ContainsFunc(k.routes, func(r kernel.Route) bool {
		return r.Link == name && !r.Gw.IsValid() && r.Dst.Contains(gw)
	})
}

// DelRoute removes a route.
func (k *Kernel) DelRoute(ctx context.Context, r kernel.Route) (kernel.Undo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Table == 0 {
		r.Table = kernel.TableMain
	}
	var before *kernel.Route
	err := k.change("route del "+routeText(r), func() error {
		i := slices.IndexFunc(k.routes, func(x kernel.Route) bool { return x.Key() == r.Key() && x.Link == r.Link })
		if i < 0 {
			return nil
		}
		old := k.routes[i]
		before = &old
		k.routes = slices.Delete(k.routes, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if before == nil {
			return nil
		}
		_, err := k.AddRoute(ctx, *before)
		return err
	}, nil
}

// WaitCarrier reports the carrier of the links once the model's time has
// passed until they all have it or the deadline: in the model, links do not
// change while nobody acts but for the STP of bridges (see wait).
func (k *Kernel) WaitCarrier(ctx context.Context, names []string, deadline time.Time) (map[string]bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range names {
		if _, err := k.get(n); err != nil {
			return nil, err
		}
	}
	k.wait(deadline, func() bool {
		return !slices.ContainsFunc(names, func(n string) bool { return !k.find(n).Carrier })
	})
	up := make(map[string]bool, len(names))
	for _, n := range names {
		up[n] = k.find(n).Carrier
	}
	return up, ctx.Err()
}

// WaitFor looks once the model's time has passed until cond holds or the
// deadline: nothing but the STP of bridges changes while nobody acts.
func (k *Kernel) WaitFor(ctx context.Context, deadline time.Time, cond func([]kernel.Link) bool) ([]kernel.Link, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.wait(deadline, func() bool { return cond(k.linkList()) })
	links := k.linkList()
	return links, cond(links), ctx.Err()
}

// ErrNoServer is what DHCP returns on a segment without a server, or on a
// link without carrier: no answer.
var ErrNoServer = errors.New("no DHCP server answered")

// DHCP asks the segment behind link name for a lease for client mac: a
// bond or a bridge asks through its first port with carrier, a VLAN through
// its parent, on its VLAN id (see reach).
func (k *Kernel) DHCP(ctx context.Context, name string, mac net.HardwareAddr) (*Lease, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, err := k.get(name)
	if err != nil {
		return nil, err
	}
	if !l.Up || !l.Carrier {
		return nil, ErrNoServer
	}
	seg, vid, ok := k.reach(l)
	if !ok {
		return nil, ErrNoServer
	}
	d := k.server(seg, vid)
	if d == nil {
		return nil, ErrNoServer
	}
	// A lease is per server: the same MAC (a bond, its VLANs and a bridge
	// on it share one) gets an address of each network it asks on.
	key := fmt.Sprintf("%v/%d/%s", seg, vid, mac)
	addr, ok := k.leases[key]
	if !ok {
		a := d.Prefix.Masked().Addr()
		for range 100 + len(k.leases) {
			a = a.Next()
		}
		addr = a
		k.leases[key] = addr
	}
	return &Lease{Addr: netip.PrefixFrom(addr, d.Prefix.Bits()), Router: d.Router, DNS: d.DNS, Search: d.Search,
		MTU: d.MTU, Lifetime: time.Duration(cmp.Or(d.LeaseS, 3600)) * time.Second, Routes: d.Classes,
		Server: d.Prefix.Addr()}, ctx.Err()
}
