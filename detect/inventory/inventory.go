// Package inventory holds the NIC inventory of a machine as plain values: what
// `bondstrap detect -o json` prints and `--inventory` reads. It imports nothing that
// touches the kernel, so selection and rendering work on saved inventories.
package inventory

// Inventory is the set of physical NICs of one machine, as `bondstrap detect -o
// json` prints it and `--inventory` reads it.
type Inventory struct {
	Interfaces []NIC `json:"interfaces"`
}

// NIC describes one physical network interface.
//
// VendorID and DeviceID are four lowercase hex digits, as `lspci -n` prints
// them, and empty for a non-PCI device. SpeedMbps is 0 when the speed is
// unknown (no link, or the driver does not say).
type NIC struct {
	Name         string `json:"name"`
	MAC          string `json:"mac"`
	PermanentMAC string `json:"permanent_mac"`
	PCIAddress   string `json:"pci_address"`
	VendorID     string `json:"vendor_id"`
	DeviceID     string `json:"device_id"`
	Driver       string `json:"driver"`
	SpeedMbps    int    `json:"speed_mbps"`
	// Duplex is "full", "half" or "unknown".
	Duplex  string `json:"duplex"`
	Carrier bool   `json:"carrier"`
	MTU     int    `json:"mtu"`

	// Optional details a live probe fills in; saved inventories may omit them.
	Ifindex   int    `json:"ifindex,omitempty"`
	AdminUp   bool   `json:"admin_up,omitempty"`
	OperState string `json:"operstate,omitempty"`
	// Master is the bond (or bridge) this NIC is enslaved to, if any.
	Master string `json:"master,omitempty"`
	// Port is the connector type as ethtool names it: "tp" (twisted
	// pair), "fibre", "da" (direct attach copper), "aui", "bnc", "mii",
	// "none" or "other"; empty when unknown.
	Port string `json:"port,omitempty"`
}

// PCIID returns "vendor:device", or "" for a NIC without PCI identity.
func (n NIC) PCIID() string {
	if n.VendorID == "" && n.DeviceID == "" {
		return ""
	}
	return n.VendorID + ":" + n.DeviceID
}

// HardwareMAC returns the permanent MAC when the NIC reports one, else the
// current MAC.
func (n NIC) HardwareMAC() string {
	if n.PermanentMAC != "" {
		return n.PermanentMAC
	}
	return n.MAC
}

// Lookup returns the NIC named name.
func (inv Inventory) Lookup(name string) (NIC, bool) {
	for _, n := range inv.Interfaces {
		if n.Name == name {
			return n, true
		}
	}
	return NIC{}, false
}

// Duplex values of NIC.Duplex and MemberStatus.Duplex.
const (
	DuplexFull    = "full"
	DuplexHalf    = "half"
	DuplexUnknown = "unknown"
)
