package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode is one of the bonding driver's modes.
type Mode struct {
	// Name is the canonical name, as the kernel, netplan and networkd spell it.
	Name string
	// Number is the kernel's number (BOND_MODE_*), also accepted in YAML.
	Number int
	// Primary: the kernel honours a primary port (and an active port).
	Primary bool
	// Hashes: traffic is spread by the transmit hash policy.
	Hashes bool
	// ARP: the ARP monitor may run (the kernel refuses it in the others).
	ARP bool
	// Doc is a one-line description for docs/config.md.
	Doc string
}

// The bonding modes, in the order of the kernel's numbers.
var Modes = []Mode{
	{Name: "balance-rr", Number: 0, ARP: true, Doc: "round robin over all members (the kernel's default)"},
	{Name: "active-backup", Number: 1, Primary: true, ARP: true, Doc: "one member carries traffic, another takes over on failure"},
	{Name: "balance-xor", Number: 2, Hashes: true, ARP: true, Doc: "a member per flow, by `transmit-hash-policy`"},
	{Name: "broadcast", Number: 3, ARP: true, Doc: "every frame on every member"},
	{Name: "802.3ad", Number: 4, Hashes: true, Doc: "LACP: the switch and the host agree on an aggregate"},
	{Name: "balance-tlb", Number: 5, Primary: true, Hashes: true, Doc: "adaptive transmit load balancing"},
	{Name: "balance-alb", Number: 6, Primary: true, Hashes: true, Doc: "adaptive load balancing, receive too"},
}

// Mode names, for code that names one mode.
const (
	BalanceRR    = "balance-rr"
	ActiveBackup = "active-backup"
	BalanceXOR   = "balance-xor"
	Broadcast    = "broadcast"
	LACP         = "802.3ad"
	BalanceTLB   = "balance-tlb"
	BalanceALB   = "balance-alb"
)

// DefaultMode is the mode of a bond whose config names none.
const DefaultMode = BalanceRR

// ParseMode returns the mode named s, or numbered s ("0"-"6"). It is
// case-sensitive, as netplan and the kernel are.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if s == m.Name || s == strconv.Itoa(m.Number) {
			return m, nil
		}
	}
	return Mode{}, fmt.Errorf("unknown bond mode %q: expected one of %s, or a number 0-6", s, ModeNames())
}

// ModeByNumber returns the mode with the kernel's number n.
func ModeByNumber(n int) (Mode, bool) {
	if n < 0 || n >= len(Modes) {
		return Mode{}, false
	}
	return Modes[n], true
}

// LookupMode returns the mode with the canonical name name; the empty name is
// the default mode.
func LookupMode(name string) (Mode, bool) {
	if name == "" {
		name = DefaultMode
	}
	for _, m := range Modes {
		if m.Name == name {
			return m, true
		}
	}
	return Mode{}, false
}

// ModeNames lists the mode names, comma-separated, in kernel order.
func ModeNames() string {
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}
