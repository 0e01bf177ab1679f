package netplan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// twoNICs starts a config with two ethernets ids that are interface names.
const twoNICs = "network:\n  version: 2\n  ethernets:\n    eno1: {}\n    eno2: {}\n"

// withBond is a config whose bond0 takes eno1 and eno2, with body added to
// bond0's mapping.
func withBond(body string) string {
	return twoNICs + "  bonds:\n    bond0:\n      interfaces: [eno1, eno2]\n" + indent(body, 6)
}

// withParams is withBond with params as bond0's parameters.
func withParams(params string) string {
	return withBond("parameters:\n" + indent(params, 2))
}

// withMatch is a config whose bond0 takes the ethernets id "up", which has
// match as its match rule.
func withMatch(match string) string {
	return "network:\n  version: 2\n  ethernets:\n    up:\n      match:\n" + indent(match, 8) +
		"  bonds:\n    bond0:\n      interfaces: [up]\n"
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			b.WriteString(pad)
		}
		b.WriteString(line)
	}
	out := b.String()
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

func arpTargets(n int) string {
	t := make([]string, n)
	for i := range t {
		t[i] = fmt.Sprintf("192.0.2.%d", i+1)
	}
	return "[" + strings.Join(t, ", ") + "]"
}

// badConfigs is the negative corpus: every config must be refused with an
// error at path (a substring of the key path; "" for file-level errors) whose
// message contains msg, and at line when line is not 0.
var badConfigs = []struct {
	name, yaml, path, msg string
	line                  int
}{
	// The file as a whole.
	{name: "empty file", yaml: "", msg: "empty"},
	{name: "whitespace-only file", yaml: "  \n\t\n\n", msg: "empty"},
	{name: "comments-only file", yaml: "# nothing here\n", msg: "empty"},
	{name: "unclosed flow sequence", yaml: "network:\n  version: 2\n  bonds: [\n", msg: "invalid YAML", line: 3},
	{name: "tab indentation", yaml: "network:\n\tversion: 2\n", msg: "invalid YAML", line: 2},
	{name: "bad indentation", yaml: "network:\n  version: 2\n ethernets: {}\n", msg: "invalid YAML"},
	{name: "duplicate top-level key", yaml: "network: {version: 2}\nnetwork: {version: 2}\n", msg: `duplicate key "network"`, line: 2},
	{name: "duplicate bond name", yaml: withBond("") + "    bond0:\n      interfaces: [eno1]\n", msg: `duplicate key "bond0"`, line: 10},
	{name: "duplicate parameter", yaml: withParams("mode: 802.3ad\nmode: active-backup\n"), msg: `duplicate key "mode"`, line: 11},
	{name: "two YAML documents", yaml: withBond("") + "---\n" + withBond(""), msg: "more than one YAML document", line: 9},
	{name: "top level is a list", yaml: "- network\n", msg: "expected a mapping with a network key"},
	{name: "top level is a string", yaml: "network\n", msg: "expected a mapping with a network key"},
	{name: "no network key", yaml: "bondstrap: {on-failure: rollback}\n", path: "network", msg: "missing"},

	// The stack: VLANs, bridges, standalone NICs.
	{name: "dhcp4 on a bond member", yaml: strings.Replace(withBond(""), "eno1: {}", "eno1: {dhcp4: true}", 1), path: "network.ethernets.eno1.dhcp4", msg: "member of bond bond0: its addressing belongs on the bond"},
	{name: "addresses on a bond member", yaml: strings.Replace(withBond(""), "eno1: {}", "eno1: {addresses: [192.0.2.1/24]}", 1), path: "network.ethernets.eno1.addresses", msg: "belongs on the bond"},
	{name: "macaddress on a bond member", yaml: strings.Replace(withBond(""), "eno1: {}", "eno1: {macaddress: 02:00:00:00:00:01}", 1), path: "network.ethernets.eno1.macaddress", msg: "set macaddress on the bond"},
	{name: "set-name on a bond member", yaml: strings.Replace(withMatch("driver: ixgbe\n"), "    up:\n", "    up:\n      set-name: lan0\n", 1), path: "network.ethernets.up.set-name", msg: "renames standalone NICs only"},
	{name: "set-name without a match", yaml: strings.Replace(withBond(""), "eno2: {}", "eno2: {}\n    eno3: {set-name: mgmt0, dhcp4: true}", 1), path: "network.ethernets.eno3.set-name", msg: "needs a match"},
	{name: "set-name is a glob", yaml: strings.Replace(withBond(""), "eno2: {}", "eno2: {}\n    mgmt: {match: {driver: e1000}, set-name: \"mgmt*\"}", 1), path: "network.ethernets.mgmt.set-name", msg: "mgmt*"},
	{name: "vlan without id", yaml: withBond("") + "  vlans:\n    vlan100: {link: bond0}\n", path: "network.vlans.vlan100.id", msg: "missing"},
	{name: "vlan id out of range", yaml: withBond("") + "  vlans:\n    vlan100: {id: 4095, link: bond0}\n", path: "network.vlans.vlan100.id", msg: "0-4094"},
	{name: "vlan on an undefined link", yaml: withBond("") + "  vlans:\n    vlan100: {id: 100, link: bond9}\n", path: "network.vlans.vlan100.link", msg: `"bond9" is not defined`},
	{name: "vlan without link", yaml: withBond("") + "  vlans:\n    vlan100: {id: 100}\n", path: "network.vlans.vlan100.link", msg: "missing"},
	{name: "vlan on a bond member", yaml: withBond("") + "  vlans:\n    vlan100: {id: 100, link: eno1}\n", path: "network.vlans.vlan100.link", msg: "put the VLAN on the bond"},
	{name: "vlan on a vlan", yaml: withBond("") + "  vlans:\n    v1: {id: 1, link: bond0}\n    v2: {id: 2, link: v1}\n", path: "network.vlans.v2.link", msg: "VLANs on VLANs"},
	{name: "same vlan id twice on a link", yaml: withBond("") + "  vlans:\n    a: {id: 7, link: bond0}\n    b: {id: 7, link: bond0}\n", path: "network.vlans.b.id", msg: "also VLAN a"},
	{name: "vlan named like the bond", yaml: withBond("") + "  vlans:\n    bond0: {id: 7, link: bond0}\n", path: "network.vlans.bond0", msg: "both a VLAN and a bond"},
	{name: "vlan name is a glob", yaml: withBond("") + "  vlans:\n    \"bond0.*\": {id: 7, link: bond0}\n", path: `network.vlans["bond0.*"]`, msg: "bond0.*"},
	{name: "vlan mtu above its link", yaml: withBond("") + "  vlans:\n    v7: {id: 7, link: bond0, mtu: 9000}\n", path: "network.vlans.v7.mtu", msg: "at most its link's"},
	{name: "bridge on a bond member", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [eno1]}\n", path: "network.bridges.br0.interfaces[0]", msg: "make the bond the bridge's port"},
	{name: "bridge on an undefined interface", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond1]}\n", path: "network.bridges.br0.interfaces[0]", msg: "not defined"},
	{name: "bridge on a bridge", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0]}\n    br1: {interfaces: [br0]}\n", path: "network.bridges.br1.interfaces[0]", msg: "cannot be a port of another bridge"},
	{name: "port of two bridges", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0]}\n    br1: {interfaces: [bond0]}\n", path: "network.bridges.br1.interfaces[0]", msg: "already a port of bridge br0"},
	{name: "addressing on a bridge port", yaml: withBond("dhcp4: true\n") + "  bridges:\n    br0: {interfaces: [bond0]}\n", path: "network.bonds.bond0.dhcp4", msg: "belongs on the bridge"},
	{name: "cycle through a bridge", yaml: withBond("") + "  vlans:\n    v7: {id: 7, link: br0}\n  bridges:\n    br0: {interfaces: [bond0, v7]}\n", path: "network.vlans.v7.link", msg: "cycle"},
	{name: "bridge forward-delay too short with stp", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {forward-delay: 1}}\n", path: "network.bridges.br0.parameters.forward-delay", msg: "stp: false"},
	{name: "bridge hello-time out of range", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {hello-time: 11s}}\n", path: "network.bridges.br0.parameters.hello-time", msg: "1s-10s"},
	{name: "bridge time not a time", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {max-age: soon}}\n", path: "network.bridges.br0.parameters.max-age", msg: "expected seconds"},
	{name: "bridge priority out of range", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {priority: 65536}}\n", path: "network.bridges.br0.parameters.priority", msg: "0-65535"},
	{name: "path-cost of a non-port", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {path-cost: {eno1: 4}}}\n", path: "network.bridges.br0.parameters.path-cost.eno1", msg: "not one of the bridge's interfaces"},
	{name: "port-priority out of range", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {port-priority: {bond0: 64}}}\n", path: "network.bridges.br0.parameters.port-priority.bond0", msg: "0-63"},
	{name: "unknown bridge parameter", yaml: withBond("") + "  bridges:\n    br0: {interfaces: [bond0], parameters: {vlan-filtering: true}}\n", path: "network.bridges.br0.parameters.vlan-filtering", msg: "unknown key"},
	{name: "dhcp on a bridge without ports", yaml: withBond("") + "  bridges:\n    br0: {dhcp4: true}\n", path: "network.bridges.br0.dhcp4", msg: "no interfaces"},
	{name: "link-settle not a duration", yaml: withBond("") + "bondstrap: {link-settle: soon}\n", path: "bondstrap.link-settle", msg: "expected a duration"},
	{name: "link-settle beyond link-timeout", yaml: withBond("") + "bondstrap: {link-timeout: 10s, link-settle: 20s}\n", path: "bondstrap.link-settle", msg: "longer than link-timeout"},
	{name: "gateway6 not IPv6", yaml: withBond("gateway6: 192.0.2.1\n"), path: "network.bonds.bond0.gateway6", msg: "unicast IPv6"},
	{name: "gateway4 not IPv4", yaml: withBond("gateway4: 2001:db8::1\n"), path: "network.bonds.bond0.gateway4", msg: "unicast IPv4"},
	{name: "optional on a bond", yaml: withBond("optional: true\n"), path: "network.bonds.bond0.optional", msg: "not supported by bondstrap"},

	// Unknown keys, at every level.
	{name: "unknown top-level key", yaml: withBond("") + "networks: {}\n", path: "networks", msg: "unknown key"},
	{name: "top-level key in the wrong case", yaml: strings.Replace(withBond(""), "network:", "Network:", 1), path: "Network", msg: "case-sensitive"},
	{name: "unknown network key", yaml: withBond("") + "  ethernet: {}\n", path: "network.ethernet", msg: `unknown key "ethernet"`},
	{name: "unknown ethernet key", yaml: strings.Replace(withBond(""), "eno1: {}", "eno1: {speed: 10}", 1), path: "network.ethernets.eno1.speed", msg: "unknown key"},
	{name: "unknown match key", yaml: withMatch("pci: 8086:1572\n"), path: "network.ethernets.up.match.pci", msg: "unknown key"},
	{name: "match key in the wrong case", yaml: withMatch("MACAddress: aa:bb:cc:dd:ee:ff\n"), path: "network.ethernets.up.match.MACAddress", msg: `did you mean "macaddress"`},
	{name: "unknown bond key", yaml: withBond("members: [eno1]\n"), path: "network.bonds.bond0.members", msg: "unknown key"},
	{name: "bond parameter outside parameters", yaml: withBond("mode: 802.3ad\n"), path: "network.bonds.bond0.mode", msg: "write it under parameters"},
	{name: "unknown parameter", yaml: withParams("lacp_rate: fast\n"), path: "network.bonds.bond0.parameters.lacp_rate", msg: `unknown bond parameter "lacp_rate": expected one of ad-actor-system,`},
	{name: "unsupported route key", yaml: withBond("routes: [{to: default, via: 192.0.2.1, from: 192.0.2.5}]\n"), path: "network.bonds.bond0.routes[0].from", msg: "not supported by bondstrap"},
	{name: "unknown bondstrap option", yaml: withBond("") + "bondstrap: {timeout: 5s}\n", path: "bondstrap.timeout", msg: "unknown key"},
	{name: "deprecated and current parameter name together", yaml: withParams("packets-per-slave: 2\npackets-per-member: 3\n"), path: "parameters.packets-per-slave", msg: "keep only packets-per-member"},

	// Wrong types.
	{name: "ethernets is a list", yaml: "network:\n  version: 2\n  ethernets: [eno1]\n  bonds: {bond0: {interfaces: [eno1]}}\n", path: "network.ethernets", msg: "expected a mapping, got a list"},
	{name: "ethernet without a value", yaml: strings.Replace(withBond(""), "eno1: {}", "eno1:", 1), path: "network.ethernets.eno1", msg: "write {} for an empty mapping"},
	{name: "bond without a value", yaml: twoNICs + "  bonds:\n    bond0:\n", path: "network.bonds.bond0", msg: "has no value"},
	{name: "interfaces is a string", yaml: twoNICs + "  bonds: {bond0: {interfaces: eno1}}\n", path: "network.bonds.bond0.interfaces", msg: "expected a list of strings"},
	{name: "version is quoted", yaml: strings.Replace(withBond(""), "version: 2", `version: "2"`, 1), path: "network.version", msg: "without quotes"},
	{name: "mtu is a word", yaml: withBond("mtu: jumbo\n"), path: "network.bonds.bond0.mtu", msg: "expected an integer"},
	{name: "lacp outside 802.3ad", yaml: withBond("parameters: {mode: active-backup}\nlacp: {timeout: 5s}\n"), path: "network.bonds.bond0.lacp", msg: "is for 802.3ad bonds; this one is active-backup"},
	{name: "lacp on-failure unknown", yaml: withBond("parameters: {mode: 802.3ad}\nlacp: {on-failure: balance-rr}\n"), path: "network.bonds.bond0.lacp.on-failure", msg: "expected one of active-backup, fail, continue"},
	{name: "lacp persist unknown", yaml: withBond("parameters: {mode: 802.3ad}\nlacp: {persist: both}\n"), path: "network.bonds.bond0.lacp.persist", msg: "expected one of built, declared"},
	{name: "lacp timeout beyond the deadline", yaml: withBond("parameters: {mode: 802.3ad}\nlacp: {timeout: 10m}\n"), path: "network.bonds.bond0.lacp.timeout", msg: "longer than the run's deadline 5m0s"},
	{name: "lacp timeout not a duration", yaml: withBond("parameters: {mode: 802.3ad}\nlacp: {timeout: soon}\n"), path: "network.bonds.bond0.lacp.timeout", msg: "expected a duration"},
	{name: "member mtu is not the bond's", yaml: "network:\n  version: 2\n  ethernets:\n    eno1: {mtu: 9000}\n    eno2: {}\n  bonds:\n    bond0:\n      interfaces: [eno1, eno2]\n",
		path: "network.ethernets.eno1.mtu", msg: "is 9000, but bond bond0 has mtu 1500: the kernel gives every member its bond's MTU"},
	{name: "member mtu is not the bond's mtu", yaml: "network:\n  version: 2\n  ethernets:\n    eno1: {mtu: 9000}\n    eno2: {}\n  bonds:\n    bond0:\n      interfaces: [eno1, eno2]\n      mtu: 9216\n",
		path: "network.ethernets.eno1.mtu", msg: "is 9000, but bond bond0 has mtu 9216"},
	{name: "mtu is a fraction", yaml: withBond("mtu: 1500.5\n"), path: "network.bonds.bond0.mtu", msg: "expected an integer"},
	{name: "mtu out of range of int64", yaml: withBond("mtu: 99999999999999999999999\n"), path: "network.bonds.bond0.mtu", msg: "out of range"},
	{name: "dhcp4 is a quoted string", yaml: withBond(`dhcp4: "true"` + "\n"), path: "network.bonds.bond0.dhcp4", msg: "expected a boolean"},
	{name: "unquoted yes where a string is expected", yaml: withParams("mode: active-backup\nprimary: yes\n"), path: "network.bonds.bond0.parameters.primary", msg: "quote the value"},
	{name: "unquoted no as an interface id", yaml: twoNICs + "  bonds: {bond0: {interfaces: [eno1, no]}}\n", path: "network.bonds.bond0.interfaces[1]", msg: "booleans"},
	{name: "number in a pci-id list", yaml: withMatch(`pci-id: ["8086:1572", 1572]` + "\n"), path: "network.ethernets.up.match.pci-id[1]", msg: "got the number 1572"},
	{name: "driver is a mapping", yaml: withMatch("driver: {name: ixgbe}\n"), path: "network.ethernets.up.match.driver", msg: "expected a string or a list"},
	{name: "min-speed is a string", yaml: withMatch("min-speed: 10G\n"), path: "network.ethernets.up.match.min-speed", msg: "expected an integer"},
	{name: "empty string value", yaml: withParams(`lacp-rate: ""` + "\n"), path: "network.bonds.bond0.parameters.lacp-rate", msg: `is "": expected one of slow, fast`},
	{name: "empty string primary", yaml: withParams(`primary: ""` + "\n"), path: "network.bonds.bond0.parameters.primary", msg: "empty string"},
	{name: "newline in a value", yaml: withMatch(`name: "ens1\nDHCP=yes"` + "\n"), path: "network.ethernets.up.match.name", msg: "control character"},
	{name: "control character in a map key", yaml: strings.Replace(withBond(""), "bond0:", `"bond0\u0007":`, 1), path: "network.bonds", msg: "control character"},

	// network-level values.
	{name: "version 1", yaml: strings.Replace(withBond(""), "version: 2", "version: 1", 1), path: "network.version", msg: "version 2"},
	{name: "version missing", yaml: strings.Replace(withBond(""), "  version: 2\n", "", 1), path: "network.version", msg: "missing"},
	{name: "NetworkManager renderer", yaml: withBond("") + "  renderer: NetworkManager\n", path: "network.renderer", msg: "networkd"},
	{name: "no bonds", yaml: twoNICs, path: "network.bonds", msg: "at least one bond"},

	// Interfaces and ids.
	{name: "undefined ethernets id", yaml: twoNICs + "  bonds: {bond0: {interfaces: [eno1, eno3]}}\n", path: "network.bonds.bond0.interfaces[1]", msg: `"eno3" is not defined`},
	{name: "id in two bonds", yaml: withBond("") + "    bond1:\n      interfaces: [eno2]\n", path: "network.bonds.bond1.interfaces[0]", msg: "already an interface of bond bond0"},
	{name: "id listed twice in one bond", yaml: twoNICs + "  bonds: {bond0: {interfaces: [eno1, eno1]}}\n", path: "network.bonds.bond0.interfaces[1]", msg: "listed twice"},
	{name: "empty interfaces", yaml: twoNICs + "  bonds: {bond0: {interfaces: []}}\n", path: "network.bonds.bond0.interfaces", msg: "is empty"},
	{name: "bond name over 15 bytes", yaml: strings.Replace(withBond(""), "bond0:", "bond-uplinks-0001:", 1), path: "network.bonds.bond-uplinks-0001", msg: "17 bytes long"},
	{name: "bond name with a slash", yaml: strings.Replace(withBond(""), "bond0:", `"bond/0":`, 1), path: `network.bonds["bond/0"]`, msg: "'/'"},
	{name: "bond name all digits", yaml: strings.Replace(withBond(""), "bond0:", `"0":`, 1), path: "network.bonds.0", msg: "all digits"},
	{name: "bond name is also an ethernets id", yaml: twoNICs + "  bonds: {eno1: {interfaces: [eno2]}}\n", path: "network.bonds.eno1", msg: "both a bond and an ethernets id"},
	{name: "interface name ..", yaml: "network:\n  version: 2\n  ethernets: {\"..\": {}}\n  bonds: {bond0: {interfaces: [\"..\"]}}\n", path: `network.ethernets[".."]`, msg: "not a valid interface name"},
	{name: "interface name over 15 bytes", yaml: "network:\n  version: 2\n  ethernets: {enp175s0f1np1xyz: {}}\n  bonds: {bond0: {interfaces: [enp175s0f1np1xyz]}}\n", path: "network.ethernets.enp175s0f1np1xyz", msg: "16 bytes long"},
	{name: "interface name with a space", yaml: "network:\n  version: 2\n  ethernets: {\"en o1\": {}}\n  bonds: {bond0: {interfaces: [\"en o1\"]}}\n", path: `network.ethernets["en o1"]`, msg: "space"},
	{name: "match id with a slash", yaml: "network:\n  version: 2\n  ethernets: {\"up/link\": {match: {driver: ixgbe}}}\n  bonds: {bond0: {interfaces: [\"up/link\"]}}\n", path: `network.ethernets["up/link"]`, msg: "'/'"},

	// Modes.
	{name: "unknown mode name", yaml: withParams("mode: lacp\n"), path: "network.bonds.bond0.parameters.mode", msg: "unknown bond mode"},
	{name: "mode number out of range", yaml: withParams("mode: 7\n"), path: "network.bonds.bond0.parameters.mode", msg: "a number 0-6"},
	{name: "mode in upper case", yaml: withParams("mode: 802.3AD\n"), path: "network.bonds.bond0.parameters.mode", msg: "unknown bond mode"},
	{name: "mode is a list", yaml: withParams("mode: [802.3ad]\n"), path: "network.bonds.bond0.parameters.mode", msg: "expected a bond mode"},
	{name: "lacp-rate outside 802.3ad", yaml: withParams("mode: active-backup\nlacp-rate: fast\n"), path: "parameters.lacp-rate", msg: "not supported in mode active-backup"},
	{name: "lacp-rate in the default mode", yaml: withParams("lacp-rate: fast\n"), path: "parameters.lacp-rate", msg: "not supported in mode balance-rr"},
	{name: "arp-interval in 802.3ad", yaml: withParams("mode: 802.3ad\narp-interval: 100\narp-ip-targets: [192.0.2.1]\n"), path: "parameters.arp-interval", msg: "not supported in mode 802.3ad"},
	{name: "arp-validate in balance-alb", yaml: withParams("mode: balance-alb\narp-validate: all\n"), path: "parameters.arp-validate", msg: "not supported in mode balance-alb"},
	{name: "primary in balance-rr", yaml: withParams("mode: balance-rr\nprimary: eno1\n"), path: "parameters.primary", msg: "only in active-backup, balance-tlb, balance-alb"},
	{name: "packets-per-member in 802.3ad", yaml: withParams("mode: 802.3ad\npackets-per-member: 2\n"), path: "parameters.packets-per-member", msg: "not supported in mode 802.3ad"},

	// Enumerations.
	{name: "lacp-rate medium", yaml: withParams("mode: 802.3ad\nlacp-rate: medium\n"), path: "parameters.lacp-rate", msg: "one of slow, fast"},
	{name: "transmit-hash-policy layer5", yaml: withParams("transmit-hash-policy: layer5\n"), path: "parameters.transmit-hash-policy", msg: "layer3+4"},
	{name: "ad-select fastest", yaml: withParams("mode: 802.3ad\nad-select: fastest\n"), path: "parameters.ad-select", msg: "stable, bandwidth, count"},
	{name: "arp-validate some", yaml: withParams("arp-validate: some\n"), path: "parameters.arp-validate", msg: "filter_active"},
	{name: "arp-all-targets every", yaml: withParams("arp-all-targets: every\n"), path: "parameters.arp-all-targets", msg: "any, all"},
	{name: "fail-over-mac-policy sometimes", yaml: withParams("fail-over-mac-policy: sometimes\n"), path: "parameters.fail-over-mac-policy", msg: "follow"},
	{name: "primary-reselect-policy never", yaml: withParams("primary-reselect-policy: never\n"), path: "parameters.primary-reselect-policy", msg: "always, better, failure"},
	{name: "dhcp-identifier duid", yaml: withBond("dhcp4: true\ndhcp-identifier: duid\n"), path: "network.bonds.bond0.dhcp-identifier", msg: "only mac"},

	// Numeric ranges.
	{name: "gratuitous-arp 256", yaml: withParams("gratuitous-arp: 256\n"), path: "parameters.gratuitous-arp", msg: "0-255"},
	{name: "resend-igmp negative", yaml: withParams("resend-igmp: -1\n"), path: "parameters.resend-igmp", msg: "0-255"},
	{name: "packets-per-member 65536", yaml: withParams("packets-per-member: 65536\n"), path: "parameters.packets-per-member", msg: "0-65535"},
	{name: "min-links negative", yaml: withParams("min-links: -1\n"), path: "parameters.min-links", msg: "expected 0-"},
	{name: "negative mii-monitor-interval", yaml: withParams("mii-monitor-interval: -100\n"), path: "parameters.mii-monitor-interval", msg: "is negative"},
	{name: "up-delay with an unknown unit", yaml: withParams("up-delay: 10x\n"), path: "parameters.up-delay", msg: "100ms"},
	{name: "down-delay in days", yaml: withParams("down-delay: 30d\n"), path: "parameters.down-delay", msg: "100ms"},
	{name: "mii-monitor-interval too long", yaml: withParams("mii-monitor-interval: 1000h\n"), path: "parameters.mii-monitor-interval", msg: "expected 0-2147483647ms"},
	{name: "learn-packet-interval 0", yaml: withParams("mode: balance-tlb\nlearn-packet-interval: 0\n"), path: "parameters.learn-packet-interval", msg: "1-"},
	{name: "learn-packet-interval not whole seconds", yaml: withParams("mode: balance-alb\nlearn-packet-interval: 1500ms\n"), path: "parameters.learn-packet-interval", msg: "whole seconds"},
	{name: "mtu 67", yaml: withBond("mtu: 67\n"), path: "network.bonds.bond0.mtu", msg: "68-65535"},
	{name: "mtu 70000", yaml: withBond("mtu: 70000\n"), path: "network.bonds.bond0.mtu", msg: "68-65535"},
	{name: "ethernet mtu 0", yaml: strings.Replace(withBond(""), "eno1: {}", "eno1: {mtu: 0}", 1), path: "network.ethernets.eno1.mtu", msg: "68-65535"},
	{name: "min-members 0", yaml: withBond("min-members: 0\n"), path: "network.bonds.bond0.min-members", msg: "at least 1"},
	{name: "max-members 0", yaml: withBond("max-members: 0\n"), path: "network.bonds.bond0.max-members", msg: "at least 1"},
	{name: "min-members above max-members", yaml: withBond("min-members: 3\nmax-members: 2\n"), path: "network.bonds.bond0.min-members", msg: "above max-members 2"},
	{name: "min-links above max-members", yaml: withBond("max-members: 2\nparameters: {min-links: 3}\n"), path: "parameters.min-links", msg: "above the bond's max-members"},
	{name: "min-speed 0", yaml: withMatch("min-speed: 0\n"), path: "network.ethernets.up.match.min-speed", msg: "above 0"},
	{name: "min-speed above max-speed", yaml: withMatch("min-speed: 25000\nmax-speed: 10000\n"), path: "network.ethernets.up.match.min-speed", msg: "above max-speed"},
	{name: "speed in bit/s", yaml: withMatch("min-speed: 10000000000\n"), path: "network.ethernets.up.match.min-speed", msg: "Mb/s"},

	// ARP monitoring.
	{name: "arp-ip-target not an address", yaml: withParams("arp-interval: 100\narp-ip-targets: [gateway]\n"), path: "parameters.arp-ip-targets[0]", msg: `"gateway" is not an IP address`},
	{name: "arp-ip-target IPv6", yaml: withParams("arp-interval: 100\narp-ip-targets: [\"2001:db8::1\"]\n"), path: "parameters.arp-ip-targets[0]", msg: `"2001:db8::1": expected an IPv4 address`},
	{name: "arp-ip-target broadcast", yaml: withParams("arp-interval: 100\narp-ip-targets: [255.255.255.255]\n"), path: "parameters.arp-ip-targets[0]", msg: "\"255.255.255.255\": the kernel refuses 0.0.0.0/8, multicast and the broadcast address"},
	{name: "17 arp-ip-targets", yaml: withParams("arp-interval: 100\narp-ip-targets: " + arpTargets(17) + "\n"), path: "parameters.arp-ip-targets", msg: "at most 16"},
	{name: "duplicate arp-ip-target", yaml: withParams("arp-interval: 100\narp-ip-targets: [192.0.2.1, 192.0.2.1]\n"), path: "parameters.arp-ip-targets[1]", msg: "192.0.2.1 is listed twice"},
	{name: "arp-interval without targets", yaml: withParams("arp-interval: 100\n"), path: "parameters.arp-interval", msg: "needs arp-ip-targets"},
	{name: "arp and mii monitors together", yaml: withParams("mii-monitor-interval: 100\narp-interval: 100\narp-ip-targets: [192.0.2.1]\n"), path: "parameters.arp-interval", msg: "both set"},
	{name: "primary not among the interfaces", yaml: withParams("mode: active-backup\nprimary: eno3\n"), path: "parameters.primary", msg: "not one of this bond's interfaces"},

	// Addressing.
	{name: "address without prefix length", yaml: withBond("addresses: [192.0.2.10]\n"), path: "network.bonds.bond0.addresses[0]", msg: "prefix length is missing"},
	{name: "address out of range", yaml: withBond("addresses: [192.0.2.300/24]\n"), path: "network.bonds.bond0.addresses[0]", msg: "expected an address with its prefix length"},
	{name: "prefix length too long", yaml: withBond("addresses: [192.0.2.10/33]\n"), path: "network.bonds.bond0.addresses[0]", msg: "prefix"},
	{name: "gateway4 is IPv6", yaml: withBond(`gateway4: "2001:db8::1"` + "\n"), path: "network.bonds.bond0.gateway4", msg: "IPv4"},
	{name: "gateway4 is a name", yaml: withBond("gateway4: router\n"), path: "network.bonds.bond0.gateway4", msg: "expected an IPv4 address"},
	{name: "route to a bad destination", yaml: withBond("routes: [{to: 10.0.0.0, via: 192.0.2.1}]\n"), path: "network.bonds.bond0.routes[0].to", msg: "prefix length"},
	{name: "route with host bits", yaml: withBond("routes: [{to: 10.1.2.3/8, via: 192.0.2.1}]\n"), path: "network.bonds.bond0.routes[0].to", msg: "did you mean 10.0.0.0/8"},
	{name: "route via a bad gateway", yaml: withBond("routes: [{to: default, via: 192.0.2}]\n"), path: "network.bonds.bond0.routes[0].via", msg: "expected an IP address"},
	{name: "route mixes families", yaml: withBond(`routes: [{to: 10.0.0.0/8, via: "2001:db8::1"}]` + "\n"), path: "network.bonds.bond0.routes[0].via", msg: "same IP family"},
	{name: "default route without via", yaml: withBond("routes: [{to: default}]\n"), path: "network.bonds.bond0.routes[0].via", msg: "needs a gateway"},
	{name: "route without to", yaml: withBond("routes: [{via: 192.0.2.1}]\n"), path: "network.bonds.bond0.routes[0].to", msg: "missing"},
	{name: "route table 0", yaml: withBond("routes: [{to: default, via: 192.0.2.1, table: 0}]\n"), path: "network.bonds.bond0.routes[0].table", msg: "routing table number"},
	{name: "route metric negative", yaml: withBond("routes: [{to: default, via: 192.0.2.1, metric: -1}]\n"), path: "network.bonds.bond0.routes[0].metric", msg: "expected 0-"},
	{name: "nameserver not an address", yaml: withBond("nameservers: {addresses: [dns.example.com]}\n"), path: "network.bonds.bond0.nameservers.addresses[0]", msg: "expected an IP address"},
	{name: "nameserver with an IPv6 zone", yaml: withBond(`nameservers: {addresses: ["fe80::1%eno1"]}` + "\n"), path: "network.bonds.bond0.nameservers.addresses[0]", msg: "zone"},
	{name: "search domain with a space", yaml: withBond(`nameservers: {search: ["exa mple.com"]}` + "\n"), path: "network.bonds.bond0.nameservers.search[0]", msg: "DNS domain"},
	{name: "search domain label starting with a dash", yaml: withBond("nameservers: {search: [-lab.example.com]}\n"), path: "network.bonds.bond0.nameservers.search[0]", msg: "'-'"},
	{name: "bond macaddress too short", yaml: withBond("macaddress: aa:bb:cc\n"), path: "network.bonds.bond0.macaddress", msg: "six hex bytes"},
	{name: "bond macaddress multicast", yaml: withBond("macaddress: 01:00:5e:00:00:01\n"), path: "network.bonds.bond0.macaddress", msg: "multicast"},
	{name: "bond macaddress all zeros", yaml: withBond(`macaddress: "00:00:00:00:00:00"` + "\n"), path: "network.bonds.bond0.macaddress", msg: "all zeros"},

	// Match rules.
	{name: "match macaddress with dashes", yaml: withMatch("macaddress: aa-bb-cc-dd-ee-ff\n"), path: "network.ethernets.up.match.macaddress", msg: "separated by colons"},
	{name: "pci-id without a colon", yaml: withMatch("pci-id: \"80861572\"\n"), path: "network.ethernets.up.match.pci-id", msg: "not vendor:device"},
	{name: "pci-id with three hex digits", yaml: withMatch(`pci-id: "8086:157"` + "\n"), path: "network.ethernets.up.match.pci-id", msg: "not four hex digits"},
	{name: "pci-id with a non-hex digit", yaml: withMatch(`pci-id: ["8086:1572", "80g6:1572"]` + "\n"), path: "network.ethernets.up.match.pci-id[1]", msg: "neither a hex digit"},
	{name: "pci-id with three parts", yaml: withMatch(`pci-id: "8086:1572:0001"` + "\n"), path: "network.ethernets.up.match.pci-id", msg: "not vendor:device"},
	{name: "pci-id glob too long", yaml: withMatch(`pci-id: "15b3:1017*1"` + "\n"), path: "network.ethernets.up.match.pci-id", msg: "never match"},
	{name: "name glob does not compile", yaml: withMatch(`name: "ens[1"` + "\n"), path: "network.ethernets.up.match.name", msg: "not a valid glob"},
	{name: "driver glob with a slash", yaml: withMatch("driver: [ixgbe, net/i40e]\n"), path: "network.ethernets.up.match.driver[1]", msg: "'/'"},
	{name: "carrier false", yaml: withMatch("carrier: false\n"), path: "network.ethernets.up.match.carrier", msg: "only be true"},
	{name: "bootif false", yaml: withMatch("bootif: false\n"), path: "network.ethernets.up.match.bootif", msg: "only be true"},
	{name: "bootif not a boolean", yaml: withMatch("bootif: \"01-52-54-00-12-34-56\"\n"), path: "network.ethernets.up.match.bootif", msg: "expected a boolean"},
	{name: "empty match", yaml: withMatch("{}\n"), path: "network.ethernets.up.match", msg: "give at least one key"},

	// bondstrap options.
	{name: "link-timeout not a duration", yaml: withBond("") + "bondstrap: {link-timeout: soon}\n", path: "bondstrap.link-timeout", msg: "30s"},
	{name: "dhcp-timeout zero", yaml: withBond("") + "bondstrap: {dhcp-timeout: 0s}\n", path: "bondstrap.dhcp-timeout", msg: "above 0"},
	{name: "link-timeout bare number", yaml: withBond("") + "bondstrap: {link-timeout: 30}\n", path: "bondstrap.link-timeout", msg: "with a unit, such as 30s"},
	{name: "on-failure unknown", yaml: withBond("") + "bondstrap: {on-failure: reboot}\n", path: "bondstrap.on-failure", msg: "rollback, fallback-dhcp"},
	{name: "link-timeout above an hour", yaml: withBond("") + "bondstrap: {link-timeout: 2h}\n", path: "bondstrap.link-timeout", msg: "at most 1h0m0s"},
	{name: "deadline not a duration", yaml: withBond("") + "bondstrap: {deadline: soon}\n", path: "bondstrap.deadline", msg: "expected a duration such as 30s"},
	{name: "deadline bare number", yaml: withBond("") + "bondstrap: {deadline: 300}\n", path: "bondstrap.deadline", msg: "with a unit, such as 30s"},
	{name: "deadline zero", yaml: withBond("") + "bondstrap: {deadline: 0s}\n", path: "bondstrap.deadline", msg: "above 0"},
	{name: "deadline negative", yaml: withBond("") + "bondstrap: {deadline: -5m}\n", path: "bondstrap.deadline", msg: "above 0"},
	{name: "deadline above an hour", yaml: withBond("") + "bondstrap: {deadline: 61m}\n", path: "bondstrap.deadline", msg: "at most 1h0m0s"},
	{name: "link-timeout beyond the deadline", yaml: withBond("") + "bondstrap: {deadline: 1m, link-timeout: 90s, dhcp-timeout: 30s}\n", path: "bondstrap.link-timeout", msg: "is 1m30s, longer than the run's deadline 1m0s"},
	{name: "dhcp-timeout beyond the deadline", yaml: withBond("") + "bondstrap: {deadline: 2m, dhcp-timeout: 3m}\n", path: "bondstrap.dhcp-timeout", msg: "is 3m0s, longer than the run's deadline 2m0s"},
	{name: "default dhcp-timeout beyond a short deadline", yaml: withBond("") + "bondstrap: {deadline: 45s}\n", path: "bondstrap.deadline", msg: "is 45s, shorter than the default dhcp-timeout 1m0s"},

	// Bond names networkd's [Match] Name= would read as a pattern.
	{name: "bond name starting with !", yaml: renameBond(`"!bond0"`), path: `network.bonds["!bond0"]`, msg: `contains '!', which systemd-networkd reads as a pattern`},
	{name: "bond name with *", yaml: renameBond(`"e*"`), path: `network.bonds["e*"]`, msg: `contains '*', which systemd-networkd reads as a pattern`},
	{name: "bond name with ?", yaml: renameBond(`"b?nd"`), path: `network.bonds["b?nd"]`, msg: `contains '?', which systemd-networkd reads as a pattern`},
	{name: "bond name with brackets", yaml: renameBond(`"bond[0]"`), path: `network.bonds["bond[0]"]`, msg: `contains '[', which systemd-networkd reads as a pattern`},
	{name: "ethernets id without match with *", yaml: "network:\n  version: 2\n  ethernets: {\"eno*\": {}}\n  bonds: {bond0: {interfaces: [\"eno*\"]}}\n", path: `network.ethernets["eno*"]`, msg: `to select by pattern write match: {name: "eno*"}`},
	{name: "ethernets id without match with brackets", yaml: "network:\n  version: 2\n  ethernets: {\"eno[12]\": {}}\n  bonds: {bond0: {interfaces: [\"eno[12]\"]}}\n", path: `network.ethernets["eno[12]"]`, msg: "exact interface name"},
	{name: "parameter key that is not one path element", yaml: withParams(`"lacp rate": fast` + "\n"), path: `network.bonds.bond0.parameters["lacp rate"]`, msg: "unknown bond parameter"},
	{name: "parameter key in the wrong case", yaml: withParams("LACP-Rate: fast\n"), path: "network.bonds.bond0.parameters.LACP-Rate", msg: `did you mean "lacp-rate"`},

	// The kernel's rules across parameters, at the key they are about.
	{name: "up-delay without the MII monitor in active-backup", yaml: withParams("mode: active-backup\nup-delay: 200\n"), path: "network.bonds.bond0.parameters.up-delay", msg: "off by default in mode active-backup: set mii-monitor-interval"},
	{name: "down-delay in the default mode", yaml: withParams("down-delay: 200\n"), path: "network.bonds.bond0.parameters.down-delay", msg: "off by default in mode balance-rr"},
	{name: "down-delay with mii-monitor-interval 0", yaml: withParams("mode: 802.3ad\nmii-monitor-interval: 0\ndown-delay: 200\n"), path: "network.bonds.bond0.parameters.down-delay", msg: "mii-monitor-interval 0 turns off"},
	{name: "peer-notify-delay with the ARP monitor", yaml: withParams("mode: active-backup\narp-interval: 100\narp-ip-targets: [192.0.2.1]\npeer-notify-delay: 100\n"), path: "network.bonds.bond0.parameters.peer-notify-delay", msg: "arp-interval turns off"},
	{name: "arp-validate with the MII monitor", yaml: withParams("mode: active-backup\nmii-monitor-interval: 100\narp-validate: all\n"), path: "network.bonds.bond0.parameters.arp-validate", msg: "refuses together with mii-monitor-interval"},
	{name: "arp-validate filter with the MII monitor", yaml: withParams("mii-monitor-interval: 100\narp-validate: filter\n"), path: "network.bonds.bond0.parameters.arp-validate", msg: "is filter"},
	{name: "empty arp-ip-targets", yaml: withParams("arp-interval: 100\narp-ip-targets: []\n"), path: "network.bonds.bond0.parameters.arp-interval", msg: "needs arp-ip-targets"},
	{name: "fail-over-mac-policy in balance-rr", yaml: withParams("fail-over-mac-policy: active\n"), path: "network.bonds.bond0.parameters.fail-over-mac-policy", msg: "cannot persist"},
	{name: "fail-over-mac-policy in 802.3ad", yaml: withParams("mode: 802.3ad\nfail-over-mac-policy: follow\n"), path: "network.bonds.bond0.parameters.fail-over-mac-policy", msg: "only in mode active-backup"},
	{name: "primary in 802.3ad", yaml: withParams("mode: 802.3ad\nprimary: eno1\n"), path: "network.bonds.bond0.parameters.primary", msg: "not supported in mode 802.3ad"},
	{name: "primary in balance-xor", yaml: withParams("mode: balance-xor\nprimary: eno1\n"), path: "network.bonds.bond0.parameters.primary", msg: "not supported in mode balance-xor"},
	{name: "primary in broadcast", yaml: withParams("mode: broadcast\nprimary: eno1\n"), path: "network.bonds.bond0.parameters.primary", msg: "not supported in mode broadcast"},
	{name: "ad-actor-system in active-backup", yaml: withParams("mode: active-backup\nad-actor-system: 02:00:00:00:00:01\n"), path: "parameters.ad-actor-system", msg: "not supported in mode active-backup: the kernel accepts it only in 802.3ad"},
	{name: "ad-actor-system-priority in balance-xor", yaml: withParams("mode: balance-xor\nad-actor-system-priority: 10\n"), path: "parameters.ad-actor-system-priority", msg: "only in 802.3ad"},
	{name: "ad-user-port-key in broadcast", yaml: withParams("mode: broadcast\nad-user-port-key: 1\n"), path: "parameters.ad-user-port-key", msg: "only in 802.3ad"},
	{name: "lacp-active in the default mode", yaml: withParams("lacp-active: false\n"), path: "parameters.lacp-active", msg: "not supported in mode balance-rr"},
	{name: "coupled-control is not supported", yaml: withParams("mode: 802.3ad\ncoupled-control: false\n"), path: "parameters.coupled-control", msg: "nothing on Debian 12 can persist it"},
	{name: "tlb-dynamic-lb in 802.3ad", yaml: withParams("mode: 802.3ad\ntlb-dynamic-lb: false\n"), path: "parameters.tlb-dynamic-lb", msg: "only in balance-tlb, balance-alb"},
	{name: "arp-missed-max in balance-alb", yaml: withParams("mode: balance-alb\narp-missed-max: 3\n"), path: "parameters.arp-missed-max", msg: "not supported in mode balance-alb"},

	// Values of the parameters netplan does not know.
	{name: "arp-missed-max 0", yaml: withParams("arp-missed-max: 0\n"), path: "parameters.arp-missed-max", msg: "1-255"},
	{name: "ad-actor-system-priority 0", yaml: withParams("mode: 802.3ad\nad-actor-system-priority: 0\n"), path: "parameters.ad-actor-system-priority", msg: "1-65535"},
	{name: "ad-user-port-key 1024", yaml: withParams("mode: 802.3ad\nad-user-port-key: 1024\n"), path: "parameters.ad-user-port-key", msg: "0-1023"},
	{name: "ad-actor-system multicast", yaml: withParams("mode: 802.3ad\nad-actor-system: 01:80:c2:00:00:02\n"), path: "parameters.ad-actor-system", msg: "multicast"},
	{name: "ad-actor-system all zeros", yaml: withParams("mode: 802.3ad\nad-actor-system: \"00:00:00:00:00:00\"\n"), path: "parameters.ad-actor-system", msg: "all zeros"},
	{name: "peer-notify-delay above 300s", yaml: withParams("mode: 802.3ad\npeer-notify-delay: 301s\n"), path: "parameters.peer-notify-delay", msg: "expected 0-300000ms"},
	{name: "ns-ip6-target loopback", yaml: withParams("ns-ip6-targets: [\"::1\"]\n"), path: "parameters.ns-ip6-targets", msg: "only unicast NS targets"},
	{name: "ns-ip6-target IPv4", yaml: withParams("ns-ip6-targets: [192.0.2.1]\n"), path: "parameters.ns-ip6-targets", msg: "expected an IPv6 address"},
	{name: "tlb-dynamic-lb quoted", yaml: withParams("mode: balance-tlb\ntlb-dynamic-lb: \"false\"\n"), path: "parameters.tlb-dynamic-lb", msg: "expected a boolean"},
	{name: "use-carrier as a number", yaml: withParams("use-carrier: 1\n"), path: "parameters.use-carrier", msg: "expected a boolean"},
}

