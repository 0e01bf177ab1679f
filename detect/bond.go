package detect

import "strings"

// BondStatus is the live state of one bond, as /proc/net/bonding/<bond> shows
// it, plus its addresses and counters. Bonds reads it through rtnetlink
// (IFLA_BOND_* and IFLA_BOND_SLAVE_* attributes, decoded by spec) and ethtool
// netlink.
//
// Options that only matter in some modes are reported as the kernel holds
// them; a printer decides which to show.
type BondStatus struct {
	Name    string `json:"name"`
	Ifindex int    `json:"ifindex"`
	// Mode is the kernel's name: balance-rr, active-backup, balance-xor,
	// broadcast, 802.3ad, balance-tlb or balance-alb.
	Mode string `json:"mode"`
	// MIIStatus is "up" when the bond has carrier (at least min_links
	// members up), else "down".
	MIIStatus string `json:"mii_status"`
	AdminUp   bool   `json:"admin_up"`
	OperState string `json:"operstate"`
	MAC       string `json:"mac"`
	MTU       int    `json:"mtu"`

	// ActiveMember is the current active member in active-backup, tlb and
	// alb modes; empty when there is none or the mode has no such notion.
	ActiveMember string `json:"active_member,omitempty"`
	// Primary is the configured primary member, if any.
	Primary string `json:"primary,omitempty"`
	// Parameters are every option the kernel reports for the bond, by the
	// YAML key that sets it and in the YAML's own words ("100ms",
	// "layer3+4"), as spec decodes them: status speaks the config's
	// language, so the two can be compared.
	Parameters map[string]string `json:"parameters"`
	// AD is the active aggregator, in 802.3ad mode once one is selected.
	AD *ADInfo `json:"ad_info,omitempty"`

	Members []MemberStatus `json:"members"`
	// Addresses are the bond's IPv4 and IPv6 addresses in CIDR form.
	Addresses []string `json:"addresses"`
	Counters  Counters `json:"counters"`
}

// Status is the live network bondstrap builds: the bonds, and the VLANs
// and bridges (on the bonds or elsewhere).
type Status struct {
	Bonds []BondStatus  `json:"bonds"`
	Stack []StackStatus `json:"stack"`
}

// StackStatus is one VLAN or bridge.
type StackStatus struct {
	Name    string `json:"name"`
	Ifindex int    `json:"ifindex"`
	// Kind is "vlan" or "bridge".
	Kind string `json:"kind"`
	// Lower is what it sits on: a VLAN's link, a bridge's ports (sorted).
	Lower []string `json:"lower"`
	// VLANID is a VLAN's id.
	VLANID int `json:"vlan_id,omitempty"`
	// STP says whether a bridge runs the spanning tree protocol.
	STP       *bool    `json:"stp,omitempty"`
	AdminUp   bool     `json:"admin_up"`
	OperState string   `json:"operstate"`
	Carrier   bool     `json:"carrier"`
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses"`
}

// ADInfo is a bond's active 802.3ad aggregator ("Active Aggregator Info" in
// /proc/net/bonding).
type ADInfo struct {
	AggregatorID int `json:"aggregator_id"`
	NumPorts     int `json:"num_ports"`
	ActorKey     int `json:"actor_key"`
	PartnerKey   int `json:"partner_key"`
	// PartnerMAC is the LACP partner's system MAC; 00:00:00:00:00:00 means
	// no partner answered.
	PartnerMAC string `json:"partner_mac"`
}

// MemberStatus is one member ("slave") of a bond.
type MemberStatus struct {
	Name         string `json:"name"`
	Ifindex      int    `json:"ifindex"`
	PermanentMAC string `json:"permanent_mac"`
	// MIIStatus is "up", "down", "going-down" or "going-back".
	MIIStatus string `json:"mii_status"`
	// SpeedMbps is 0 when unknown; Duplex is "full", "half" or "unknown".
	SpeedMbps        int    `json:"speed_mbps"`
	Duplex           string `json:"duplex"`
	LinkFailureCount int    `json:"link_failure_count"`
	// State is "active" or "backup" (the bond's view, not the link's).
	State   string `json:"state"`
	QueueID int    `json:"queue_id"`
	// AggregatorID, ActorPortState and PartnerPortState are meaningful in
	// 802.3ad mode.
	AggregatorID     int           `json:"aggregator_id,omitempty"`
	ActorPortState   LACPPortState `json:"actor_port_state,omitempty"`
	PartnerPortState LACPPortState `json:"partner_port_state,omitempty"`
	// InActiveAggregator: in 802.3ad, the member is in the bond's active
	// aggregator and carries traffic (in sync, collecting, distributing).
	InActiveAggregator bool `json:"in_active_aggregator,omitempty"`
	// ActorChurn and PartnerChurn are the churn detection states
	// ("monitoring", "churned", "no-churn"), on kernels that report them.
	ActorChurn   string `json:"actor_churn,omitempty"`
	PartnerChurn string `json:"partner_churn,omitempty"`
}

// Counters are interface statistics (IFLA_STATS64).
type Counters struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// LACPPortState is an 802.3ad port state octet (IEEE 802.1AX actor/partner
// state), printed numerically in /proc/net/bonding. It marshals to JSON as
// its number.
type LACPPortState uint8

// LACP port state bits.
const (
	LACPActivity        LACPPortState = 1 << iota // active LACP (else passive)
	LACPTimeout                                   // short (fast) timeout
	LACPAggregation                               // port is aggregatable
	LACPSynchronization                           // port is in sync with its aggregator
	LACPCollecting                                // collecting frames
	LACPDistributing                              // distributing frames
	LACPDefaulted                                 // using defaulted partner info
	LACPExpired                                   // receive machine expired
)

var lacpStateNames = [...]string{
	"activity", "short_timeout", "aggregation", "synchronization",
	"collecting", "distributing", "defaulted", "expired",
}

// String lists the set bits, e.g. "activity,aggregation,synchronization,
// collecting,distributing"; "none" when no bit is set.
func (s LACPPortState) String() string {
	if s == 0 {
		return "none"
	}
	var names []string
	for i, n := range lacpStateNames {
		if s&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}
