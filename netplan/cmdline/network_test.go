package cmdline

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

func mac(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	hw, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

// networkConfig parses line and converts its dracut options.
func networkConfig(t testing.TB, line string) (*netplan.Config, []string, error) {
	t.Helper()
	b, err := Parse(line)
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	return b.NetworkConfig()
}

// yamlConfig parses a YAML config as the command line's would be: the
// same File.
func yamlConfig(t testing.TB, yaml string) *netplan.Config {
	t.Helper()
	cfg, err := netplan.Parse(File, []byte(yaml))
	if err != nil {
		t.Fatalf("the wanted YAML does not parse: %v\n%s", err, yaml)
	}
	return cfg
}

// Every form of every option, each against the YAML it means.
func TestNetworkConfig(t *testing.T) {
	const two = "network:\n  version: 2\n  ethernets: {eth0: {}, eth1: {}}\n"
	for _, tc := range []struct {
		name, line, yaml string
		warnings         []string
	}{
		{"dracut's default bond", "bond", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"bond= alone", "bond=", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"a name alone", "bond=bond1", two + "  bonds: {bond1: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"members", "bond=bond0:eno1,eno2,eno3",
			"network:\n  version: 2\n  ethernets: {eno1: {}, eno2: {}, eno3: {}}\n  bonds: {bond0: {interfaces: [eno1, eno2, eno3], dhcp4: true}}\n", nil},
		{"every field", "bond=bond0:eth0,eth1:mode=802.3ad,lacp_rate=fast,xmit_hash_policy=layer3+4,miimon=100,updelay=200,downdelay=200,min_links=1,ad_select=bandwidth:9000",
			two + `  bonds:
    bond0:
      interfaces: [eth0, eth1]
      parameters: {mode: 802.3ad, lacp-rate: fast, transmit-hash-policy: layer3+4, mii-monitor-interval: 100,
                   up-delay: 200, down-delay: 200, min-links: 1, ad-select: bandwidth}
      mtu: 9000
      dhcp4: true
`, nil},
		{"numbers for the names, as sysfs takes them", "bond=bond0:eth0,eth1:mode=4,lacp_rate=1,xmit_hash_policy=2,all_slaves_active=1,use_carrier=0",
			two + `  bonds:
    bond0:
      interfaces: [eth0, eth1]
      parameters: {mode: 802.3ad, lacp-rate: fast, transmit-hash-policy: layer2+3, all-members-active: true, use-carrier: false}
      dhcp4: true
`, nil},
		{"the ARP monitor, targets separated by semicolons",
			"bond=bond0:eth0,eth1:mode=active-backup,arp_interval=200,arp_ip_target=192.0.2.1;192.0.2.2,arp_validate=all,arp_all_targets=all,primary=eth1,primary_reselect=failure,fail_over_mac=active,num_grat_arp=3",
			two + `  bonds:
    bond0:
      interfaces: [eth0, eth1]
      parameters: {mode: active-backup, arp-interval: 200, arp-ip-targets: [192.0.2.1, 192.0.2.2], arp-validate: all,
                   arp-all-targets: all, primary: eth1, primary-reselect-policy: failure, fail-over-mac-policy: active,
                   gratuitous-arp: 3}
      dhcp4: true
`, nil},
		{"balance-alb options", "bond=bond0:eth0,eth1:mode=balance-alb,lp_interval=5,tlb_dynamic_lb=0,resend_igmp=2",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], parameters: {mode: balance-alb, learn-packet-interval: 5, tlb-dynamic-lb: false, resend-igmp: 2}, dhcp4: true}}\n", nil},
		{"balance-rr options", "bond=bond0:eth0,eth1:mode=balance-rr,packets_per_slave=4,num_unsol_na=2",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], parameters: {mode: balance-rr, packets-per-member: 4, gratuitous-arp: 2}, dhcp4: true}}\n", nil},
		{"LACP system options", "bond=bond0:eth0,eth1:mode=802.3ad,ad_actor_sys_prio=100,ad_user_port_key=3,lacp_active=0",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], parameters: {mode: 802.3ad, ad-actor-system-priority: 100, ad-user-port-key: 3, lacp-active: false}, dhcp4: true}}\n", nil},
		{"an empty MTU field", "bond=bond0:eth0,eth1:mode=active-backup:", two + "  bonds: {bond0: {interfaces: [eth0, eth1], parameters: {mode: active-backup}, dhcp4: true}}\n", nil},
		{"no options, an MTU", "bond=bond0:eth0,eth1::9000", two + "  bonds: {bond0: {interfaces: [eth0, eth1], mtu: 9000, dhcp4: true}}\n", nil},
		{"the PXE NIC as a member and primary", "BOOTIF=01-52-54-00-12-34-56 bond=bond0:bootif,eth1:mode=active-backup,primary=bootif,miimon=100", `
network:
  version: 2
  ethernets:
    bootif: {match: {macaddress: "52:54:00:12:34:56"}}
    eth1: {}
  bonds:
    bond0: {interfaces: [bootif, eth1], parameters: {mode: active-backup, primary: bootif, mii-monitor-interval: 100}, dhcp4: true}
`, nil},
		{"members by MAC; BOOTIF's is bootif", "BOOTIF=01-52-54-00-12-34-56 bond=bond0:52-54-00-12-34-56,52-54-00-12-34-5A", `
network:
  version: 2
  ethernets:
    bootif: {match: {macaddress: "52:54:00:12:34:56"}}
    52-54-00-12-34-5a: {match: {macaddress: "52:54:00:12:34:5a"}}
  bonds:
    bond0: {interfaces: [bootif, 52-54-00-12-34-5a], dhcp4: true}
`, nil},

		// VLANs: the id is in the name.
		{"VLAN <link>.<id>", "bond=bond0:eth0,eth1 vlan=bond0.100:bond0",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1]}}\n  vlans: {bond0.100: {id: 100, link: bond0, dhcp4: true}}\n", nil},
		{"VLAN <link>.<padded id>", "bond=bond0:eth0,eth1 vlan=bond0.0100:bond0",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1]}}\n  vlans: {bond0.0100: {id: 100, link: bond0, dhcp4: true}}\n", nil},
		{"VLAN vlan<padded id>", "bond=bond0:eth0,eth1 vlan=vlan0100:bond0",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1]}}\n  vlans: {vlan0100: {id: 100, link: bond0, dhcp4: true}}\n", nil},
		{"VLAN vlan<id>", "bond=bond0:eth0,eth1 vlan=vlan100:bond0",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1]}}\n  vlans: {vlan100: {id: 100, link: bond0, dhcp4: true}}\n", nil},
		{"VLAN on a link whose name has a dot: the id follows the last", "bond=bond0:eth0,eth1 bridge=br.lan:bond0 vlan=br.lan.20:br.lan",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1]}}\n  bridges: {br.lan: {interfaces: [bond0], parameters: {stp: false, forward-delay: 0}}}\n" +
				"  vlans: {br.lan.20: {id: 20, link: br.lan, dhcp4: true}}\n", nil},
		{"VLANs on a bond and on a NIC", "bond=bond0:eth0,eth1 vlan=vlan5:bond0 vlan=eth2.7:eth2 ip=vlan5:dhcp ip=eth2.7:dhcp6", `
network:
  version: 2
  ethernets: {eth0: {}, eth1: {}, eth2: {}}
  bonds: {bond0: {interfaces: [eth0, eth1]}}
  vlans:
    vlan5: {id: 5, link: bond0, dhcp4: true}
    eth2.7: {id: 7, link: eth2, dhcp6: true}
`, nil},

		// Bridges, as dracut makes them.
		{"bridge alone is br0 over eth0", "bond=bond0:eth1,eth2 bridge", `
network:
  version: 2
  ethernets: {eth0: {}, eth1: {}, eth2: {}}
  bonds: {bond0: {interfaces: [eth1, eth2], dhcp4: true}}
  bridges: {br0: {interfaces: [eth0], parameters: {stp: false, forward-delay: 0}, dhcp4: true}}
`, nil},
		{"a KVM host: bridge on a VLAN on a bond", "bond=bond0:eth0,eth1:mode=802.3ad vlan=bond0.20:bond0 bridge=br20:bond0.20 ip=br20:dhcp nameserver=192.0.2.53", two + `
  bonds: {bond0: {interfaces: [eth0, eth1], parameters: {mode: 802.3ad}}}
  vlans: {bond0.20: {id: 20, link: bond0}}
  bridges: {br20: {interfaces: [bond0.20], parameters: {stp: false, forward-delay: 0}, dhcp4: true, nameservers: {addresses: [192.0.2.53]}}}
`, nil},
		{"a bridge defined after the VLAN on it", "bond=bond0:eth0,eth1 vlan=br0.5:br0 bridge=br0:bond0 ip=br0.5:dhcp", two + `
  bonds: {bond0: {interfaces: [eth0, eth1]}}
  bridges: {br0: {interfaces: [bond0], parameters: {stp: false, forward-delay: 0}}}
  vlans: {br0.5: {id: 5, link: br0, dhcp4: true}}
`, nil},

		// ip= in its forms.
		{"ip=dhcp: every interface on top", "bond=bond0:eth0,eth1 bond=bond1:eth2,eth3 ip=dhcp", `
network:
  version: 2
  ethernets: {eth0: {}, eth1: {}, eth2: {}, eth3: {}}
  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}, bond1: {interfaces: [eth2, eth3], dhcp4: true}}
`, nil},
		{"ip=on", "bond=bond0:eth0,eth1 ip=on", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"ip=any", "bond=bond0:eth0,eth1 ip=any", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"ip=dhcp6", "bond=bond0:eth0,eth1 ip=dhcp6", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp6: true}}\n", nil},
		{"ip=auto6", "bond=bond0:eth0,eth1 ip=auto6", two + "  bonds: {bond0: {interfaces: [eth0, eth1], accept-ra: true}}\n", nil},
		{"ip=:dhcp names no interface", "bond=bond0:eth0,eth1 ip=:dhcp", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"ip=<if>:dhcp", "bond=bond0:eth0,eth1 ip=bond0:dhcp", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"ip=<if>:dhcp6", "bond=bond0:eth0,eth1 ip=bond0:dhcp6", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp6: true}}\n", nil},
		{"ip=<if>:dhcp,dhcp6", "bond=bond0:eth0,eth1 ip=bond0:dhcp,dhcp6", two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true, dhcp6: true}}\n", nil},
		{"ip=<if>:dhcp:<mtu>:<mac>", "bond=bond0:eth0,eth1 ip=bond0:dhcp:9000:02:00:00:00:00:01",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true, mtu: 9000, macaddress: \"02:00:00:00:00:01\"}}\n", nil},
		{"the same MTU in bond= and ip=", "bond=bond0:eth0,eth1::9000 ip=bond0:dhcp:9000",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true, mtu: 9000}}\n", nil},
		{"ip=<if>:dhcp::<mac>", "bond=bond0:eth0,eth1 ip=bond0:dhcp::02:00:00:00:00:01",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true, macaddress: \"02:00:00:00:00:01\"}}\n", nil},
		{"static IPv4, dotted netmask, MTU", "bond=bond0:eth0,eth1 ip=192.0.2.10::192.0.2.1:255.255.255.0:node1:bond0:none:9000",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], addresses: [192.0.2.10/24], routes: [{to: default, via: 192.0.2.1}], mtu: 9000}}\n",
			[]string{"ip=192.0.2.10::192.0.2.1:255.255.255.0:node1:bond0:none:9000: the hostname node1 is not set: bondstrap configures the network only"}},
		{"static IPv4, prefix length, DNS servers", "bond=bond0:eth0,eth1 ip=192.0.2.10::192.0.2.1:24::bond0:off:192.0.2.53:192.0.2.54",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], addresses: [192.0.2.10/24], routes: [{to: default, via: 192.0.2.1}], nameservers: {addresses: [192.0.2.53, 192.0.2.54]}}}\n", nil},
		{"static IPv4 without a gateway, MAC with its colons", "bond=bond0:eth0,eth1 ip=192.0.2.10:::255.255.255.128::bond0:none::02:00:00:00:00:01",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], addresses: [192.0.2.10/25], macaddress: \"02:00:00:00:00:01\"}}\n", nil},
		{"static IPv6 in brackets", "bond=bond0:eth0,eth1 ip=[2001:db8::10]::[2001:db8::1]:64::bond0:none:[2001:db8::53]",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], addresses: [\"2001:db8::10/64\"], routes: [{to: default, via: \"2001:db8::1\"}], nameservers: {addresses: [\"2001:db8::53\"]}}}\n", nil},
		{"static without an interface, one on top", "bond=bond0:eth0,eth1 ip=192.0.2.10::192.0.2.1:24:::none",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], addresses: [192.0.2.10/24], routes: [{to: default, via: 192.0.2.1}]}}\n", nil},
		{"the long form with DHCP and an empty method", "bond=bond0:eth0,eth1 ip=:::::bond0:",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n", nil},
		{"dual stack: a static IPv4 and DHCPv6 on a VLAN, a management NIC", "bond=bond0:eth0,eth1 vlan=bond0.10:bond0 ip=bond0.10:dhcp6 ip=eth2:dhcp nameserver=192.0.2.53 nameserver=[2001:db8::53]", `
network:
  version: 2
  ethernets: {eth0: {}, eth1: {}, eth2: {dhcp4: true, nameservers: {addresses: [192.0.2.53, "2001:db8::53"]}}}
  bonds: {bond0: {interfaces: [eth0, eth1]}}
  vlans: {bond0.10: {id: 10, link: bond0, dhcp6: true, nameservers: {addresses: [192.0.2.53, "2001:db8::53"]}}}
`, nil},
		{"ip= for the PXE NIC beside a bond", "BOOTIF=01-52-54-00-12-34-56 bond=bond0:eth0,eth1 ip=bond0:dhcp ip=bootif:dhcp", `
network:
  version: 2
  ethernets:
    eth0: {}
    eth1: {}
    bootif: {match: {macaddress: "52:54:00:12:34:56"}, dhcp4: true}
  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}
`, nil},
		{"nameservers without ip=", "bond=bond0:eth0,eth1 nameserver=192.0.2.53",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true, nameservers: {addresses: [192.0.2.53]}}}\n", nil},
		{"rd.neednet, BOOTIF and other keys change nothing", "rd.neednet=1 BOOTIF=01-52-54-00-12-34-56 quiet bond=bond0:eth0,eth1 ifname=bootnet:52:54:00:12:34:56",
			two + "  bonds: {bond0: {interfaces: [eth0, eth1], dhcp4: true}}\n",
			[]string{"ifname=bootnet:52:54:00:12:34:56: ignored: bondstrap does not rename NICs from the command line; name bond members by their kernel names, bootif or a MAC (aa-bb-cc-dd-ee-ff)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings, err := networkConfig(t, tc.line)
			if err != nil {
				t.Fatalf("%s:\n%v", tc.line, err)
			}
			want := yamlConfig(t, tc.yaml)
			b, _ := Parse(tc.line)
			want.SetBootIF(b.BootIF)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("%s:\n got %s\nwant %s", tc.line, g, w)
			}
			if !slices.Equal(warnings, tc.warnings) {
				t.Errorf("warnings %q, want %q", warnings, tc.warnings)
			}
		})
	}
}

