package cmdline

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ipOption is one ip= option, read.
type ipOption struct {
	dev string
	methods
	// addr is the static address with its prefix length, gw the gateway.
	addr, gw string
	dns      []string
	mtu, mac string
	hostname string
}

// methods are what ip='s autoconf list asks for.
type methods struct {
	dhcp4, dhcp6, ra, static bool
}

func (m methods) dhcp() bool { return m.dhcp4 || m.dhcp6 || m.ra }

// unsupportedAutoconf are dracut's autoconf values bondstrap does not take,
// and why.
var unsupportedAutoconf = map[string]string{
	"single-dhcp": "bondstrap runs DHCP on the interfaces it builds, one lease each: write dhcp",
	"either6":     "write auto6, dhcp6, or both (auto6,dhcp6)",
	"link6":       "a link-local IPv6 address needs no configuration: leave ip= out for the interface",
	"ibft":        "bondstrap does not read iSCSI firmware tables",
	"bootp":       "BOOTP is not supported (dracut does not take it either)",
	"rarp":        "RARP is not supported (dracut does not take it either)",
	"both":        "BOOTP and RARP are not supported (dracut does not take them either)",
}

// isAutoconf reports whether every element of a comma list is an autoconf
// value, taken or not.
func isAutoconf(s string) bool {
	for _, v := range strings.Split(s, ",") {
		switch v {
		case "dhcp", "on", "any", "dhcp6", "auto6", "none", "off":
		default:
			if _, ok := unsupportedAutoconf[v]; !ok {
				return false
			}
		}
	}
	return true
}

func parseAutoconf(s string) (methods, error) {
	var m methods
	for _, v := range strings.Split(s, ",") {
		switch v {
		case "dhcp", "on", "any":
			m.dhcp4 = true
		case "dhcp6":
			m.dhcp6 = true
		case "auto6":
			m.ra = true
		case "none", "off":
			m.static = true
		default:
			if why, ok := unsupportedAutoconf[v]; ok {
				return m, fmt.Errorf("%s is not supported by bondstrap: %s", v, why)
			}
			return m, fmt.Errorf("unknown method %q: expected dhcp, on, any, dhcp6, auto6, none or off", v)
		}
	}
	if m.static && m.dhcp() {
		return m, fmt.Errorf("%s mixes none/off (a static address) with automatic methods", s)
	}
	return m, nil
}

// parseIP reads the forms of ip=:
//
//	ip=<method>
//	ip=<interface>:<method>[:[<mtu>][:<macaddr>]]
//	ip=<client>:[<peer>]:<gateway>:<netmask>:<hostname>:<interface>:<method>[:[<mtu>][:<macaddr>]]
//	ip=<client>:[<peer>]:<gateway>:<netmask>:<hostname>:<interface>:<method>[:[<dns1>][:<dns2>]]
//
// where <method> is a comma list of dhcp, on, any, dhcp6, auto6, none,
// off; IPv6 addresses are in brackets; a MAC may be written with its
// colons.
func parseIP(v string) (ipOption, error) {
	var o ipOption
	f, err := fields(v)
	if err != nil {
		return o, err
	}
	switch {
	case len(f) == 1:
		if _, isAddr := parseAddr(f[0]); isAddr {
			return o, fmt.Errorf("the anaconda form ip=<address> (with netmask=, gateway=, ksdevice=) is not supported: write ip=<address>::<gateway>:<netmask>:<hostname>:<interface>:none")
		}
		o.methods, err = parseAutoconf(f[0])
		if err == nil && o.static {
			err = fmt.Errorf("%s without an address: give ip=<address>::<gateway>:<netmask>:<hostname>:<interface>:none", f[0])
		}
		return o, err
	case isAutoconf(f[1]):
		o.dev = f[0]
		if o.methods, err = parseAutoconf(f[1]); err != nil {
			return o, err
		}
		if o.static {
			return o, fmt.Errorf("%s without an address: give ip=<address>::<gateway>:<netmask>:<hostname>:<interface>:none", f[1])
		}
		if len(f) > 2 {
			o.mtu = f[2]
		}
		o.mac, err = macFields(f[min(len(f), 3):])
		return o, err
	case len(f) < 7:
		return o, fmt.Errorf("expected <interface>:<method> or <client>:[<peer>]:<gateway>:<netmask>:<hostname>:<interface>:<method>, got %d fields", len(f))
	}
	client, peer, gw, mask := f[0], f[1], f[2], f[3]
	o.hostname, o.dev = f[4], f[5]
	if peer != "" {
		return o, fmt.Errorf("a peer (%s) is for point-to-point links, which bondstrap does not configure", peer)
	}
	autoconf := f[6]
	if autoconf == "" {
		autoconf = "dhcp" // dracut's default
	}
	if o.methods, err = parseAutoconf(autoconf); err != nil {
		return o, err
	}
	switch {
	case client != "" && !o.static:
		return o, fmt.Errorf("a client address (%s) is for none or off, not %s", client, autoconf)
	case client == "" && o.static:
		return o, fmt.Errorf("%s without a client address", autoconf)
	case client != "":
		if o.addr, err = prefix(client, mask); err != nil {
			return o, err
		}
	case mask != "":
		return o, fmt.Errorf("a netmask (%s) without a client address", mask)
	}
	if gw != "" {
		o.gw = gw
	}
	rest := f[7:]
	switch {
	case len(rest) == 0:
	case looksLikeAddr(rest[0]):
		if len(rest) > 2 {
			return o, fmt.Errorf("expected at most two DNS servers after the method, got %d fields", len(rest))
		}
		for _, d := range rest {
			if d != "" {
				o.dns = append(o.dns, d)
			}
		}
	default:
		o.mtu = rest[0]
		o.mac, err = macFields(rest[1:])
	}
	return o, err
}

