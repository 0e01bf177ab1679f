package netplan

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kernel and systemd limits the validation enforces.
const (
	// maxIfnameLen is IFNAMSIZ-1: the kernel refuses longer interface names.
	maxIfnameLen = 15
	// minMTU and maxMTU are the bonding driver's limits (ETH_MIN_MTU, ETH_MAX_MTU).
	minMTU = 68
	maxMTU = 65535
	// maxARPTargets is BOND_MAX_ARP_TARGETS.
	maxARPTargets = 16
	// maxSpeed catches speeds written in bit/s instead of Mb/s (100 Tb/s).
	maxSpeed = 100_000_000
	// maxKernelInt is the upper bound of the bonding driver's int options.
	maxKernelInt = math.MaxInt32
)

// Enumerated parameter values, as the bonding driver names them.
var (
	lacpRates              = []string{"slow", "fast"}
	transmitHashPolicies   = []string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"}
	adSelects              = []string{"stable", "bandwidth", "count"}
	arpValidates           = []string{"none", "active", "backup", "all", "filter", "filter_active", "filter_backup"}
	arpAllTargets          = []string{"any", "all"}
	failOverMACPolicies    = []string{"none", "active", "follow"}
	primaryReselectPolices = []string{"always", "better", "failure"}
	onFailures             = []string{OnFailureRollback, OnFailureFallbackDHCP}
)

