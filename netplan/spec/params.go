package spec

import "math"

// Kind is the type of a parameter's value.
type Kind uint8

// Kinds of parameter values.
const (
	// Enum is one of the parameter's Values, by name (or by the kernel's
	// number, as netplan allows).
	Enum Kind = iota + 1
	// Int is a whole number in Min..Max.
	Int
	// Millis is a time in whole milliseconds, Min..Max ms. A bare number is
	// milliseconds; a string may carry units (100ms, 2s).
	Millis
	// Seconds is a time in whole seconds, Min..Max s. A bare number is
	// seconds.
	Seconds
	// Bool is true or false.
	Bool
	// IPv4List is a list of up to MaxItems distinct IPv4 unicast addresses.
	IPv4List
	// IPv6List is a list of up to MaxItems distinct IPv6 unicast addresses.
	IPv6List
	// MAC is an Ethernet address, unicast and not all zeros.
	MAC
)

// Encoding is how a value travels in its rtnetlink attribute
// (IFLA_BOND_*), as the kernel's bond_policy declares it.
type Encoding uint8

// Attribute encodings.
const (
	U8 Encoding = iota + 1
	U16
	U32
	// Binary6 is six bytes: a MAC address.
	Binary6
	// NestedIPv4 is a nested list of 4-byte addresses, network order.
	NestedIPv4
	// NestedIPv6 is a nested list of 16-byte addresses.
	NestedIPv6
)

// Never is the NetworkdSince of a key or value no networkd knows.
const Never = 1 << 30

// Value is one value of an Enum parameter.
type Value struct {
	// Name is how YAML, sysfs and networkd spell it.
	Name string
	// Number is the kernel's number for it, what rtnetlink carries.
	Number int64
	// NetworkdSince is the systemd version whose networkd first accepts
	// the value; 0 means every version bondstrap writes for.
	NetworkdSince int
}

// Param is one bond parameter: everything bondstrap knows about it.
type Param struct {
	// Key is the YAML key under bonds.<name>.parameters.
	Key string
	// Aliases are netplan's deprecated spellings, read as Key.
	Aliases []string
	// Netplan says that netplan knows the key; the others are bondstrap's
	// extensions.
	Netplan bool
	// Kernel is the bonding driver's option name (sysfs, /proc/net/bonding).
	Kernel string
	// Attr is the IFLA_BOND_* attribute and Encoding its wire form.
	Attr     uint16
	Encoding Encoding
	// Kind, Values, Min, Max and MaxItems say what values are allowed.
	Kind     Kind
	Values   []Value
	Min, Max int64
	MaxItems int
	// Modes are the modes the kernel accepts the parameter in; nil means
	// every mode (bond_options.c, unsuppmodes).
	Modes []string
	// NeedsMII: the kernel refuses the parameter without the MII monitor,
	// and keeps it as a whole multiple of mii-monitor-interval, rounding
	// down.
	NeedsMII bool
	// IfDown: the kernel changes the parameter only while the bond is down
	// (BOND_OPTFLAG_IFDOWN). NoPorts: only while it has no ports
	// (BOND_OPTFLAG_NOSLAVES).
	IfDown, NoPorts bool
	// NoSysfs: the kernel has no sysfs file for the parameter (rtnetlink
	// only), so a udev rule sets it with iproute2's ip (ip link set type
	// bond), by the same option name.
	NoSysfs bool
	// Default is the kernel's default, as YAML would write it.
	Default string
	// Networkd is the [Bond] key of a .netdev that persists the parameter,
	// NetworkdSince the systemd version that added it; empty when networkd
	// has none.
	Networkd      string
	NetworkdSince int
	// NetworkdModes are the only modes in which networkd sends the key to
	// the kernel (nil: every mode); NetworkdWithARP: networkd sends it only
	// together with ARPIntervalSec=; NetworkdSkipsZero: networkd does not
	// send the value 0, so the kernel's default applies.
	NetworkdModes     []string
	NetworkdWithARP   bool
	NetworkdSkipsZero bool
	// Doc says what the parameter does, for docs/config.md.
	Doc string
}