// renameBond is withBond("") with bond0 named name (as YAML writes it).
func renameBond(name string) string {
	return strings.Replace(withBond(""), "bond0:", name+":", 1)
}

// goodParameters are bond0 parameters (for withParams) on the edge of the
// rules: each must validate.
var goodParameters = []string{
	// The kernel forces the MII monitor on in 802.3ad, balance-tlb and
	// balance-alb, so the delays need no mii-monitor-interval there.
	"mode: 802.3ad\nup-delay: 200\ndown-delay: 200\npeer-notify-delay: 200\n",
	"mode: balance-alb\nup-delay: 100\n",
	"mode: balance-tlb\ndown-delay: 100\n",
	"mode: active-backup\nmii-monitor-interval: 100\nup-delay: 200\ndown-delay: 200\npeer-notify-delay: 200\n",
	// NS targets alone feed the ARP monitor.
	"mode: balance-xor\narp-interval: 100\nns-ip6-targets: [\"2001:db8::1\"]\n",
	// The kernel takes NS targets in every mode, as it does ARP targets.
	"mode: 802.3ad\nns-ip6-targets: [\"2001:db8::1\"]\narp-ip-targets: [192.0.2.1]\n",
	// arp-validate belongs to the ARP monitor; none is no validation.
	"mode: active-backup\narp-interval: 100\narp-ip-targets: [192.0.2.1]\narp-validate: filter\n",
	"mode: active-backup\nmii-monitor-interval: 100\narp-validate: none\n",
	"mode: active-backup\nmii-monitor-interval: 0\narp-interval: 100\narp-ip-targets: [192.0.2.1]\n",
	"mode: 2\narp-interval: 1s\narp-ip-targets: 192.0.2.1\n",
	// What networkd cannot send, a udev rule persists.
	"mode: active-backup\nfail-over-mac-policy: follow\n",
	"mode: 802.3ad\nmii-monitor-interval: 0\n",
	"mode: active-backup\nad-select: count\n",
	"mode: balance-tlb\nlearn-packet-interval: 3\n",
	"mode: balance-xor\ntransmit-hash-policy: vlan+srcmac\narp-missed-max: 9\n",
	"mode: 802.3ad\nlacp-active: false\nad-actor-system: 02:00:00:00:00:01\n",
	"use-carrier: false\nmin-links: 2\n",
	"mode: active-backup\nprimary: eno2\n",
	"mode: balance-alb\nprimary: eno1\ntlb-dynamic-lb: true\n",
}