// validator checks the meaning of a decoded config, normalizes it in place, and
// collects every problem.
type validator struct {
	file    string
	errs    ErrorList
	present map[string]bool
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validate checks cfg, whose keys and types the tree walker has already
// checked; present holds the key paths given in the file.
func validate(cfg *Config, present map[string]bool) ErrorList {
	v := &validator{file: cfg.File, present: present}
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
	if len(n.Bonds) == 0 {
		v.errorf("network.bonds", "missing: define at least one bond")
	}
	owner := make(map[string]string) // ethernets id -> bond that lists it
	for _, name := range sortedKeys(n.Bonds) {
		b := n.Bonds[name]
		v.bond(childPath("network.bonds", name), name, &b, n.Ethernets, owner)
		n.Bonds[name] = b
	}
	if o := cfg.Bondstrap; o != nil {
		v.timeout("bondstrap.link-timeout", o.LinkTimeout)
		v.timeout("bondstrap.dhcp-timeout", o.DHCPTimeout)
		if o.OnFailure != "" && !slices.Contains(onFailures, o.OnFailure) {
			v.errorf("bondstrap.on-failure", "is %q: expected %s", o.OnFailure, oneOf(onFailures))
		}
	}
	return v.errs
}

func (v *validator) ethernet(p, id string, eth *Ethernet) {
	if eth.Match == nil {
		if why := ifnameProblem(id); why != "" {
			v.errorf(p, "an ethernets id without match is an interface name, and %q %s", id, why)
		}
	} else if why := idProblem(id); why != "" {
		v.errorf(p, "the id %q %s", id, why)
	}
	v.mtu(childPath(p, "mtu"), eth.MTU)
	if eth.Match != nil {
		v.match(childPath(p, "match"), eth.Match)
	}
}

func (v *validator) match(p string, m *Match) {
	if m.Name == "" && m.MACAddress == "" && len(m.Driver) == 0 && len(m.PCIID) == 0 &&
		m.MinSpeed == nil && m.MaxSpeed == nil && m.Carrier == nil {
		v.errorf(p, "is empty: give at least one key (to take every NIC, write name: \"*\")")
		return
	}
	if m.Name != "" {
		if why := globProblem(m.Name); why != "" {
			v.errorf(childPath(p, "name"), "%q %s", m.Name, why)
		}
	}
	if m.MACAddress != "" {
		mac, err := normalizeMAC(m.MACAddress)
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
	if why := ifnameProblem(name); why != "" {
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

	if b.DHCPIdentifier != "" && b.DHCPIdentifier != "mac" {
		v.errorf(childPath(p, "dhcp-identifier"), "is %q: bondstrap supports only mac (the lease must follow the bond's MAC across the reboot)", b.DHCPIdentifier)
	}
	for i, a := range b.Addresses {
		q := indexPath(childPath(p, "addresses"), i)
		prefix, err := parsePrefix(a)
		if err != nil {
			v.errorf(q, "%q: expected an address with its prefix length, such as 192.0.2.10/24: %v", a, err)
			continue
		}
		if prefix.Addr().IsUnspecified() || prefix.Addr().IsMulticast() {
			v.errorf(q, "%q is not a unicast address", a)
		}
		b.Addresses[i] = prefix.String()
		if slices.Index(b.Addresses, b.Addresses[i]) < i {
			v.errorf(q, "%q is listed twice", a)
		}
	}
	if b.Gateway4 != "" {
		q := childPath(p, "gateway4")
		gw, err := parseAddr(b.Gateway4)
		switch {
		case err != nil:
			v.errorf(q, "%q: expected an IPv4 address: %v", b.Gateway4, err)
		case !gw.Is4() || gw.IsUnspecified() || gw.IsMulticast():
			v.errorf(q, "%q: expected a unicast IPv4 address", b.Gateway4)
		default:
			b.Gateway4 = gw.String()
		}
	}
	for i := range b.Routes {
		v.route(indexPath(childPath(p, "routes"), i), &b.Routes[i])
	}
	if ns := b.Nameservers; ns != nil {
		np := childPath(p, "nameservers")
		for i, a := range ns.Addresses {
			q := indexPath(childPath(np, "addresses"), i)
			addr, err := parseAddr(a)
			if err != nil {
				v.errorf(q, "%q: expected an IP address: %v", a, err)
				continue
			}
			if addr.IsUnspecified() || addr.IsMulticast() {
				v.errorf(q, "%q is not a unicast address", a)
			}
			ns.Addresses[i] = addr.String()
		}
		for i, d := range ns.Search {
			q := indexPath(childPath(np, "search"), i)
			if why := domainProblem(d); why != "" {
				v.errorf(q, "%q %s", d, why)
			}
			ns.Search[i] = strings.ToLower(d)
		}
	}
	v.mtu(childPath(p, "mtu"), b.MTU)
	if b.MACAddress != "" {
		q := childPath(p, "macaddress")
		mac, err := normalizeMAC(b.MACAddress)
		switch {
		case err != nil:
			v.errorf(q, "%v", err)
		case mac == "00:00:00:00:00:00":
			v.errorf(q, "%s is all zeros: the kernel refuses it", mac)
		case macMulticast(mac):
			v.errorf(q, "%s is a multicast address: the kernel refuses it as an interface address", mac)
		}
		b.MACAddress = mac
	}
}

// modeOnly lists, for parameters the bonding driver refuses in some modes
// (bond_options.c, unsuppmodes), the modes that accept them.
var modeOnly = map[string][]BondMode{
	"lacp-rate":          {Mode8023AD},
	"packets-per-member": {ModeBalanceRR},
	"primary":            {ModeActiveBackup, ModeBalanceTLB, ModeBalanceALB},
	"arp-interval":       {ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast},
	"arp-validate":       {ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast},
}

func (v *validator) parameters(p string, b *Bond, mode BondMode) {
	bp := b.Parameters
	given := map[string]bool{
		"lacp-rate":          bp.LACPRate != "",
		"packets-per-member": bp.PacketsPerMember != nil,
		"primary":            bp.Primary != "",
		"arp-interval":       bp.ARPInterval != nil,
		"arp-validate":       bp.ARPValidate != "",
	}
	for _, key := range sortedKeys(modeOnly) {
		if given[key] && !slices.Contains(modeOnly[key], mode) {
			v.errorf(childPath(p, key), "is not supported in mode %s: the kernel accepts it only in %s", mode, modeList(modeOnly[key]))
		}
	}

	v.enum(childPath(p, "lacp-rate"), bp.LACPRate, lacpRates)
	v.enum(childPath(p, "transmit-hash-policy"), bp.TransmitHashPolicy, transmitHashPolicies)
	v.enum(childPath(p, "ad-select"), bp.ADSelect, adSelects)
	v.enum(childPath(p, "arp-validate"), bp.ARPValidate, arpValidates)
	v.enum(childPath(p, "arp-all-targets"), bp.ARPAllTargets, arpAllTargets)
	v.enum(childPath(p, "fail-over-mac-policy"), bp.FailOverMACPolicy, failOverMACPolicies)
	v.enum(childPath(p, "primary-reselect-policy"), bp.PrimaryReselectPolicy, primaryReselectPolices)

	v.intRange(childPath(p, "min-links"), bp.MinLinks, 0, maxKernelInt)
	v.intRange(childPath(p, "gratuitous-arp"), bp.GratuitousARP, 0, 255)
	v.intRange(childPath(p, "resend-igmp"), bp.ResendIGMP, 0, 255)
	v.intRange(childPath(p, "packets-per-member"), bp.PacketsPerMember, 0, 65535)
	if bp.MinLinks != nil && b.MaxMembers != nil && *bp.MinLinks > *b.MaxMembers {
		v.errorf(childPath(p, "min-links"), "%d is above the bond's max-members %d: the bond could never get carrier", *bp.MinLinks, *b.MaxMembers)
	}

	v.interval(childPath(p, "mii-monitor-interval"), bp.MIIMonitorInterval)
	v.interval(childPath(p, "arp-interval"), bp.ARPInterval)
	v.interval(childPath(p, "up-delay"), bp.UpDelay)
	v.interval(childPath(p, "down-delay"), bp.DownDelay)
	if d := bp.LearnPacketInterval; d != nil {
		q := childPath(p, "learn-packet-interval")
		switch {
		case d.Milliseconds%1000 != 0:
			v.errorf(q, "is %s: the kernel takes whole seconds", d)
		case d.Seconds() < 1 || d.Seconds() > maxKernelInt:
			v.errorf(q, "is %ds: expected 1-%d seconds", d.Seconds(), maxKernelInt)
		}
	}
	if bp.MIIMonitorInterval != nil && bp.MIIMonitorInterval.Milliseconds > 0 &&
		bp.ARPInterval != nil && bp.ARPInterval.Milliseconds > 0 {
		v.errorf(childPath(p, "arp-interval"), "and mii-monitor-interval are both set: the kernel runs one link monitor and would drop the MII monitor; keep one")
	}
	if bp.ARPInterval != nil && bp.ARPInterval.Milliseconds > 0 && len(bp.ARPIPTargets) == 0 {
		v.errorf(childPath(p, "arp-interval"), "needs arp-ip-targets: without targets the ARP monitor sees every link down")
	}

	tp := childPath(p, "arp-ip-targets")
	if len(bp.ARPIPTargets) > maxARPTargets {
		v.errorf(tp, "has %d addresses: the kernel takes at most %d", len(bp.ARPIPTargets), maxARPTargets)
	}
	for i, t := range bp.ARPIPTargets {
		q := indexPath(tp, i)
		addr, err := parseAddr(t)
		switch {
		case err != nil:
			v.errorf(q, "%q: expected an IPv4 address: %v", t, err)
			continue
		case !addr.Is4():
			v.errorf(q, "%q: expected an IPv4 address (the ARP monitor is IPv4 only)", t)
			continue
		case addr.As4()[0] == 0 || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			v.errorf(q, "%q: the kernel refuses 0.0.0.0/8 and the broadcast address as ARP targets", t)
		}
		bp.ARPIPTargets[i] = addr.String()
		if slices.Index(bp.ARPIPTargets, bp.ARPIPTargets[i]) < i {
			v.errorf(q, "%q is listed twice: the kernel refuses duplicate targets", t)
		}
	}

	if bp.Primary != "" && !slices.Contains(b.Interfaces, bp.Primary) {
		v.errorf(childPath(p, "primary"), "%q is not one of this bond's interfaces %v", bp.Primary, b.Interfaces)
	}
}

func (v *validator) enum(p, value string, allowed []string) {
	if value != "" && !slices.Contains(allowed, value) {
		v.errorf(p, "is %q: expected %s", value, oneOf(allowed))
	}
}

func (v *validator) intRange(p string, n *int, lo, hi int) {
	if n != nil && (*n < lo || *n > hi) {
		v.errorf(p, "is %d: expected %d-%d", *n, lo, hi)
	}
}

func (v *validator) interval(p string, d *Duration) {
	if d != nil && d.Milliseconds > maxKernelInt {
		v.errorf(p, "is %s: the kernel takes at most %dms", d, maxKernelInt)
	}
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
	}
}

// ifnameProblem says why the kernel or systemd-networkd would refuse name as
// an interface name, or returns "".
func ifnameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxIfnameLen:
		return fmt.Sprintf("is %d bytes long: interface names have at most %d", len(name), maxIfnameLen)
	case name == "." || name == "..":
		return "is not a valid interface name"
	case strings.ContainsAny(name, "/:%"):
		return "contains '/', ':' or '%', which interface names may not"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return "contains a space, a control or a non-ASCII character, which interface names may not"
		}
	}
	if _, err := strconv.ParseUint(name, 10, 64); err == nil {
		return "is all digits, which systemd reads as an interface index"
	}
	return ""
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

// normalizeMAC checks a colon-separated 6-byte MAC address and returns it in
// lowercase.
func normalizeMAC(s string) (string, error) {
	mac := strings.ToLower(s)
	ok := len(mac) == 17
	for i := 0; ok && i < len(mac); i++ {
		c := mac[i]
		if i%3 == 2 {
			ok = c == ':'
		} else {
			ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		}
	}
	if !ok {
		return s, fmt.Errorf("%q: expected a MAC address of six hex bytes separated by colons, such as 3c:fd:fe:00:00:01", s)
	}
	return mac, nil
}

// macMulticast reports whether the group bit of a normalized MAC is set.
func macMulticast(mac string) bool {
	b, err := strconv.ParseUint(mac[:2], 16, 8)
	return err == nil && b&1 == 1
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

func modeList(modes []BondMode) string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}
