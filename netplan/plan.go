package netplan

import (
	"github.com/bondstrap/bondstrap/detect/inventory"
)

// Plan is the outcome of member selection: which NICs each bond gets, and why
// every other NIC was left out.
type Plan struct {
	Bonds []BondPlan `json:"bonds"`
	// Unused lists the inventory NICs that no bond took.
	Unused []Decision `json:"unused,omitempty"`
}

// BondPlan is one bond of a Plan.
type BondPlan struct {
	Name string `json:"name"`
	// Mode is the canonical kernel mode name.
	Mode string `json:"mode"`
	// Members are interface names in the order they will be enslaved.
	Members []string `json:"members"`
	// MemberIDs are the ethernets ids that matched each member.
	MemberIDs []string `json:"member_ids"`
	// Primary is the member name of the primary, or "".
	Primary string `json:"primary"`
	// SpeedMbps is the common member speed in 802.3ad mode, else 0.
	SpeedMbps int `json:"speed_mbps,omitempty"`
	// MemberNICs holds the inventory entries of Members, in the same order.
	MemberNICs []inventory.NIC `json:"member_nics"`
	// Decisions explains, for every NIC this bond considered, why it was taken
	// or left out: the members first, then the others by name. Of the NICs
	// no interface of the bond matches, only the first
	// MaxUnmatchedDecisions are explained; OmittedDecisions counts the rest.
	Decisions        []Decision `json:"decisions"`
	OmittedDecisions int        `json:"omitted_decisions,omitempty"`
	// Config is the bond's configuration.
	Config Bond `json:"-"`
}

// Decision records why one NIC was or was not made a member of a bond.
type Decision struct {
	NIC      string `json:"nic"`
	Selected bool   `json:"selected"`
	// Matched is the ethernets id that matched the NIC, if one did.
	Matched string `json:"matched,omitempty"`
	Reason  string `json:"reason"`
}

// MAC is the address the bond has while provisioning and keeps on every later
// boot: the config's macaddress, else the permanent MAC of its first member
// (the current one for a NIC that reports none), or "" for a bond without
// members. apply creates the bond with this address and the persisted units
// set it, so the DHCP client identifier, the lease and MACAddress= agree after
// the reboot, whatever the bond's members looked like before and whatever
// address udev's MACAddressPolicy= would give a new bond.
func (b BondPlan) MAC() string {
	if b.Config.MACAddress != "" {
		return b.Config.MACAddress
	}
	if len(b.MemberNICs) == 0 {
		return ""
	}
	return b.MemberNICs[0].HardwareMAC()
}