// Malformed options: every error names the option, as written, and says
// what is wrong, whether the converter or the validator found it.
func TestNetworkConfigErrors(t *testing.T) {
	const bond = "bond=bond0:eth0,eth1"
	for _, tc := range []struct{ line, path, msg string }{
		{"ip=dhcp", "ip=dhcp", "no bond=: bondstrap builds bonds"},
		{"nameserver=192.0.2.53", "nameserver=192.0.2.53", "no bond="},
		{"bond=bond0:eth0:mode=1:9000:x", "bond=bond0:eth0:mode=1:9000:x", "has 5 fields"},
		{"bond=bond0:", "bond=bond0:", "has no members"},
		{"bond=bond0::mode=1", "bond=bond0::mode=1", "has no members"},
		{"bond=bond0:eth0,eth1:mode", "bond=bond0:eth0,eth1:mode", "mode: expected a bonding option as key=value"},
		{"bond=bond0:eth0,eth1:mode=", "bond=bond0:eth0,eth1:mode=", "expected a bonding option as key=value"},
		{"bond=bond0:eth0,eth1:mode=lacp", "bond=bond0:eth0,eth1:mode=lacp", `mode=lacp: unknown bond mode "lacp"`},
		{"bond=bond0:eth0,eth1:mode=7", "bond=bond0:eth0,eth1:mode=7", "unknown bond mode"},
		{"bond=bond0:eth0,eth1:miimon=100ms", "bond=bond0:eth0,eth1:miimon=100ms", "miimon=100ms: is \"100ms\": the kernel takes a whole number of milliseconds"},
		{"bond=bond0:eth0,eth1:mii-monitor-interval=100", "bond=bond0:eth0,eth1:mii-monitor-interval=100", "netplan's name; bond= takes the bonding driver's: miimon"},
		{"bond=bond0:eth0,eth1:miimonn=100", "bond=bond0:eth0,eth1:miimonn=100", `unknown bonding option "miimonn": expected one of mode, primary, lacp_rate`},
		{"bond=bond0:eth0,eth1:active_slave=eth0", "bond=bond0:eth0,eth1:active_slave=eth0", "active_slave is not supported by bondstrap: bondstrap does not choose the active port"},
		{"bond=bond0:eth0,eth1:max_bonds=2", "bond=bond0:eth0,eth1:max_bonds=2", "a parameter of the bonding module"},
		{"bond=bond0:eth0,eth1:miimon=100,miimon=200", "bond=bond0:eth0,eth1:miimon=100,miimon=200", "miimon=200: miimon is already given by miimon=100"},
		{"bond=bond0:eth0,eth1:num_grat_arp=1,num_unsol_na=2", "bond=bond0:eth0,eth1:num_grat_arp=1,num_unsol_na=2", "is already given by num_grat_arp=1"},
		{"bond=bond0:eth0,eth1:lacp_rate=3", "bond=bond0:eth0,eth1:lacp_rate=3", "no value of lacp_rate has that number"},
		{"bond=bond0:eth0,eth1:arp_ip_target=192.0.2.1;x", "bond=bond0:eth0,eth1:arp_ip_target=192.0.2.1;x", `[1]: "x" is not an IP address`},
		{"bond=bond0:eth0,eth1:mode=1,use_carrier=yes", "bond=bond0:eth0,eth1:mode=1,use_carrier=yes", "expected 0 or 1"},
		{"bond=bond0:eth0,eth1::jumbo", "bond=bond0:eth0,eth1::jumbo", `the MTU "jumbo" is not a number`},
		{"bond=bond0:eth0,eth1:mode=1:20", "bond=bond0:eth0,eth1:mode=1:20", "mtu 20: is 20: expected 68-65535 (netplan key network.bonds.bond0.mtu)"},
		// What only the validator knows, named by the option.
		{"bond=bond0:eth0,eth1:mode=802.3ad,lacp_rate=fast,arp_interval=100,arp_ip_target=192.0.2.1",
			"bond=bond0:eth0,eth1:mode=802.3ad,lacp_rate=fast,arp_interval=100,arp_ip_target=192.0.2.1",
			"arp_interval=100: is not supported in mode 802.3ad: the kernel accepts it only in balance-rr, active-backup, balance-xor, broadcast (netplan key network.bonds.bond0.parameters.arp-interval)"},
		{"bond=bond0:eth0,eth1:mode=active-backup,lacp_rate=fast", "bond=bond0:eth0,eth1:mode=active-backup,lacp_rate=fast", "lacp_rate=fast: is not supported in mode active-backup"},
		{"bond=bond0:eth0,eth1:updelay=200", "bond=bond0:eth0,eth1:updelay=200", "updelay=200: needs the MII monitor"},
		{"bond=bond0:eth0,eth1:mode=1,miimon=100,updelay=150", "bond=bond0:eth0,eth1:mode=1,miimon=100,updelay=150", "not a multiple of the MII monitor interval 100ms"},
		{"bond=bond0:eth0,eth1:mode=1,primary=eth2", "bond=bond0:eth0,eth1:mode=1,primary=eth2", `primary=eth2: "eth2" is not one of this bond's interfaces`},
		{"bond=bond0:eth0,eth1:mode=802.3ad,primary=eth1", "bond=bond0:eth0,eth1:mode=802.3ad,primary=eth1", "primary=eth1: is not supported in mode 802.3ad"},
		{"bond=bond-with-a-long-name:eth0", "bond=bond-with-a-long-name:eth0", `the bond name "bond-with-a-long-name" is 21 bytes long`},
		{"bond=bond0:eth*", "bond=bond0:eth*", `an ethernets id without match is the exact interface name, and "eth*" contains '*'`},
		{"bond=bond0:eth0,eth0", "bond=bond0:eth0,eth0", `"eth0" is listed twice`},
		{"bond=bond0:eth0 bond=bond1:eth0", "bond=bond1:eth0", "already an interface of bond bond0"},
		{"bond=bond0:eth0 bond=bond0:eth1", "bond=bond0:eth1", "bond0 is also defined by bond=bond0:eth0"},
		{"bond=vlan5:eth0 vlan=vlan5:eth1", "vlan=vlan5:eth1", "vlan5 is also defined by bond=vlan5:eth0"},
		{"bond=bond0:eth0,eth1 vlan=vlan5:bond0 bond=bond1:vlan5,eth2", "bond=bond1:vlan5,eth2", "the member vlan5 is a vlan: a bond's members are NICs"},
		{"bond=bond0:bootif,eth1", "bond=bond0:bootif,eth1", "there is no BOOTIF="},
		{"BOOTIF=01-52-54-00-12-34-56 rd.bootif=0 bond=bond0:bootif,eth1", "bond=bond0:bootif,eth1", "rd.bootif=0 turns it off"},
		{bond + " vlan", "vlan", "expected vlan=<name>:<link>"},
		{bond + " vlan=vlan5", "vlan=vlan5", "expected vlan=<name>:<link>"},
		{bond + " vlan=uplink:bond0", "vlan=uplink:bond0", `the VLAN id must be in the name "uplink"`},
		{bond + " vlan=bond0.x:bond0", "vlan=bond0.x:bond0", "the VLAN id must be in the name"},
		{bond + " vlan=vlan5000:bond0", "vlan=vlan5000:bond0", "is 5000: expected a VLAN id 0-4094"},
		{bond + " vlan=eth0.5:eth0", "vlan=eth0.5:eth0", `"eth0" is a member of bond bond0: put the VLAN on the bond`},
		{bond + " vlan=bond0.5:bond0 vlan=vlan5:bond0", "vlan=vlan5:bond0", "5 on bond0 is also VLAN bond0.5"},
		{bond + " bridge=br0", "bridge=br0", "expected bridge=<name>:<ports>"},
		{bond + " bridge=br0:", "bridge=br0:", "expected bridge=<name>:<ports>"},
		{bond + " bridge=br0:eth0", "bridge=br0:eth0", `"eth0" is a member of bond bond0: make the bond the bridge's port`},
		{bond + " ip=bond0", "ip=bond0", `unknown method "bond0"`},
		{bond + " ip=192.0.2.10", "ip=192.0.2.10", "the anaconda form"},
		{bond + " ip=single-dhcp", "ip=single-dhcp", "single-dhcp is not supported by bondstrap"},
		{bond + " ip=bond0:either6", "ip=bond0:either6", "either6 is not supported"},
		{bond + " ip=bond0:ibft", "ip=bond0:ibft", "iSCSI"},
		{bond + " ip=none", "ip=none", "none without an address"},
		{bond + " ip=bond0:off", "ip=bond0:off", "off without an address"},
		{bond + " ip=bond0:dhcp,none", "ip=bond0:dhcp,none", "mixes none/off"},
		{bond + " ip=bond0:dhcp:9000:02:00:00", "ip=bond0:dhcp:9000:02:00:00", "expected a MAC address at the end"},
		{bond + " ip=bond0:dhcp:jumbo", "ip=bond0:dhcp:jumbo", `the MTU "jumbo" is not a number`},
		{bond + " ip=bond0:dhcp::02-00-00-00-00-01", "ip=bond0:dhcp::02-00-00-00-00-01", "MAC 02-00-00-00-00-01: \"02-00-00-00-00-01\": expected a MAC address of six hex bytes separated by colons"},
		{bond + " ip=bond0:dhcp::03:00:00:00:00:01", "ip=bond0:dhcp::03:00:00:00:00:01", "is a multicast address"},
		{bond + " ip=192.0.2.10:192.0.2.11:192.0.2.1:24::bond0:none", "ip=192.0.2.10:192.0.2.11:192.0.2.1:24::bond0:none", "a peer (192.0.2.11) is for point-to-point links"},
		{bond + " ip=192.0.2.10::192.0.2.1:24::bond0:dhcp", "ip=192.0.2.10::192.0.2.1:24::bond0:dhcp", "a client address (192.0.2.10) is for none or off, not dhcp"},
		{bond + " ip=192.0.2.10::192.0.2.1:24::bond0:", "ip=192.0.2.10::192.0.2.1:24::bond0:", "is for none or off, not dhcp"},
		{bond + " ip=:::::bond0:none", "ip=:::::bond0:none", "none without a client address"},
		{bond + " ip=192.0.2.10::192.0.2.1:::bond0:none", "ip=192.0.2.10::192.0.2.1:::bond0:none", "the netmask of 192.0.2.10 is missing"},
		{bond + " ip=192.0.2.10::192.0.2.1:255.0.255.0::bond0:none", "ip=192.0.2.10::192.0.2.1:255.0.255.0::bond0:none", "not contiguous"},
		{bond + " ip=192.0.2.10::192.0.2.1:33::bond0:none", "ip=192.0.2.10::192.0.2.1:33::bond0:none", "prefix length 33 is out of range"},
		{bond + " ip=[2001:db8::10]::[2001:db8::1]:255.255.255.0::bond0:none", "ip=[2001:db8::10]::[2001:db8::1]:255.255.255.0::bond0:none", "neither a prefix length nor an IPv4 dotted mask"},
		{bond + " ip=192.0.2.300::192.0.2.1:24::bond0:none", "ip=192.0.2.300::192.0.2.1:24::bond0:none", `the client address "192.0.2.300" is not an IP address`},
		{bond + " ip=[2001:db8::10]x::[2001:db8::1]:64::bond0:none", "ip=[2001:db8::10]x::[2001:db8::1]:64::bond0:none", "expected ':' after ']'"},
		{bond + " ip=[2001:db8::10", "ip=[2001:db8::10", "a '[' has no ']'"},
		{bond + " ip=192.0.2.10::192.0.2.1:24::bond0", "ip=192.0.2.10::192.0.2.1:24::bond0", "got 6 fields"},
		{bond + " ip=192.0.2.10::192.0.2.1:24::bond0:none:192.0.2.53:192.0.2.54:192.0.2.55", "ip=192.0.2.10::192.0.2.1:24::bond0:none:192.0.2.53:192.0.2.54:192.0.2.55", "at most two DNS servers"},
		{bond + " ip=192.0.2.10::198.51.100.1x:24::bond0:none", "ip=192.0.2.10::198.51.100.1x:24::bond0:none", `gateway 198.51.100.1x: "198.51.100.1x": expected an IP address: not an IP address (netplan key network.bonds.bond0.routes[0].via)`},
		{bond + " ip=192.0.2.10::192.0.2.1:24::bond0:none:192.0.2.530", "ip=192.0.2.10::192.0.2.1:24::bond0:none:192.0.2.530", `DNS server 192.0.2.530: "192.0.2.530": expected an IP address`},
		{bond + " bond=bond1:eth2,eth3 ip=192.0.2.10::192.0.2.1:24:::none", "ip=192.0.2.10::192.0.2.1:24:::none", "names no interface, and 2 interfaces could take the address (bond0, bond1)"},
		{bond + " ip=dhcp ip=eth2:dhcp", "ip=dhcp", "names no interface, but there are several ip= options"},
		{bond + " ip=bond0:dhcp ip=bond0:dhcp6", "ip=bond0:dhcp6", "bond0 is also configured by ip=bond0:dhcp"},
		{bond + " ip=eth0:dhcp", "ip=eth0:dhcp", "is set, but eth0 is a member of bond bond0: its addressing belongs on the bond (netplan key network.ethernets.eth0.dhcp4)"},
		{"bond=bond0:eth0,eth1::9000 ip=bond0:dhcp:1500", "ip=bond0:dhcp:1500", "the MTU 1500 is not the MTU 9000 that bond=bond0:eth0,eth1::9000 gives bond0"},
		{bond + " nameserver=192.0.2.530", "nameserver=192.0.2.530", `DNS server 192.0.2.530: "192.0.2.530": expected an IP address`},
		{bond + " ip=bond0:dhcp nameserver=192.0.2.53 nameserver=dns.example", "nameserver=dns.example", "expected an IP address"},
	} {
		_, _, err := networkConfig(t, tc.line)
		checkError(t, tc.line, err, tc.path, tc.msg)
	}
}