// looksLikeAddr tells dracut's DNS server field from an MTU: it has a
// dot or a colon.
func looksLikeAddr(s string) bool { return strings.ContainsAny(s, ".:") }

// macFields reads the MAC at the end of ip=: one field, or six (the MAC
// with its colons).
func macFields(f []string) (string, error) {
	switch len(f) {
	case 0:
		return "", nil
	case 1:
		return f[0], nil
	case 6:
		return strings.Join(f, ":"), nil
	}
	return "", fmt.Errorf("expected a MAC address at the end, got %q", strings.Join(f, ":"))
}

// prefix is a static address with its prefix length: the netmask is a
// length, or for IPv4 a dotted mask.
func prefix(client, mask string) (string, error) {
	a, ok := parseAddr(client)
	if !ok {
		return "", fmt.Errorf("the client address %q is not an IP address", client)
	}
	if mask == "" {
		return "", fmt.Errorf("the netmask of %s is missing: give the prefix length (24, 64) or a dotted mask (255.255.255.0)", client)
	}
	if isDigits(mask) {
		n, err := strconv.Atoi(mask)
		if err != nil || n > a.BitLen() {
			return "", fmt.Errorf("the prefix length %s is out of range for %s", mask, client)
		}
		return fmt.Sprintf("%s/%d", a, n), nil
	}
	m, ok := parseAddr(mask)
	if !ok || !m.Is4() || !a.Is4() {
		return "", fmt.Errorf("the netmask %q is neither a prefix length nor an IPv4 dotted mask", mask)
	}
	ones, bits := net.IPMask(m.AsSlice()).Size()
	if bits == 0 {
		return "", fmt.Errorf("the netmask %s is not contiguous", mask)
	}
	return fmt.Sprintf("%s/%d", a, ones), nil
}

// ip applies one ip= option to the interface it names or, without one,
// to the interfaces nothing sits on (tops). Several ip= options must each
// name their interface, as dracut requires.
func (c *converter) ip(w word, tops []string, several bool) {
	o, err := parseIP(w.value)
	if err != nil {
		c.errorf(w, "%v", err)
		return
	}
	if o.hostname != "" {
		c.warnings = append(c.warnings, fmt.Sprintf("%s: the hostname %s is not set: bondstrap configures the network only", w.text, o.hostname))
	}
	var targets []string
	switch {
	case o.dev != "":
		name, ok := c.nic(o.dev, w)
		if !ok {
			return
		}
		targets = []string{name}
	case several:
		c.errorf(w, "names no interface, but there are several ip= options: each names its interface (ip=<interface>:dhcp)")
		return
	case o.static && len(tops) != 1:
		c.errorf(w, "names no interface, and %d interfaces could take the address (%s): name one", len(tops), strings.Join(tops, ", "))
		return
	default:
		targets = tops
	}
	for _, name := range targets {
		c.address(name, o, w)
	}
}

// address puts an ip= option's addressing on one interface.
func (c *converter) address(name string, o ipOption, w word) {
	if prev, ok := c.addressed[name]; ok {
		c.errorf(w, "%s is also configured by %s: give one ip= an interface (methods may be combined: dhcp,dhcp6)", name, prev.text)
		return
	}
	c.addressed[name] = w
	m, p := c.iface(name), c.ifacePath(name)
	set := func(key string, v any, what string) {
		m[key] = v
		c.at(child(p, key), w, what)
	}
	if o.dhcp4 {
		set("dhcp4", true, "")
	}
	if o.dhcp6 {
		set("dhcp6", true, "")
	}
	if o.ra {
		set("accept-ra", true, "")
	}
	if o.addr != "" {
		set("addresses", []any{o.addr}, "address "+o.addr)
	}
	if o.gw != "" {
		set("routes", []any{map[string]any{"to": "default", "via": o.gw}}, "gateway "+o.gw)
	}
	for _, d := range o.dns {
		c.addDNS(name, d, w)
	}
	if o.mtu != "" {
		mtu, ok := number(o.mtu)
		switch have, _ := m["mtu"].(json.Number); {
		case !ok:
			c.errorf(w, "the MTU %q is not a number", o.mtu)
		case have != "" && have != mtu:
			c.errorf(w, "the MTU %s is not the MTU %s that %s gives %s", o.mtu, have, c.defined[name].text, name)
		default:
			set("mtu", mtu, "mtu "+o.mtu)
		}
	}
	if o.mac != "" {
		set("macaddress", o.mac, "MAC "+o.mac)
	}
}
