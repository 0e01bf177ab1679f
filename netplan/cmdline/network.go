package cmdline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// dracut's defaults: bond (or bond=, or bond=<name>) is a bond over eth0
// and eth1 in the kernel's default mode; bridge alone is br0 over eth0.
var (
	defaultBond        = "bond0"
	defaultBondMembers = []string{"eth0", "eth1"}
	defaultBridge      = "br0"
	defaultBridgePorts = []string{"eth0"}
)

// bootifID is the ethernets id of the PXE boot NIC (bootif in a member
// list or as ip='s interface).
const bootifID = "bootif"

// NetworkConfig turns dracut's network options into a netplan config:
//
//   - bond=<name>[:<members>[:<options>[:<mtu>]]] is a bond; members are
//     kernel interface names (ethernets ids without match), bootif (the
//     BOOTIF= NIC, matched by its MAC) or a MAC as aa-bb-cc-dd-ee-ff;
//     options are the bonding driver's (mode, miimon, primary, ...,
//     arp_ip_target with ';' between addresses), each taken to its
//     netplan parameter through spec.ByKernel;
//   - vlan=<name>:<link> is a VLAN whose id is in its name (vlan0100,
//     vlan100, <link>.0100, <link>.100);
//   - bridge=<name>:<ports> is a bridge as dracut makes it: STP off,
//     forward delay 0;
//   - ip= gives an interface its addressing (DHCPv4, DHCPv6, router
//     advertisements, or a static address with gateway and DNS servers,
//     MTU and MAC); without any ip=, as without an interface in ip=dhcp,
//     every interface on top of the stack takes DHCPv4 (ip=dhcp6: DHCPv6);
//   - nameserver= adds a DNS server to every interface ip= configures.
//
// The config is checked by netplan.Parse, as a file is, and its File is
// File. Every error is a netplan.Error whose Path is the option it comes
// from, as written, in command line order. BOOTIF= is given to the
// config's match rules (Config.SetBootIF). The warnings say what was read
// but is not used (a hostname, dracut options bondstrap does not read).
func (b *Boot) NetworkConfig() (*netplan.Config, []string, error) {
	c := newConverter(b)
	c.convert()
	if len(c.errs) > 0 {
		return nil, c.warnings, c.sorted(c.errs)
	}
	data, err := json.Marshal(c.tree)
	if err != nil {
		return nil, c.warnings, netplan.ErrorList{{File: File, Msg: fmt.Sprintf("internal error encoding the config: %v", err)}}
	}
	cfg, err := netplan.Parse(File, data)
	if err != nil {
		var list netplan.ErrorList
		if !errors.As(err, &list) {
			return nil, c.warnings, err
		}
		return nil, c.warnings, c.sorted(c.explain(list))
	}
	cfg.SetBootIF(b.BootIF)
	return cfg, c.warnings, nil
}

// converter builds the config's tree (what a YAML file decodes to) from
// the options, and remembers which option each key path came from.
type converter struct {
	boot     *Boot
	errs     netplan.ErrorList
	warnings []string

	ethernets, bonds, vlans, bridges map[string]any
	tree                             map[string]any

	// kinds maps every bond, VLAN and bridge name to its kind and the
	// option that defines it.
	kinds   map[string]string
	defined map[string]word
	// used are the names something sits on: bond members, bridge ports,
	// VLAN links.
	used map[string]bool
	// addressed maps the interfaces ip= configures to their option.
	addressed map[string]word
	origins   []origin
}

// origin says which option a key path of the tree came from; what is the
// part of the option it is (a bond option "miimon=100"), or "".
type origin struct {
	path string
	w    word
	what string
}

func newConverter(b *Boot) *converter {
	c := &converter{
		boot:      b,
		ethernets: map[string]any{}, bonds: map[string]any{}, vlans: map[string]any{}, bridges: map[string]any{},
		kinds: map[string]string{}, defined: map[string]word{}, used: map[string]bool{}, addressed: map[string]word{},
	}
	c.tree = map[string]any{"network": map[string]any{
		"version": 2, "ethernets": c.ethernets, "bonds": c.bonds, "vlans": c.vlans, "bridges": c.bridges,
	}}
	return c
}

func (c *converter) errorf(w word, format string, args ...any) {
	c.errs = append(c.errs, &netplan.Error{File: File, Path: w.text, Msg: fmt.Sprintf(format, args...)})
}