// Errors come in command line order, each naming its own option.
func TestNetworkConfigErrorOrder(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		// The vlan= error stops the conversion before the validator: the
		// options are read first.
		{"bond=bond0:eth0,eth1:mode=1,lacp_rate=fast ip=bond0:dhcp:20 vlan=x:bond0 nameserver=bad", []string{"vlan=x:bond0"}},
		{"nameserver=bad bond=bond0:eth0,eth1:mode=1,lacp_rate=fast ip=bond0:dhcp:20",
			[]string{"nameserver=bad", "bond=bond0:eth0,eth1:mode=1,lacp_rate=fast", "ip=bond0:dhcp:20"}},
	} {
		_, _, err := networkConfig(t, tc.line)
		var list netplan.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("%s: error %v", tc.line, err)
		}
		var paths []string
		for _, e := range list {
			paths = append(paths, e.Path)
		}
		if !slices.Equal(paths, tc.want) {
			t.Errorf("%s: paths %q, want %q\n%v", tc.line, paths, tc.want, err)
		}
	}
}

// The example: the command line and the YAML it stands for give
// the same config, the same plan and the same units.
func TestGoldenEquivalence(t *testing.T) {
	const line = "bond=bond0:eth0,eth1:mode=active-backup,miimon=100,primary=eth1 ip=bond0:dhcp"
	const yaml = `
network:
  version: 2
  ethernets:
    eth0: {}
    eth1: {}
  bonds:
    bond0:
      interfaces: [eth0, eth1]
      parameters:
        mode: active-backup
        mii-monitor-interval: 100
        primary: eth1
      dhcp4: true
`
	fromLine, warnings, err := networkConfig(t, line)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%v %q", err, warnings)
	}
	fromYAML := yamlConfig(t, yaml)
	if !reflect.DeepEqual(fromLine, fromYAML) {
		t.Fatalf("configs differ:\n%+v\n%+v", fromLine, fromYAML)
	}

	inv := loadInventory(t, "qemu-virtio-e1000")
	planLine, ul := planAndUnits(t, fromLine, inv)
	planYAML, uy := planAndUnits(t, fromYAML, inv)
	pl, _ := json.MarshalIndent(planLine, "", "  ")
	py, _ := json.MarshalIndent(planYAML, "", "  ")
	if string(pl) != string(py) {
		t.Fatalf("plans differ:\n%s\n%s", pl, py)
	}
	if b := planLine.Bonds[0]; b.Mode != "active-backup" || b.Primary != "eth1" || !slices.Equal(b.Members, []string{"eth0", "eth1"}) {
		t.Errorf("plan %s", pl)
	}
	if !reflect.DeepEqual(ul, uy) {
		t.Errorf("units differ:\n%v\n%v", ul, uy)
	}
	var netdev string
	for _, f := range ul {
		if strings.HasSuffix(f.Name, "bond0.netdev") {
			netdev = string(f.Content)
		}
	}
	for _, want := range []string{"Mode=active-backup", "MIIMonitorSec=100ms"} {
		if !strings.Contains(netdev, want) {
			t.Errorf("bond0.netdev lacks %s:\n%s", want, netdev)
		}
	}
}

