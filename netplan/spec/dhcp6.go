package spec

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DHCPv6 identity: bondstrap's DHCPv6 client and the units it writes for
// systemd-networkd must present the same DUID and IAID, so the server gives
// the address bondstrap got back after the reboot. networkd's own default
// (a DUID from /etc/machine-id, which an initramfs may not have yet, and an
// IAID hashed from the interface) cannot be reproduced at early boot; both
// use the interface's MAC instead:
//
//   - DUID-LL (type 3) of the MAC: hardware type 1 (Ethernet, 6 bytes) or 32
//     (InfiniBand, 20 bytes), then the address;
//   - IAID: the MAC's last four bytes, as a big-endian number.

// DHCPv6HWType is the DUID-LL hardware type for a MAC of this length, or 0.
func DHCPv6HWType(mac net.HardwareAddr) uint16 {
	switch len(mac) {
	case 6:
		return 1
	case 20:
		return 32
	}
	return 0
}

// DHCPv6IAID is the IAID of the interface's IA_NA. The MAC must be 6 or 20
// bytes (DHCPv6HWType not 0).
func DHCPv6IAID(mac net.HardwareAddr) uint32 {
	b := mac[len(mac)-4:]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// NetworkdDHCPv6 returns the values of networkd's [DHCPv6] DUIDType=,
// DUIDRawData= and IAID= that make it identify itself as bondstrap's client
// does on an interface with this MAC. In networkd 252, DUIDRawData= is
// ignored without DUIDType=, and DUIDRawData= holds the DUID after its type:
// the hardware type, then the address.
func NetworkdDHCPv6(mac net.HardwareAddr) (duidType, duidRawData, iaid string, err error) {
	hw := DHCPv6HWType(mac)
	if hw == 0 {
		return "", "", "", fmt.Errorf("no DHCPv6 DUID from hardware address %q: neither Ethernet nor InfiniBand", mac)
	}
	raw := append([]byte{byte(hw >> 8), byte(hw)}, mac...)
	parts := make([]string, len(raw))
	for i, c := range raw {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return "link-layer", strings.Join(parts, ":"), strconv.FormatUint(uint64(DHCPv6IAID(mac)), 10), nil
}
