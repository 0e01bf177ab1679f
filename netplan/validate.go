package netplan

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// Kernel and systemd limits the validation enforces.
const (
	// minMTU and maxMTU are the bonding driver's limits (ETH_MIN_MTU, ETH_MAX_MTU).
	minMTU = 68
	maxMTU = 65535
	// defaultMTU is the MTU of a new bond (Ethernet's).
	defaultMTU = 1500
	// maxSpeed catches speeds written in bit/s instead of Mb/s (100 Tb/s).
	maxSpeed = 100_000_000
	// MaxBonds bounds the bonds of one config: no server has more, and
	// plan and render stay small (docs/config.md, "Limits").
	MaxBonds = 64
	// maxTimeout bounds every bondstrap timeout: a boot step that waits an
	// hour has failed.
	maxTimeout = time.Hour
)

// onFailures are the values of bondstrap.on-failure.
var onFailures = []string{OnFailureRollback, OnFailureFallbackDHCP}

// validator checks the meaning of a decoded config, normalizes it in place, and
// collects every problem.
type validator struct {
	// deadline is the run's (bondstrap.deadline).
	deadline time.Duration
	file     string
	errs     ErrorList
	present  map[string]bool
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validate checks cfg, whose keys and types the tree walker has already
// checked; present holds the key paths given in the file.
func validate(cfg *Config, present map[string]bool) ErrorList {
	v := &validator{file: cfg.File, present: present, deadline: cfg.Deadline()}
	n := &cfg.Network
	switch n.Version {
	case 2:
	case 0:
		v.errorf("network.version", "missing: expected 2 (netplan v2)")
	default:
		v.errorf("network.version", "is %d: bondstrap reads netplan version 2", n.Version)
	}
	if n.Renderer != "" && n.Renderer != "networkd" {
		v.errorf("network.renderer", "is %q: bondstrap writes systemd-networkd units; use networkd or leave it out", n.Renderer)
	}
	for _, id := range sortedKeys(n.Ethernets) {
		eth := n.Ethernets[id]
		v.ethernet(childPath("network.ethernets", id), id, &eth)
		n.Ethernets[id] = eth
	}
	switch {
	case len(n.Bonds) == 0:
		v.errorf("network.bonds", "missing: define at least one bond")
	case len(n.Bonds) > MaxBonds:
		v.errorf("network.bonds", "has %d bonds: bondstrap takes at most %d", len(n.Bonds), MaxBonds)
	}
	owner := make(map[string]string) // ethernets id -> bond that lists it
	for _, name := range sortedKeys(n.Bonds) {
		b := n.Bonds[name]
		v.bond(childPath("network.bonds", name), name, &b, n.Ethernets, owner)
		n.Bonds[name] = b
	}
	v.stack(cfg, owner)
	// An empty mapping means the same as none (and marshals as none).
	if len(n.Ethernets) == 0 {
		n.Ethernets = nil
	}
	if len(n.VLANs) == 0 {
		n.VLANs = nil
	}
	if len(n.Bridges) == 0 {
		n.Bridges = nil
	}
	if o := cfg.Bondstrap; o != nil {
		v.timeout("bondstrap.link-timeout", o.LinkTimeout)
		if o.LinkSettle != "" {
			if d, err := time.ParseDuration(o.LinkSettle); err != nil || d < 0 {
				v.errorf("bondstrap.link-settle", "%q: expected a duration such as 2s (0s: no settling)", o.LinkSettle)
			} else if d > cfg.LinkTimeout() {
				v.errorf("bondstrap.link-settle", "is %s, longer than link-timeout %s", d, cfg.LinkTimeout())
			}
		}
		v.timeout("bondstrap.dhcp-timeout", o.DHCPTimeout)
		v.timeout("bondstrap.deadline", o.Deadline)
		deadline := cfg.Deadline()
		for _, k := range []struct {
			key, value string
			d          time.Duration
		}{{"link-timeout", o.LinkTimeout, cfg.LinkTimeout()}, {"dhcp-timeout", o.DHCPTimeout, cfg.DHCPTimeout()}} {
			switch {
			case k.d <= deadline:
			case k.value != "":
				v.errorf("bondstrap."+k.key, "is %s, longer than the run's deadline %s: every wait must fit in it", k.d, deadline)
			default:
				v.errorf("bondstrap.deadline", "is %s, shorter than the default %s %s: every wait must fit in it; set %s too",
					deadline, k.key, k.d, k.key)
			}
		}
		if o.OnFailure != "" && !slices.Contains(onFailures, o.OnFailure) {
			v.errorf("bondstrap.on-failure", "is %q: expected %s", o.OnFailure, oneOf(onFailures))
		}
	}
	return v.errs
}

func (v *validator) ethernet(p, id string, eth *Ethernet) {
	if eth.Match == nil {
		if why := spec.IfnameProblem(id); why != "" {
			v.errorf(p, "an ethernets id without match is an interface name, and %q %s", id, why)
		} else if why := spec.GlobProblem(id); why != "" {
			v.errorf(p, "an ethernets id without match is the exact interface name, and %q %s; to select by pattern write match: {name: %q}", id, why, id)
		}
	} else if why := idProblem(id); why != "" {
		v.errorf(p, "the id %q %s", id, why)
	}
	if eth.Match != nil {
		v.match(childPath(p, "match"), eth.Match)
	}
}

func (v *validator) match(p string, m *Match) {
	if m.Name == "" && m.MACAddress == "" && len(m.Driver) == 0 && len(m.PCIID) == 0 &&
		m.MinSpeed == nil && m.MaxSpeed == nil && m.Carrier == nil && m.BootIF == nil {
		v.errorf(p, "is empty: give at least one key (to take every NIC, write name: \"*\")")
		return
	}
	if m.Name != "" {
		if why := globProblem(m.Name); why != "" {
			v.errorf(childPath(p, "name"), "%q %s", m.Name, why)
		}
	}
	if m.MACAddress != "" {
		mac, err := spec.NormalizeMAC(m.MACAddress)
		if err != nil {
			v.errorf(childPath(p, "macaddress"), "%v", err)
		}
		m.MACAddress = mac
	}
	for i, d := range m.Driver {
		if why := globProblem(d); why != "" {
			v.errorf(listPath(childPath(p, "driver"), i, len(m.Driver)), "%q %s", d, why)
		}
	}
	for i, id := range m.PCIID {
		q := listPath(childPath(p, "pci-id"), i, len(m.PCIID))
		if why := pciIDProblem(id); why != "" {
			v.errorf(q, "%q %s", id, why)
		}
		m.PCIID[i] = strings.ToLower(id)
	}
	if m.MinSpeed != nil {
		v.speed(childPath(p, "min-speed"), *m.MinSpeed)
	}
	if m.MaxSpeed != nil {
		v.speed(childPath(p, "max-speed"), *m.MaxSpeed)
	}
	if m.MinSpeed != nil && m.MaxSpeed != nil && *m.MinSpeed > *m.MaxSpeed {
		v.errorf(childPath(p, "min-speed"), "%d is above max-speed %d: no NIC could match", *m.MinSpeed, *m.MaxSpeed)
	}
	if m.Carrier != nil && !*m.Carrier {
		v.errorf(childPath(p, "carrier"), "may only be true (keep NICs with link); leave it out to accept NICs without link")
	}
	if m.BootIF != nil && !*m.BootIF {
		v.errorf(childPath(p, "bootif"), "may only be true (keep the NIC the machine booted from by PXE); leave it out to accept any NIC")
	}
}

// listPath names element i of a StringList, or the key itself when the list
// was a single string.
func listPath(p string, i, n int) string {
	if n == 1 {
		return p
	}
	return indexPath(p, i)
}

func (v *validator) speed(p string, mbps int) {
	switch {
	case mbps <= 0:
		v.errorf(p, "is %d: expected a speed above 0, in Mb/s", mbps)
	case mbps > maxSpeed:
		v.errorf(p, "is %d: speeds are in Mb/s (10000 for 10 GbE), at most %d", mbps, maxSpeed)
	}
}

func (v *validator) mtu(p string, mtu int) {
	if !v.present[p] {
		return
	}
	if mtu < minMTU || mtu > maxMTU {
		v.errorf(p, "is %d: expected %d-%d", mtu, minMTU, maxMTU)
	}
}

func (v *validator) bond(p, name string, b *Bond, ethernets map[string]Ethernet, owner map[string]string) {
	if why := spec.NameProblem(name); why != "" {
		v.errorf(p, "the bond name %q %s", name, why)
	}
	if _, ok := ethernets[name]; ok {
		v.errorf(p, "%q is both a bond and an ethernets id: ids must be unique", name)
	}

	ip := childPath(p, "interfaces")
	if len(b.Interfaces) == 0 {
		v.errorf(ip, "is empty: list the ethernets ids whose NICs this bond takes")
	}
	for i, id := range b.Interfaces {
		q := indexPath(ip, i)
		switch {
		case slices.Index(b.Interfaces, id) < i:
			v.errorf(q, "%q is listed twice", id)
		case !hasKey(ethernets, id):
			v.errorf(q, "%q is not defined under network.ethernets", id)
		case owner[id] != "":
			v.errorf(q, "%q is already an interface of bond %s: an id may belong to one bond only", id, owner[id])
		default:
			owner[id] = name
		}
	}

	minMembers, maxMembers := b.MinMembers, b.MaxMembers
	if minMembers != nil && *minMembers < 1 {
		v.errorf(childPath(p, "min-members"), "is %d: expected at least 1", *minMembers)
	}
	if maxMembers != nil && *maxMembers < 1 {
		v.errorf(childPath(p, "max-members"), "is %d: expected at least 1", *maxMembers)
	}
	if minMembers != nil && maxMembers != nil && *minMembers > *maxMembers {
		v.errorf(childPath(p, "min-members"), "%d is above max-members %d", *minMembers, *maxMembers)
	}

	mode := b.Mode()
	if b.Parameters != nil {
		v.parameters(childPath(p, "parameters"), b, mode)
	}
	if c := b.LACP; c != nil {
		lp := childPath(p, "lacp")
		if mode != Mode8023AD {
			v.errorf(lp, "is for 802.3ad bonds; this one is %s", mode)
		}
		v.timeout(childPath(lp, "timeout"), c.Timeout)
		if c.Timeout != "" && b.LACPTimeout() > v.deadline {
			v.errorf(childPath(lp, "timeout"), "is %s, longer than the run's deadline %s: every wait must fit in it", b.LACPTimeout(), v.deadline)
		}
		v.enum(childPath(lp, "on-failure"), c.OnFailure, []string{LACPFallbackActiveBackup, LACPFail, LACPContinue})
		v.enum(childPath(lp, "persist"), c.Persist, []string{LACPPersistBuilt, LACPPersistDeclared})
	}

	v.addressing(p, &b.Addressing)
	// The kernel gives every port its bond's MTU when it enslaves it: a
	// member's own would not last.
	bondMTU := b.MTU
	if bondMTU == 0 {
		bondMTU = defaultMTU
	}
	for _, id := range b.Interfaces {
		if eth, ok := ethernets[id]; ok && eth.MTU != 0 && eth.MTU != bondMTU {
			v.errorf(childPath(childPath("network.ethernets", id), "mtu"),
				"is %d, but bond %s has mtu %d: the kernel gives every member its bond's MTU; set mtu on the bond", eth.MTU, name, bondMTU)
		}
	}
}

func (v *validator) parameters(p string, b *Bond, mode BondMode) {
	bp := b.Parameters
	m, _ := spec.LookupMode(string(mode))
	for _, pr := range bp.Settings.Check(m.Name) {
		v.errorf(childPath(p, pr.Key), "%s", pr.Msg)
	}
	// What validates must persist: refuse what neither networkd nor a udev
	// rule can bring back after the reboot, before anything is applied.
	_, problems := spec.Persist(m.Name, bp.Settings)
	for _, pr := range problems {
		v.errorf(childPath(p, pr.Key), "%s", pr.Msg)
	}
	if minLinks, ok := bp.Settings.Get("min-links"); ok && b.MaxMembers != nil && minLinks.N > int64(*b.MaxMembers) {
		v.errorf(childPath(p, "min-links"), "%d is above the bond's max-members %d: the bond could never get carrier", minLinks.N, *b.MaxMembers)
	}
	if bp.Primary != "" {
		q := childPath(p, "primary")
		switch {
		case !m.Primary:
			v.errorf(q, "is not supported in mode %s: the kernel accepts it only in %s", m.Name, primaryModeNames())
		case !slices.Contains(b.Interfaces, bp.Primary):
			v.errorf(q, "%q is not one of this bond's interfaces %v", bp.Primary, b.Interfaces)
		}
	}
}

func (v *validator) enum(p, value string, allowed []string) {
	if value != "" && !slices.Contains(allowed, value) {
		v.errorf(p, "is %q: expected %s", value, oneOf(allowed))
	}
}

// primaryModeNames lists the modes that honour a primary.
func primaryModeNames() string {
	var names []string
	for _, m := range spec.Modes {
		if m.Primary {
			names = append(names, m.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (v *validator) route(p string, r *Route) {
	to := strings.ToLower(r.To)
	var family netip.Addr // zero: unknown until via tells
	switch {
	case r.To == "":
		v.errorf(childPath(p, "to"), "missing: give a destination (an address with prefix length, or default)")
	case to == "default":
		r.To = "default"
		if r.Via == "" {
			v.errorf(childPath(p, "via"), "missing: a default route needs a gateway")
		}
	default:
		prefix, err := parsePrefix(r.To)
		if err != nil {
			v.errorf(childPath(p, "to"), "%q: expected default or a destination with prefix length, such as 198.51.100.0/24: %v", r.To, err)
		} else if prefix.Masked() != prefix {
			v.errorf(childPath(p, "to"), "%q has host bits set: did you mean %s?", r.To, prefix.Masked())
		} else {
			r.To = prefix.String()
			family = prefix.Addr()
		}
	}
	if r.Via != "" {
		q := childPath(p, "via")
		via, err := parseAddr(r.Via)
		switch {
		case err != nil:
			v.errorf(q, "%q: expected an IP address: %v", r.Via, err)
		case via.IsUnspecified() || via.IsMulticast():
			v.errorf(q, "%q: expected a unicast gateway address", r.Via)
		case family.IsValid() && family.Is4() != via.Is4():
			v.errorf(q, "%q and to %q are not of the same IP family", r.Via, r.To)
		default:
			r.Via = via.String()
		}
	}
	if r.Metric != nil && (*r.Metric < 0 || int64(*r.Metric) > math.MaxUint32) {
		v.errorf(childPath(p, "metric"), "is %d: expected 0-%d", *r.Metric, uint32(math.MaxUint32))
	}
	if q := childPath(p, "table"); v.present[q] && (r.Table < 1 || int64(r.Table) > math.MaxUint32) {
		v.errorf(q, "is %d: expected a routing table number 1-%d", r.Table, uint32(math.MaxUint32))
	}
}

func (v *validator) timeout(p, value string) {
	if value == "" {
		return
	}
	d, err := time.ParseDuration(value)
	switch {
	case err != nil:
		v.errorf(p, "%q: expected a duration such as 30s or 2m", value)
	case d <= 0:
		v.errorf(p, "is %s: expected a duration above 0", value)
	case d > maxTimeout:
		v.errorf(p, "is %s: at most %s", value, maxTimeout)
	}
}

// idProblem says what is wrong with an ethernets id that has a match (it is
// not an interface name, but it appears in logs and unit file comments).
func idProblem(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > 255:
		return "is longer than 255 bytes"
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '/' {
			return "contains a space, a control character or '/'"
		}
	}
	return ""
}

// globProblem says why pattern is not a usable shell glob for a name, or
// returns "".
func globProblem(pattern string) string {
	if strings.ContainsFunc(pattern, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "contains a space or a control character"
	}
	if strings.Contains(pattern, "/") {
		return "contains '/', which no interface or driver name has"
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return "is not a valid glob: " + err.Error()
	}
	return ""
}

// pciIDProblem checks "vendor:device": each half four hex digits, or a glob of
// hex digits, '?' and '*'.
func pciIDProblem(id string) string {
	const want = `: expected "vendor:device" in hex, as lspci -n prints it (8086:1572), with optional globs per half (15b3:*, 8086:15??)`
	vendor, device, ok := strings.Cut(id, ":")
	if !ok || strings.Contains(device, ":") {
		return "is not vendor:device" + want
	}
	for _, half := range []string{vendor, device} {
		if half == "" {
			return "has an empty half" + want
		}
		for _, c := range strings.ToLower(half) {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '?' || c == '*') {
				return fmt.Sprintf("has %q, which is neither a hex digit nor a glob character%s", c, want)
			}
		}
		if !strings.Contains(half, "*") && len(half) != 4 {
			return fmt.Sprintf("has %q, which is not four hex digits%s", half, want)
		}
		if len(strings.ReplaceAll(half, "*", "")) > 4 {
			return fmt.Sprintf("has %q, which can never match four hex digits%s", half, want)
		}
	}
	return ""
}

// parseAddr parses an IP address without a zone (a zone has no meaning in a
// unit file and '%' is not a safe character there).
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("not an IP address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("an IPv6 zone is not allowed")
	}
	return a.Unmap(), nil
}

// parsePrefix parses "address/length".
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		return netip.Prefix{}, fmt.Errorf("the prefix length is missing")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address/prefix-length")
	}
	return p, nil
}

// domainProblem checks a DNS search domain: dot-separated labels of letters,
// digits, '-' and '_', 1-63 bytes each, 253 bytes in all.
func domainProblem(d string) string {
	const want = ": expected a DNS domain such as example.com"
	name := strings.TrimSuffix(d, ".")
	if name == "" || len(name) > 253 {
		return "is not a domain name" + want
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "has an empty or too long label" + want
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "has a label that starts or ends with '-'" + want
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("contains %q%s", c, want)
			}
		}
	}
	return ""
}

// KeyPath appends a mapping key to a key path as Error.Path writes it:
// "a.b", or a["b.c"] when the key would not read as one path element. A
// config made from another source (the kernel command line) finds by it
// which of its options an error is about.
func KeyPath(path, key string) string { return childPath(path, key) }

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func oneOf(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return "one of " + strings.Join(values, ", ")
}
