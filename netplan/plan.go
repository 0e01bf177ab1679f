package netplan

import (
	"slices"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// Plan is the outcome of member selection: which NICs each bond gets, and why
// every other NIC was left out.
type Plan struct {
	Bonds []BondPlan `json:"bonds"`
	// Ethernets are the standalone NICs: an ethernets id that is no bond's
	// member and that the config uses (Config.Standalone) takes one NIC.
	Ethernets []EthernetPlan `json:"ethernets,omitempty"`
	// Virtuals are the VLANs and bridges, in the order they are created.
	Virtuals []VirtualPlan `json:"virtuals,omitempty"`
	// Unused lists the inventory NICs that nothing took.
	Unused []Decision `json:"unused,omitempty"`
}

// EthernetPlan is a standalone NIC of a Plan.
type EthernetPlan struct {
	// ID is the ethernets id.
	ID string `json:"id"`
	// Name is the interface's name once configured: the set-name, or the
	// NIC's name.
	Name string `json:"name"`
	// NIC is the inventory entry the id selected.
	NIC inventory.NIC `json:"nic"`
	// Reason says why this NIC.
	Reason string `json:"reason"`
	// Config is the ethernets entry.
	Config Ethernet `json:"-"`
}

// VirtualPlan is a VLAN or a bridge of a Plan.
type VirtualPlan struct {
	Name string `json:"name"`
	// Kind is KindVLAN or KindBridge.
	Kind string `json:"kind"`
	// Link is the interface a VLAN sits on, by its name on the machine (a
	// bond, a bridge or a standalone NIC), and VLANID its id.
	Link   string `json:"link,omitempty"`
	VLANID int    `json:"vlan_id,omitempty"`
	// Ports are a bridge's ports, by their names on the machine.
	Ports []string `json:"ports,omitempty"`
	// MAC is the address the interface is created with and keeps: its
	// macaddress, else for a bridge its first port's (a bond's planned MAC
	// or a NIC's permanent one), so that the DHCP client id and the lease
	// stay those of the bond below it; "" lets the kernel choose (a VLAN
	// takes its link's).
	MAC string `json:"mac,omitempty"`
	// Addressing is the layer-3 configuration.
	Addressing Addressing `json:"-"`
	// Bridge holds a bridge's parameters, nil when none are given.
	Bridge *BridgeParameters `json:"-"`
	// IDs are the config names of Link or Ports (ethernets ids where a
	// standalone NIC is meant), in the same order.
	IDs []string `json:"-"`
}

// Interface is one interface the plan configures, with its addressing.
type Interface struct {
	Name       string
	Kind       string
	Addressing Addressing
}

// Interfaces are every interface of the plan in the order they come up:
// the standalone NICs, the bonds, then the VLANs and bridges. Bond members
// are not in it.
func (p *Plan) Interfaces() []Interface {
	var out []Interface
	for _, e := range p.Ethernets {
		out = append(out, Interface{Name: e.Name, Kind: KindEthernet, Addressing: e.Config.Addressing})
	}
	for _, b := range p.Bonds {
		out = append(out, Interface{Name: b.Name, Kind: KindBond, Addressing: b.Config.Addressing})
	}
	for _, v := range p.Virtuals {
		out = append(out, Interface{Name: v.Name, Kind: v.Kind, Addressing: v.Addressing})
	}
	return out
}

// Ethernet is the standalone NIC planned for the ethernets id, if any.
func (p *Plan) Ethernet(id string) (EthernetPlan, bool) {
	for _, e := range p.Ethernets {
		if e.ID == id {
			return e, true
		}
	}
	return EthernetPlan{}, false
}

// Bond is the bond planned under name, if any.
func (p *Plan) Bond(name string) (BondPlan, bool) {
	for _, b := range p.Bonds {
		if b.Name == name {
			return b, true
		}
	}
	return BondPlan{}, false
}

// Virtual is the VLAN or bridge planned under name, if any.
func (p *Plan) Virtual(name string) (VirtualPlan, bool) {
	for _, v := range p.Virtuals {
		if v.Name == name {
			return v, true
		}
	}
	return VirtualPlan{}, false
}

// Upper is what sits directly on the named interface: the bridge it is a
// port of ("" if none), and the VLANs on it.
func (p *Plan) Upper(name string) (bridge string, vlans []string) {
	for _, v := range p.Virtuals {
		switch {
		case v.Kind == KindVLAN && v.Link == name:
			vlans = append(vlans, v.Name)
		case v.Kind == KindBridge && slices.Contains(v.Ports, name):
			bridge = v.Name
		}
	}
	return bridge, vlans
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