func (c *converter) at(path string, w word, what string) {
	c.origins = append(c.origins, origin{path: path, w: w, what: what})
}

// Parsed options, before the tree is built (a VLAN may sit on a bridge
// that a later option defines).
type (
	bondOption struct {
		w       word
		name    string
		members []string
		options []kernelOption
		mtu     string
	}
	kernelOption struct{ key, value, text string }
	vlanOption   struct {
		w          word
		name, link string
		id         int
	}
	bridgeOption struct {
		w     word
		name  string
		ports []string
	}
)

func (c *converter) convert() {
	var bonds []bondOption
	var vlans []vlanOption
	var bridges []bridgeOption
	var ips, nameservers []word
	for _, w := range c.boot.network {
		switch w.key {
		case "bond":
			if o, ok := c.parseBond(w); ok && c.define(w, o.name, netplan.KindBond) {
				bonds = append(bonds, o)
			}
		case "vlan":
			if o, ok := c.parseVLAN(w); ok && c.define(w, o.name, netplan.KindVLAN) {
				vlans = append(vlans, o)
			}
		case "bridge":
			if o, ok := c.parseBridge(w); ok && c.define(w, o.name, netplan.KindBridge) {
				bridges = append(bridges, o)
			}
		case "ip":
			ips = append(ips, w)
		case "nameserver":
			nameservers = append(nameservers, w)
		}
	}
	for _, w := range c.boot.ignored {
		c.warnings = append(c.warnings, fmt.Sprintf("%s: ignored: %s", w.text, ignoredKeys[w.key]))
	}
	if len(bonds) == 0 && len(c.errs) == 0 {
		c.errorf(c.boot.network[0], "no bond=: bondstrap builds bonds; give bond=<name>:<members>[:<options>[:<mtu>]], or bondstrap.config=")
		return
	}
	for _, o := range bonds {
		c.bond(o)
	}
	for _, o := range vlans {
		c.vlan(o)
	}
	for _, o := range bridges {
		c.bridge(o)
	}
	tops := c.tops()
	if len(ips) == 0 {
		// dracut: no ip= at all means DHCPv4 on the interfaces it brings
		// up, which are the ones nothing sits on.
		for _, name := range tops {
			p := c.ifacePath(name)
			c.iface(name)["dhcp4"] = true
			c.addressed[name] = c.defined[name]
			c.at(child(p, "dhcp4"), c.defined[name], "no ip=, so DHCPv4 as dracut does")
		}
	}
	for _, w := range ips {
		c.ip(w, tops, len(ips) > 1)
	}
	c.nameservers(nameservers)
}

// define records a bond, VLAN or bridge name, refusing a name given twice.
func (c *converter) define(w word, name, kind string) bool {
	if prev, ok := c.defined[name]; ok {
		c.errorf(w, "%s is also defined by %s: names must be unique", name, prev.text)
		return false
	}
	c.kinds[name] = kind
	c.defined[name] = w
	return true
}