// rtnetlink attributes of a bond (include/uapi/linux/if_link.h, IFLA_BOND_*).
const (
	AttrMode            = 1
	AttrActiveSlave     = 2
	AttrMIIMon          = 3
	AttrUpDelay         = 4
	AttrDownDelay       = 5
	AttrUseCarrier      = 6
	AttrARPInterval     = 7
	AttrARPIPTarget     = 8
	AttrARPValidate     = 9
	AttrARPAllTargets   = 10
	AttrPrimary         = 11
	AttrPrimaryReselect = 12
	AttrFailOverMAC     = 13
	AttrXmitHashPolicy  = 14
	AttrResendIGMP      = 15
	AttrNumPeerNotif    = 16
	AttrAllSlavesActive = 17
	AttrMinLinks        = 18
	AttrLPInterval      = 19
	AttrPacketsPerSlave = 20
	AttrADLACPRate      = 21
	AttrADSelect        = 22
	AttrADInfo          = 23
	AttrADActorSysPrio  = 24
	AttrADUserPortKey   = 25
	AttrADActorSystem   = 26
	AttrTLBDynamicLB    = 27
	AttrPeerNotifDelay  = 28
	AttrADLACPActive    = 29
	AttrMissedMax       = 30
	AttrNSIP6Target     = 31
	AttrCoupledControl  = 32
)

const maxInt32 = math.MaxInt32

// Mode sets of the kernel's unsuppmodes, as the modes that accept.
var (
	onlyLACP      = []string{LACP}
	onlyRR        = []string{BalanceRR}
	primaryModes  = []string{ActiveBackup, BalanceTLB, BalanceALB}
	arpModes      = []string{BalanceRR, ActiveBackup, BalanceXOR, Broadcast}
	tlbModes      = []string{BalanceTLB, BalanceALB}
	maxARPTargets = 16 // BOND_MAX_ARP_TARGETS, also for NS targets
)