func TestGoodParameters(t *testing.T) {
	for _, params := range goodParameters {
		cfg, err := Parse("good.yaml", []byte(withParams(params)))
		if err != nil {
			t.Errorf("%v\n%s", err, params)
			continue
		}
		checkBondSettings(t, cfg)
	}
}

func TestGoodOptions(t *testing.T) {
	for _, tc := range []struct {
		options              string
		link, dhcp, deadline time.Duration
	}{
		{"{}", DefaultLinkTimeout, DefaultDHCPTimeout, DefaultDeadline},
		{"{deadline: 10m}", DefaultLinkTimeout, DefaultDHCPTimeout, 10 * time.Minute},
		{"{deadline: 1h, link-timeout: 1h, dhcp-timeout: 1h}", time.Hour, time.Hour, time.Hour},
		// Each wait fits in the deadline; together they need not.
		{"{deadline: 2m, link-timeout: 2m, dhcp-timeout: 2m}", 2 * time.Minute, 2 * time.Minute, 2 * time.Minute},
		{"{deadline: 90s, link-timeout: 1500ms, dhcp-timeout: 1m}", 1500 * time.Millisecond, time.Minute, 90 * time.Second},
	} {
		cfg, err := Parse("good.yaml", []byte(withBond("")+"bondstrap: "+tc.options+"\n"))
		if err != nil {
			t.Errorf("%s: %v", tc.options, err)
			continue
		}
		if cfg.LinkTimeout() != tc.link || cfg.DHCPTimeout() != tc.dhcp || cfg.Deadline() != tc.deadline {
			t.Errorf("%s: link %v, dhcp %v, deadline %v; want %v, %v, %v", tc.options,
				cfg.LinkTimeout(), cfg.DHCPTimeout(), cfg.Deadline(), tc.link, tc.dhcp, tc.deadline)
		}
	}
}