// fields splits an option's value at ':' (dracut's separator), keeping
// what is in brackets ([2001:db8::1]) as one field without the brackets.
func fields(v string) ([]string, error) {
	var out []string
	for {
		if strings.HasPrefix(v, "[") {
			end := strings.Index(v, "]")
			if end < 0 {
				return nil, errors.New("a '[' has no ']'")
			}
			out = append(out, v[1:end])
			v = v[end+1:]
			if v == "" {
				return out, nil
			}
			if v[0] != ':' {
				return nil, fmt.Errorf("expected ':' after ']', got %q", v[0])
			}
			v = v[1:]
			continue
		}
		f, rest, more := strings.Cut(v, ":")
		out = append(out, f)
		if !more {
			return out, nil
		}
		v = rest
	}
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

func (c *converter) parseBond(w word) (bondOption, bool) {
	o := bondOption{w: w, name: defaultBond, members: defaultBondMembers}
	if w.bare || w.value == "" {
		return o, true
	}
	f := strings.Split(w.value, ":")
	if len(f) > 4 {
		c.errorf(w, "has %d fields: expected bond=<name>[:<members>[:<options>[:<mtu>]]] (options are separated by ',', arp_ip_target's addresses by ';')", len(f))
		return o, false
	}
	if f[0] != "" {
		o.name = f[0]
	}
	if len(f) > 1 {
		o.members = splitList(f[1])
		if len(o.members) == 0 {
			c.errorf(w, "has no members: list the bond's NICs, separated by ','")
			return o, false
		}
	}
	ok := true
	if len(f) > 2 {
		for _, opt := range splitList(f[2]) {
			k, v, eq := strings.Cut(opt, "=")
			if !eq || k == "" || v == "" {
				c.errorf(w, "%s: expected a bonding option as key=value (mode=active-backup)", opt)
				ok = false
				continue
			}
			o.options = append(o.options, kernelOption{key: k, value: v, text: opt})
		}
	}
	if len(f) > 3 && f[3] != "" {
		o.mtu = f[3]
	}
	return o, ok
}

func (c *converter) parseVLAN(w word) (vlanOption, bool) {
	f := strings.Split(w.value, ":")
	if w.bare || len(f) != 2 || f[0] == "" || f[1] == "" {
		c.errorf(w, "expected vlan=<name>:<link>, the VLAN id in the name (vlan0100, vlan100, <link>.100)")
		return vlanOption{}, false
	}
	o := vlanOption{w: w, name: f[0], link: f[1]}
	var digits string
	switch {
	case strings.HasPrefix(o.name, "vlan") && isDigits(strings.TrimPrefix(o.name, "vlan")):
		digits = strings.TrimPrefix(o.name, "vlan")
	case strings.Contains(o.name, "."):
		digits = o.name[strings.LastIndex(o.name, ".")+1:]
	}
	id, err := strconv.Atoi(digits)
	if !isDigits(digits) || err != nil {
		c.errorf(w, "the VLAN id must be in the name %q: name it vlan<id> (vlan0100, vlan100) or <link>.<id> (%s.100)", o.name, o.link)
		return o, false
	}
	o.id = id
	return o, true
}

func (c *converter) parseBridge(w word) (bridgeOption, bool) {
	if w.bare || w.value == "" {
		return bridgeOption{w: w, name: defaultBridge, ports: defaultBridgePorts}, true
	}
	f := strings.Split(w.value, ":")
	if len(f) != 2 || f[0] == "" || len(splitList(f[1])) == 0 {
		c.errorf(w, "expected bridge=<name>:<ports>, the ports separated by ','")
		return bridgeOption{}, false
	}
	return bridgeOption{w: w, name: f[0], ports: splitList(f[1])}, true
}

// number reads a whole number written in decimal digits.
func number(s string) (json.Number, bool) {
	n, err := strconv.Atoi(s)
	if !isDigits(s) || err != nil {
		return "", false
	}
	return json.Number(strconv.Itoa(n)), true
}

func isDigits(s string) bool {
	return s != "" && strings.TrimLeft(s, "0123456789") == ""
}

// idOf is the config name an interface of an option stands for: a bond,
// VLAN or bridge of the command line by its name; else a NIC: bootif, a
// MAC as aa-bb-cc-dd-ee-ff, or a kernel interface name, which is its
// ethernets id. mac is set for a NIC matched by its MAC.
func (c *converter) idOf(ref string) (id string, mac net.HardwareAddr, err error) {
	if _, ok := c.kinds[ref]; ok {
		return ref, nil, nil
	}
	if strings.EqualFold(ref, bootifID) {
		if c.boot.BootIF == nil {
			return "", nil, errors.New("bootif names the NIC the machine booted from by PXE, but there is no BOOTIF= (or rd.bootif=0 turns it off)")
		}
		return bootifID, c.boot.BootIF, nil
	}
	if hw, err := net.ParseMAC(strings.ReplaceAll(ref, "-", ":")); err == nil && len(hw) == 6 && strings.Count(ref, "-") == 5 {
		if slices.Equal(hw, c.boot.BootIF) {
			return bootifID, hw, nil
		}
		return strings.ToLower(ref), hw, nil
	}
	return ref, nil, nil
}

// nic makes sure the ethernets id a NIC reference stands for exists, and
// returns the config name of ref.
func (c *converter) nic(ref string, w word) (string, bool) {
	id, mac, err := c.idOf(ref)
	if err != nil {
		c.errorf(w, "%v", err)
		return "", false
	}
	if _, isVirtual := c.kinds[id]; isVirtual {
		return id, true
	}
	if _, ok := c.ethernets[id]; !ok {
		eth := map[string]any{}
		if mac != nil {
			eth["match"] = map[string]any{"macaddress": mac.String()}
		}
		c.ethernets[id] = eth
		c.at(child("network.ethernets", id), w, "")
	}
	return id, true
}

func (c *converter) bond(o bondOption) {
	p := child("network.bonds", o.name)
	c.at(p, o.w, "")
	bond := map[string]any{}
	c.bonds[o.name] = bond
	var ids []any
	for _, m := range o.members {
		if k, ok := c.kinds[m]; ok {
			c.errorf(o.w, "the member %s is a %s: a bond's members are NICs", m, k)
			continue
		}
		if id, ok := c.nic(m, o.w); ok {
			ids = append(ids, id)
			c.used[id] = true
		}
	}
	bond["interfaces"] = ids
	params := map[string]any{}
	given := map[string]string{} // netplan key → option text
	for _, opt := range o.options {
		key, val, ok := c.bondOption(o, opt, ids)
		if !ok {
			continue
		}
		if prev, dup := given[key]; dup {
			c.errorf(o.w, "%s: %s is already given by %s", opt.text, opt.key, prev)
			continue
		}
		given[key] = opt.text
		params[key] = val
		c.at(child(child(p, "parameters"), key), o.w, opt.text)
	}
	if len(params) > 0 {
		bond["parameters"] = params
	}
	if o.mtu != "" {
		if mtu, ok := number(o.mtu); !ok {
			c.errorf(o.w, "the MTU %q is not a number", o.mtu)
		} else {
			bond["mtu"] = mtu
			c.at(child(p, "mtu"), o.w, "mtu "+o.mtu)
		}
	}
}

// bondOption takes one bonding driver option of a bond= to its netplan
// parameter key and value.
func (c *converter) bondOption(o bondOption, opt kernelOption, members []any) (string, any, bool) {
	switch opt.key {
	case spec.KernelMode:
		m, err := spec.ParseMode(opt.value)
		if err != nil {
			c.errorf(o.w, "%s: %v", opt.text, err)
			return "", nil, false
		}
		return "mode", m.Name, true
	case spec.KernelPrimary:
		// The primary is one of the members, as they are named.
		if id, _, err := c.idOf(opt.value); err == nil && slices.Contains(members, any(id)) {
			return "primary", id, true
		}
		return "primary", opt.value, true
	}
	if why, ok := spec.KernelUnsupported[opt.key]; ok {
		c.errorf(o.w, "%s: the bonding option %s is not supported by bondstrap: %s", opt.text, opt.key, why)
		return "", nil, false
	}
	param, ok := spec.ByKernel(opt.key)
	if !ok {
		if p, isKey := spec.Lookup(opt.key); isKey {
			c.errorf(o.w, "%s: %s is netplan's name; bond= takes the bonding driver's: %s", opt.text, opt.key, p.Kernel)
		} else {
			c.errorf(o.w, "%s: unknown bonding option %q: expected one of %s", opt.text, opt.key, strings.Join(spec.KernelNames(), ", "))
		}
		return "", nil, false
	}
	value := opt.value
	if param.Kind == spec.IPv4List || param.Kind == spec.IPv6List {
		// dracut separates a list's addresses with ';' (',' separates
		// the options).
		value = strings.ReplaceAll(value, ";", ",")
	}
	v, err := param.KernelValue(value)
	if err != nil {
		c.errorf(o.w, "%s: %v", opt.text, err)
		return "", nil, false
	}
	return param.Key, v, true
}

func (c *converter) vlan(o vlanOption) {
	p := child("network.vlans", o.name)
	c.at(p, o.w, "")
	link, ok := c.nic(o.link, o.w)
	if !ok {
		return
	}
	c.used[link] = true
	c.vlans[o.name] = map[string]any{"id": o.id, "link": link}
}

func (c *converter) bridge(o bridgeOption) {
	p := child("network.bridges", o.name)
	c.at(p, o.w, "")
	var ports []any
	for _, ref := range o.ports {
		if id, ok := c.nic(ref, o.w); ok {
			ports = append(ports, id)
			c.used[id] = true
		}
	}
	// As dracut makes it: no spanning tree, forwarding at once.
	c.bridges[o.name] = map[string]any{
		"interfaces": ports,
		"parameters": map[string]any{"stp": false, "forward-delay": json.Number("0")},
	}
}

// tops are the bonds, VLANs and bridges nothing sits on, in that order,
// each by name: what dracut brings up with DHCP when ip= names no
// interface.
func (c *converter) tops() []string {
	var out []string
	for _, m := range []map[string]any{c.bonds, c.vlans, c.bridges} {
		names := make([]string, 0, len(m))
		for name := range m {
			if !c.used[name] {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		out = append(out, names...)
	}
	return out
}

// iface is the tree mapping of a config name.
func (c *converter) iface(name string) map[string]any {
	for _, m := range []map[string]any{c.bonds, c.vlans, c.bridges, c.ethernets} {
		if v, ok := m[name]; ok {
			return v.(map[string]any)
		}
	}
	return nil
}

func (c *converter) ifacePath(name string) string {
	switch c.kinds[name] {
	case netplan.KindBond:
		return child("network.bonds", name)
	case netplan.KindVLAN:
		return child("network.vlans", name)
	case netplan.KindBridge:
		return child("network.bridges", name)
	}
	return child("network.ethernets", name)
}

// nameservers gives every interface ip= configured the nameserver=
// servers, as dracut writes them into each one's resolver file.
func (c *converter) nameservers(ws []word) {
	if len(ws) == 0 {
		return
	}
	names := make([]string, 0, len(c.addressed))
	for name := range c.addressed {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		for _, w := range ws {
			c.errorf(w, "no interface takes addressing from the command line to give the DNS server to")
		}
		return
	}
	for _, name := range names {
		for _, w := range ws {
			c.addDNS(name, strings.TrimSuffix(strings.TrimPrefix(w.value, "["), "]"), w)
		}
	}
}

// addDNS appends a DNS server to an interface's nameservers.
func (c *converter) addDNS(name, server string, w word) {
	m := c.iface(name)
	ns, _ := m["nameservers"].(map[string]any)
	if ns == nil {
		ns = map[string]any{}
		m["nameservers"] = ns
	}
	list, _ := ns["addresses"].([]any)
	c.at(indexPath(child(child(c.ifacePath(name), "nameservers"), "addresses"), len(list)), w, "DNS server "+server)
	ns["addresses"] = append(list, server)
}

// explain names, for every error of the validator, the option its key
// came from, and keeps netplan's key path at the end of the message: the
// validator's words are about it.
func (c *converter) explain(list netplan.ErrorList) netplan.ErrorList {
	out := make(netplan.ErrorList, 0, len(list))
	for _, e := range list {
		o, ok := c.originOf(e.Path)
		if !ok {
			msg := e.Msg
			if e.Path != "" {
				msg = e.Path + ": " + msg
			}
			out = append(out, &netplan.Error{File: File, Msg: msg})
			continue
		}
		msg := e.Msg
		if o.what != "" {
			msg = o.what + ": " + msg
		}
		if e.Path != "" {
			msg += " (netplan key " + e.Path + ")"
		}
		out = append(out, &netplan.Error{File: File, Path: o.w.text, Msg: msg})
	}
	return out
}

// originOf finds the option the longest recorded key path above path
// came from.
func (c *converter) originOf(path string) (origin, bool) {
	best, found := origin{}, false
	for _, o := range c.origins {
		if (path == o.path || strings.HasPrefix(path, o.path+".") || strings.HasPrefix(path, o.path+"[")) &&
			(!found || len(o.path) > len(best.path)) {
			best, found = o, true
		}
	}
	return best, found
}

// sorted orders errors as their options are on the command line.
func (c *converter) sorted(list netplan.ErrorList) netplan.ErrorList {
	pos := map[string]int{}
	for _, w := range c.boot.network {
		if _, ok := pos[w.text]; !ok {
			pos[w.text] = w.pos
		}
	}
	slices.SortStableFunc(list, func(a, b *netplan.Error) int {
		pa, oka := pos[a.Path]
		pb, okb := pos[b.Path]
		switch {
		case oka != okb && !oka:
			return 1
		case oka != okb:
			return -1
		}
		return pa - pb
	})
	return list
}

// child is netplan's key path of a mapping key under path.
func child(path, key string) string { return netplan.KeyPath(path, key) }

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parseAddr reads an IP address without a zone.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil && a.Zone() == ""
}