// BOOTIF= reaches the config's match rules.
func TestNetworkConfigBootIF(t *testing.T) {
	cfg, _, err := networkConfig(t, "BOOTIF=01-52-54-00-12-00-02 bond=bond0:bootif,eth0:mode=active-backup,primary=bootif")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := netplan.Select(cfg, loadInventory(t, "qemu-virtio-e1000"))
	if err != nil {
		t.Fatal(err)
	}
	b := plan.Bonds[0]
	members := slices.Sorted(slices.Values(b.Members))
	if !slices.Equal(members, []string{"eth0", "eth1"}) || b.Primary != "eth1" {
		t.Errorf("bond %+v: want eth0 and the PXE NIC eth1, eth1 primary", b)
	}
}

// planAndUnits selects cfg's members on inv and renders its units.
func planAndUnits(t *testing.T, cfg *netplan.Config, inv inventory.Inventory) (*netplan.Plan, []units.File) {
	t.Helper()
	plan, err := netplan.Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	files, err := units.Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	return plan, files
}

func loadInventory(t testing.TB, name string) inventory.Inventory {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "inventories", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// docs/boot.md's example means what the page says.
func TestBootDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "boot.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(doc), "\n### Example\n")
	if !ok {
		t.Fatal("docs/boot.md has no Example section")
	}
	line, rest, _ := strings.Cut(strings.TrimLeft(example, "\n"), "\n")
	_, yaml, _ := strings.Cut(rest, "```yaml\n")
	yaml, _, ok = strings.Cut(yaml, "```")
	if !ok || !strings.HasPrefix(line, "    ") {
		t.Fatalf("the example is not a command line then a YAML block:\n%s", example)
	}
	got, _, err := networkConfig(t, strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	want := yamlConfig(t, yaml)
	b, _ := Parse(strings.TrimSpace(line))
	want.SetBootIF(b.BootIF)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("docs/boot.md's example:\n got %s\nwant %s", g, w)
	}
}