// nBonds is a config with n bonds, each over an interface of its own.
func nBonds(n int) string {
	var b strings.Builder
	b.WriteString("network:\n  version: 2\n  ethernets:\n")
	for i := range n {
		fmt.Fprintf(&b, "    eth%d: {}\n", i)
	}
	b.WriteString("  bonds:\n")
	for i := range n {
		fmt.Fprintf(&b, "    bond%d: {interfaces: [eth%d]}\n", i, i)
	}
	return b.String()
}

func TestMaxBonds(t *testing.T) {
	cfg, err := Parse("max.yaml", []byte(nBonds(MaxBonds)))
	if err != nil {
		t.Fatalf("%d bonds: %v", MaxBonds, err)
	}
	if len(cfg.Network.Bonds) != MaxBonds {
		t.Fatalf("%d bonds parsed", len(cfg.Network.Bonds))
	}
	_, err = Parse("max.yaml", []byte(nBonds(MaxBonds+1)))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Path != "network.bonds" ||
		!strings.Contains(list[0].Msg, fmt.Sprintf("has %d bonds: bondstrap takes at most %d", MaxBonds+1, MaxBonds)) {
		t.Errorf("%d bonds: error %v, want one at network.bonds", MaxBonds+1, err)
	}
}

// paramYAML is a valid value of every bond parameter, as YAML writes it
// inline.
var paramYAML = map[string]string{
	"lacp-rate": "fast", "mii-monitor-interval": "100", "min-links": "1", "transmit-hash-policy": "layer2+3",
	"ad-select": "count", "all-members-active": "true", "arp-interval": "100", "arp-ip-targets": "[192.0.2.1]",
	"arp-validate": "active", "arp-all-targets": "all", "up-delay": "100", "down-delay": "100",
	"fail-over-mac-policy": "active", "gratuitous-arp": "2", "packets-per-member": "2",
	"primary-reselect-policy": "better", "resend-igmp": "2", "learn-packet-interval": "2",
	"peer-notify-delay": "100", "arp-missed-max": "3", "ns-ip6-targets": `["2001:db8::1"]`,
	"ad-actor-system-priority": "10", "ad-user-port-key": "10", "ad-actor-system": "02:00:00:00:00:01",
	"tlb-dynamic-lb": "false", "lacp-active": "false", "use-carrier": "false",
}