// Params are the bond parameters bondstrap configures: netplan's, in the
// order netplan documents them, then bondstrap's extensions. Units and the
// kernel take them in the kernel's order (KernelOrder). mode and primary
// are not here: mode is the bond's identity (Modes) and primary names a
// member, which selection resolves.
var Params = []*Param{
	{
		Key: "lacp-rate", Netplan: true, Kernel: "lacp_rate", Attr: AttrADLACPRate, Encoding: U8,
		Kind: Enum, Values: []Value{{Name: "slow", Number: 0}, {Name: "fast", Number: 1}},
		Modes: onlyLACP, IfDown: true, Default: "slow", Networkd: "LACPTransmitRate", NetworkdModes: onlyLACP,
		Doc: "how often the partner is asked to send LACPDUs: every 30 s (slow) or 1 s (fast)",
	},
	{
		Key: "mii-monitor-interval", Netplan: true, Kernel: "miimon", Attr: AttrMIIMon, Encoding: U32,
		Kind: Millis, Min: 0, Max: maxInt32, Default: "0",
		Networkd: "MIIMonitorSec", NetworkdSkipsZero: true,
		Doc: "how often each member's carrier is checked; 0 turns the MII monitor off (the kernel's default, but 100ms in 802.3ad, balance-tlb and balance-alb)",
	},
	{
		Key: "min-links", Netplan: true, Kernel: "min_links", Attr: AttrMinLinks, Encoding: U32,
		Kind: Int, Min: 0, Max: maxInt32, Default: "0", Networkd: "MinLinks", NetworkdSkipsZero: true,
		Doc: "members that must be up before the bond reports carrier",
	},
	{
		Key: "transmit-hash-policy", Netplan: true, Kernel: "xmit_hash_policy", Attr: AttrXmitHashPolicy, Encoding: U8,
		Kind: Enum, Values: []Value{
			{Name: "layer2", Number: 0}, {Name: "layer3+4", Number: 1}, {Name: "layer2+3", Number: 2},
			{Name: "encap2+3", Number: 3}, {Name: "encap3+4", Number: 4}, {Name: "vlan+srcmac", Number: 5, NetworkdSince: Never},
		},
		Default: "layer2", Networkd: "TransmitHashPolicy",
		Doc: "which header fields choose the member for a flow (balance-xor, 802.3ad, balance-tlb, balance-alb)",
	},
	{
		Key: "ad-select", Netplan: true, Kernel: "ad_select", Attr: AttrADSelect, Encoding: U8,
		Kind: Enum, Values: []Value{{Name: "stable", Number: 0}, {Name: "bandwidth", Number: 1}, {Name: "count", Number: 2}},
		IfDown: true, Default: "stable", Networkd: "AdSelect", NetworkdModes: onlyLACP,
		Doc: "which LACP aggregator is active (used in 802.3ad; the kernel accepts it in every mode)",
	},
	{
		Key: "all-members-active", Aliases: []string{"all-slaves-active"}, Netplan: true, Kernel: "all_slaves_active",
		Attr: AttrAllSlavesActive, Encoding: U8, Kind: Bool, Default: "false", Networkd: "AllSlavesActive",
		Doc: "deliver frames received on inactive members instead of dropping them",
	},
	{
		Key: "arp-interval", Netplan: true, Kernel: "arp_interval", Attr: AttrARPInterval, Encoding: U32,
		Kind: Millis, Min: 0, Max: maxInt32, Modes: arpModes, Default: "0", Networkd: "ARPIntervalSec", NetworkdSkipsZero: true,
		Doc: "ARP link monitoring period; 0 turns it off. Needs arp-ip-targets; not with the MII monitor",
	},
	{
		Key: "arp-ip-targets", Netplan: true, Kernel: "arp_ip_target", Attr: AttrARPIPTarget, Encoding: NestedIPv4,
		Kind: IPv4List, MaxItems: maxARPTargets, Networkd: "ARPIPTargets", NetworkdWithARP: true,
		Doc: "the IPv4 addresses the ARP monitor probes",
	},
	{
		Key: "arp-validate", Netplan: true, Kernel: "arp_validate", Attr: AttrARPValidate, Encoding: U32,
		Kind: Enum, Values: []Value{
			{Name: "none", Number: 0}, {Name: "active", Number: 1}, {Name: "backup", Number: 2}, {Name: "all", Number: 3},
			{Name: "filter", Number: 4, NetworkdSince: Never}, {Name: "filter_active", Number: 5, NetworkdSince: Never},
			{Name: "filter_backup", Number: 6, NetworkdSince: Never},
		},
		Modes: arpModes, Default: "none", Networkd: "ARPValidate",
		Doc: "which ARP traffic counts as proof of link for the ARP monitor",
	},
	{
		Key: "arp-all-targets", Netplan: true, Kernel: "arp_all_targets", Attr: AttrARPAllTargets, Encoding: U32,
		Kind: Enum, Values: []Value{{Name: "any", Number: 0}, {Name: "all", Number: 1}},
		Default: "any", Networkd: "ARPAllTargets",
		Doc: "a member is up when any, or all, ARP targets answer",
	},
	{
		Key: "up-delay", Netplan: true, Kernel: "updelay", Attr: AttrUpDelay, Encoding: U32,
		Kind: Millis, Min: 0, Max: maxInt32, NeedsMII: true, Default: "0", Networkd: "UpDelaySec", NetworkdSkipsZero: true,
		Doc: "wait before using a member whose link came up",
	},
	{
		Key: "down-delay", Netplan: true, Kernel: "downdelay", Attr: AttrDownDelay, Encoding: U32,
		Kind: Millis, Min: 0, Max: maxInt32, NeedsMII: true, Default: "0", Networkd: "DownDelaySec", NetworkdSkipsZero: true,
		Doc: "wait before dropping a member whose link went down",
	},
	{
		Key: "fail-over-mac-policy", Netplan: true, Kernel: "fail_over_mac", Attr: AttrFailOverMAC, Encoding: U8,
		Kind: Enum, Values: []Value{{Name: "none", Number: 0}, {Name: "active", Number: 1}, {Name: "follow", Number: 2}},
		NoPorts: true, Default: "none", Networkd: "FailOverMACPolicy", NetworkdModes: []string{ActiveBackup},
		Doc: "how MAC addresses move on failover (active-backup)",
	},
	{
		Key: "gratuitous-arp", Aliases: []string{"gratuitious-arp"}, Netplan: true, Kernel: "num_grat_arp",
		Attr: AttrNumPeerNotif, Encoding: U8, Kind: Int, Min: 0, Max: 255, Default: "1", Networkd: "GratuitousARP",
		Doc: "peer notifications (gratuitous ARP, unsolicited NA) sent after a failover",
	},
	{
		Key: "packets-per-member", Aliases: []string{"packets-per-slave"}, Netplan: true, Kernel: "packets_per_slave",
		Attr: AttrPacketsPerSlave, Encoding: U32, Kind: Int, Min: 0, Max: 65535, Modes: onlyRR, Default: "1",
		Networkd: "PacketsPerSlave", NetworkdModes: onlyRR,
		Doc: "packets sent on a member before moving to the next; 0: a random member",
	},
	{
		Key: "primary-reselect-policy", Netplan: true, Kernel: "primary_reselect", Attr: AttrPrimaryReselect, Encoding: U8,
		Kind: Enum, Values: []Value{{Name: "always", Number: 0}, {Name: "better", Number: 1}, {Name: "failure", Number: 2}},
		Default: "always", Networkd: "PrimaryReselectPolicy",
		Doc: "when the primary takes over again after its link comes back",
	},
	{
		Key: "resend-igmp", Netplan: true, Kernel: "resend_igmp", Attr: AttrResendIGMP, Encoding: U32,
		Kind: Int, Min: 0, Max: 255, Default: "1", Networkd: "ResendIGMP",
		Doc: "IGMP membership reports sent after a failover",
	},
	{
		Key: "learn-packet-interval", Netplan: true, Kernel: "lp_interval", Attr: AttrLPInterval, Encoding: U32,
		Kind: Seconds, Min: 1, Max: maxInt32, Default: "1", Networkd: "LearnPacketIntervalSec", NetworkdWithARP: true,
		Doc: "seconds between learning packets to the switch (balance-tlb, balance-alb)",
	},
	{
		Key: "peer-notify-delay", Kernel: "peer_notif_delay", Attr: AttrPeerNotifDelay, Encoding: U32,
		Kind: Millis, Min: 0, Max: 300000, NeedsMII: true, Default: "0", Networkd: "PeerNotifyDelaySec", NetworkdSince: 256,
		NetworkdSkipsZero: true,
		Doc:               "delay between the peer notifications after a failover",
	},
	{
		Key: "arp-missed-max", Kernel: "arp_missed_max", Attr: AttrMissedMax, Encoding: U8,
		Kind: Int, Min: 1, Max: 255, Modes: arpModes, Default: "2", Networkd: "ARPMissedMax", NetworkdSince: 256,
		Doc: "ARP monitor intervals without an answer before a member is down",
	},
	{
		Key: "ns-ip6-targets", Kernel: "ns_ip6_target", Attr: AttrNSIP6Target, Encoding: NestedIPv6,
		Kind: IPv6List, MaxItems: maxARPTargets, NoSysfs: true,
		Doc: "the IPv6 addresses the ARP monitor probes with neighbour solicitations (used with arp-interval)",
	},
	{
		Key: "ad-actor-system-priority", Kernel: "ad_actor_sys_prio", Attr: AttrADActorSysPrio, Encoding: U16,
		Kind: Int, Min: 1, Max: 65535, Modes: onlyLACP, Default: "65535", Networkd: "AdActorSystemPriority", NetworkdSince: 240,
		Doc: "this system's LACP priority",
	},
	{
		Key: "ad-user-port-key", Kernel: "ad_user_port_key", Attr: AttrADUserPortKey, Encoding: U16,
		Kind: Int, Min: 0, Max: 1023, Modes: onlyLACP, IfDown: true, Default: "0", Networkd: "AdUserPortKey", NetworkdSince: 240,
		NetworkdSkipsZero: true,
		Doc:               "the upper ten bits of the LACP port key",
	},
	{
		Key: "ad-actor-system", Kernel: "ad_actor_system", Attr: AttrADActorSystem, Encoding: Binary6,
		Kind: MAC, Modes: onlyLACP, Networkd: "AdActorSystem", NetworkdSince: 240,
		Doc: "the system MAC this bond announces in LACPDUs (default: the bond's MAC)",
	},
	{
		Key: "tlb-dynamic-lb", Kernel: "tlb_dynamic_lb", Attr: AttrTLBDynamicLB, Encoding: U8,
		Kind: Bool, Modes: tlbModes, IfDown: true, Default: "true", Networkd: "DynamicTransmitLoadBalancing", NetworkdSince: 240,
		Doc: "balance flows by current load (true) or by the hash policy only (false)",
	},
	{
		Key: "lacp-active", Kernel: "lacp_active", Attr: AttrADLACPActive, Encoding: U8,
		Kind: Bool, Modes: onlyLACP, IfDown: true, Default: "true",
		Doc: "send LACPDUs on our own (true) or only answer the partner's (false, passive)",
	},
	{
		Key: "use-carrier", Kernel: "use_carrier", Attr: AttrUseCarrier, Encoding: U8,
		Kind: Bool, Default: "true",
		Doc: "the MII monitor reads the driver's carrier (true) or asks the driver through ethtool/MII ioctls (false)",
	},
}

// Lookup returns the parameter whose key, or deprecated alias, is key.
func Lookup(key string) (*Param, bool) {
	for _, p := range Params {
		if p.Key == key {
			return p, true
		}
		for _, a := range p.Aliases {
			if a == key {
				return p, true
			}
		}
	}
	return nil, false
}

// ByAttr returns the parameter carried in the rtnetlink attribute attr.
func ByAttr(attr uint16) (*Param, bool) {
	for _, p := range Params {
		if p.Attr == attr {
			return p, true
		}
	}
	return nil, false
}

// AcceptedIn reports whether the kernel accepts the parameter in mode.
func (p *Param) AcceptedIn(mode string) bool {
	if p.Modes == nil {
		return true
	}
	for _, m := range p.Modes {
		if m == mode {
			return true
		}
	}
	return false
}

// value returns the enum value named name, or numbered name.
func (p *Param) value(name string) (Value, bool) {
	for _, v := range p.Values {
		if v.Name == name {
			return v, true
		}
	}
	return Value{}, false
}

// valueByNumber returns the enum value with the kernel's number n.
func (p *Param) valueByNumber(n int64) (Value, bool) {
	for _, v := range p.Values {
		if v.Number == n {
			return v, true
		}
	}
	return Value{}, false
}
