// Package spec defines, once, the facts about the Linux bonding driver and
// systemd-networkd that bondstrap validates, applies, persists and reports: the
// bonding modes, every bond parameter (its YAML key, kernel option, rtnetlink
// attribute and encoding, systemd-networkd key, allowed values, the modes the
// kernel accepts it in, its default), interface names and MAC addresses.
//
// Everything else derives from these tables: netplan validates with them, the
// kernel builder encodes rtnetlink attributes with them, units renders
// networkd keys with them, status decodes what the kernel reports with them,
// and docs/config.md is checked against them. So a value that validates also
// encodes and renders, by construction.
//
// The package is pure: it imports nothing that touches the kernel.
//
// Sources: Linux 6.1 (Debian 12) drivers/net/bonding/bond_options.c,
// bond_netlink.c and include/uapi/linux/if_link.h; systemd 252 (Debian 12)
// src/network/netdev/bond.c and netdev-gperf.gperf.
package spec

// NetworkdVersion is the oldest systemd whose networkd bondstrap writes units
// for: Debian 12's. A value that version cannot express is refused at
// validation, never discovered after the network works.
const NetworkdVersion = 252