// Every parameter the kernel takes only in some modes is refused in the
// others, at its key, and never for its mode where the kernel takes it.
func TestModeRestrictionsAtKeyPath(t *testing.T) {
	for _, p := range spec.Params {
		value, ok := paramYAML[p.Key]
		if !ok {
			t.Errorf("paramYAML has no value of %s", p.Key)
			continue
		}
		for _, m := range spec.Modes {
			yaml := withParams("mode: " + m.Name + "\n" + p.Key + ": " + value + "\n")
			_, err := Parse("modes.yaml", []byte(yaml))
			var list ErrorList
			if err != nil && !errors.As(err, &list) {
				t.Fatalf("%v is not an ErrorList", err)
			}
			refused := false
			for _, e := range list {
				if strings.Contains(e.Msg, "not supported in mode "+m.Name) {
					if e.Path != "network.bonds.bond0.parameters."+p.Key {
						t.Errorf("%s in %s: refused at %s", p.Key, m.Name, e.Path)
					}
					refused = true
				}
			}
			if refused == p.AcceptedIn(m.Name) {
				t.Errorf("%s in %s: refused %t, but the kernel accepts it there: %t\n%v", p.Key, m.Name, refused, p.AcceptedIn(m.Name), err)
			}
		}
	}
}

func TestBadConfigs(t *testing.T) {
	const file = "testdata/bad.yaml"
	seen := make(map[string]bool)
	for _, tc := range badConfigs {
		if seen[tc.name] {
			t.Fatalf("two cases are named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(file, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("parsed without error: %+v\n%s", cfg, tc.yaml)
			}
			if cfg != nil {
				t.Errorf("returned a config along with the error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty ErrorList", err, err)
			}
			found := false
			for _, e := range list {
				if !strings.HasPrefix(e.Error(), file+":") {
					t.Errorf("error %q does not start with the file name", e)
				}
				if strings.Contains(e.Path, tc.path) && strings.Contains(e.Msg, tc.msg) &&
					(tc.line == 0 || e.Line == tc.line) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error at path %q (line %d) saying %q; got:\n%v\n--- config:\n%s", tc.path, tc.line, tc.msg, err, tc.yaml)
			}
		})
	}
}

