package netplan

import (
	"fmt"
	"net"
	"path"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// Explain reports whether nic satisfies every key of m and, either way, why:
// the first key that fails, or a summary of what matched. A nil Match never
// matches (an ethernets id without match is resolved by name in MatchesID).
func (m *Match) Explain(nic inventory.NIC) (bool, string) {
	if m == nil {
		return false, "no match rule"
	}
	if why := m.fails(nic); why != nil {
		return false, why()
	}
	var held []string
	if m.Name != "" {
		held = append(held, "name")
	}
	if m.MACAddress != "" {
		held = append(held, "macaddress")
	}
	if len(m.Driver) > 0 {
		held = append(held, "driver")
	}
	if len(m.PCIID) > 0 {
		held = append(held, "pci-id "+nic.PCIID())
	}
	if m.MinSpeed != nil || m.MaxSpeed != nil {
		held = append(held, fmt.Sprintf("speed %d Mb/s", nic.SpeedMbps))
	}
	if m.Carrier != nil && *m.Carrier {
		held = append(held, "carrier")
	}
	if m.BootIF != nil && *m.BootIF {
		held = append(held, "bootif")
	}
	return true, strings.Join(held, ", ")
}

// Matches reports whether nic satisfies every key of m, without saying why:
// selection asks it of every NIC for every bond.
func (m *Match) Matches(nic inventory.NIC) bool {
	return m != nil && m.fails(nic) == nil
}

// fails returns nil when nic satisfies every key of m, else what makes the
// message saying which key failed (built only when asked for).
func (m *Match) fails(nic inventory.NIC) func() string {
	if m.Name != "" && !globMatch(m.Name, nic.Name) {
		return func() string { return fmt.Sprintf("name %s does not match %q", nic.Name, m.Name) }
	}
	if m.MACAddress != "" && !strings.EqualFold(m.MACAddress, nic.HardwareMAC()) {
		return func() string {
			return fmt.Sprintf("permanent MAC %s is not %s", orNone(nic.HardwareMAC()), m.MACAddress)
		}
	}
	if len(m.Driver) > 0 && !anyGlob(m.Driver, nic.Driver) {
		return func() string {
			return fmt.Sprintf("driver %s matches none of %s", orNone(nic.Driver), listString(m.Driver))
		}
	}
	if len(m.PCIID) > 0 {
		id := nic.PCIID()
		if id == "" {
			return func() string { return "has no PCI ID, pci-id " + listString(m.PCIID) + " required" }
		}
		if !anyGlob(m.PCIID, id) {
			return func() string { return fmt.Sprintf("pci-id %s matches none of %s", id, listString(m.PCIID)) }
		}
	}
	if m.MinSpeed != nil || m.MaxSpeed != nil {
		switch {
		case nic.SpeedMbps <= 0:
			return func() string { return "speed unknown (no link?), a speed rule requires it" }
		case m.MinSpeed != nil && nic.SpeedMbps < *m.MinSpeed:
			return func() string { return fmt.Sprintf("speed %d Mb/s below min-speed %d", nic.SpeedMbps, *m.MinSpeed) }
		case m.MaxSpeed != nil && nic.SpeedMbps > *m.MaxSpeed:
			return func() string { return fmt.Sprintf("speed %d Mb/s above max-speed %d", nic.SpeedMbps, *m.MaxSpeed) }
		}
	}
	if m.Carrier != nil && *m.Carrier && !nic.Carrier {
		return func() string { return "no carrier, carrier: true required" }
	}
	if m.BootIF != nil && *m.BootIF {
		switch {
		case m.bootMAC == "":
			return func() string { return "no BOOTIF= on the kernel command line, bootif: true required" }
		case !strings.EqualFold(m.bootMAC, nic.HardwareMAC()):
			return func() string {
				return fmt.Sprintf("permanent MAC %s is not BOOTIF %s, bootif: true required", orNone(nic.HardwareMAC()), m.bootMAC)
			}
		}
	}
	return nil
}

// SetBootIF tells every match rule of the config the MAC of the NIC the
// machine booted from by PXE (BOOTIF= on the kernel command line), which
// bootif: true selects; nil means there is none (no BOOTIF=, or
// rd.bootif=0), and bootif: true then matches no NIC. Call it after
// loading: the MAC is not part of the config's YAML.
func (c *Config) SetBootIF(mac net.HardwareAddr) {
	s := ""
	if len(mac) > 0 {
		s = mac.String()
	}
	for _, eth := range c.Network.Ethernets {
		if eth.Match != nil {
			eth.Match.bootMAC = s
		}
	}
}

// matchesIDQuietly is MatchesID without the reason.
func (c *Config) matchesIDQuietly(id string, nic inventory.NIC) bool {
	eth, ok := c.Network.Ethernets[id]
	switch {
	case !ok:
		return false
	case eth.Match == nil:
		return nic.Name == id
	}
	return eth.Match.Matches(nic)
}

// MatchesID reports whether nic is selected by the ethernets entry id and why.
// An id without a match rule selects the interface of that name, as in
// netplan.
func (c *Config) MatchesID(id string, nic inventory.NIC) (bool, string) {
	eth, ok := c.Network.Ethernets[id]
	if !ok {
		return false, "ethernets id " + id + " is not defined"
	}
	if eth.Match == nil {
		if nic.Name == id {
			return true, "name " + id
		}
		return false, fmt.Sprintf("name %s is not %s", nic.Name, id)
	}
	return eth.Match.Explain(nic)
}

func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

func listString(l []string) string {
	if len(l) == 1 {
		return l[0]
	}
	return "[" + strings.Join(l, " ") + "]"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