func TestHelpersBuildValidConfigs(t *testing.T) {
	// The bad corpus is built from these; they must be good on their own, or
	// a case could pass for the wrong reason.
	for name, yaml := range map[string]string{
		"withBond":   withBond(""),
		"withParams": withParams("mode: active-backup\n"),
		"withMatch":  withMatch("driver: ixgbe\n"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("helper.yaml", []byte(yaml)); err != nil {
				t.Errorf("%v\n%s", err, yaml)
			}
		})
	}
}

func TestAllErrorsAreReported(t *testing.T) {
	// Structural errors (keys, types) are all reported together; so are the
	// semantic ones, once the structure is right.
	structural := withBond("mtu: big\nfoo: 1\nparameters: {mode: [1], bar: 2}\n")
	_, err := Parse("s.yaml", []byte(structural))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("want 4 errors, got %v", err)
	}
	semantic := withBond("mtu: 1\nmacaddress: zz\nparameters: {mode: active-backup, lacp-rate: fast, primary: x}\n")
	_, err = Parse("v.yaml", []byte(semantic))
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("want 4 errors, got %v", err)
	}
}

func TestPCIIDProblem(t *testing.T) {
	for id, ok := range map[string]bool{
		"8086:1572": true, "15B3:1017": true, "15b3:*": true, "8086:15??": true, "*:*": true,
		"10de:2*": true, "8086:1572:1": false, "8086": false, ":1572": false, "8086:": false,
		"8086:15721": false, "xyzw:1572": false, "8086:15[7]2": false,
	} {
		if got := pciIDProblem(id) == ""; got != ok {
			t.Errorf("pciIDProblem(%q) = %q, want valid=%t", id, pciIDProblem(id), ok)
		}
	}
}
