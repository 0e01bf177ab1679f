package cmdline

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// FuzzCmdline: no command line panics; every error is a netplan.ErrorList
// naming the command line and, for the network options, the option; and
// every accepted command line gives a config that validates again from its
// JSON, selects on a machine that has its NICs, and renders units.
func FuzzCmdline(f *testing.F) {
	for _, seed := range []string{
		"bond=bond0:eth0,eth1:mode=active-backup,miimon=100,primary=eth1 ip=bond0:dhcp",
		"bond",
		"bond= bridge",
		"BOOTIF=01-52-54-00-12-34-56 bond=bond0:bootif,eth1:mode=802.3ad,lacp_rate=fast,xmit_hash_policy=layer3+4:9000 ip=bond0:dhcp,dhcp6",
		"bond=bond0:eth0,eth1:mode=1,arp_interval=200,arp_ip_target=192.0.2.1;192.0.2.2 vlan=bond0.0100:bond0 bridge=br0:bond0.0100 ip=br0:dhcp nameserver=192.0.2.53",
		"bond=bond0:eth0,eth1 vlan=vlan5:bond0 vlan=eth2.7:eth2 ip=vlan5:dhcp ip=eth2.7:dhcp6 ip=eth3:auto6",
		"bond=bond0:eth0,eth1 ip=192.0.2.10::192.0.2.1:255.255.255.0:node1:bond0:none:9000:02:00:00:00:00:01",
		"bond=bond0:eth0,eth1 ip=[2001:db8::10]::[2001:db8::1]:64::bond0:none:[2001:db8::53]:192.0.2.53",
		`bondstrap.config="http://192.0.2.1/b.yaml" bondstrap.config-sha256=` + strings.Repeat("ab", 32) + " rd.bootif=0 BOOTIF=01-02-00-00-00-00-01",
		"bond=bond0:52-54-00-12-34-56,eth1 ip=52-54-00-12-34-56:dhcp",
		"bond=b:e,f:miimon=1,updelay=2:68 ip=:::::b: -- ip=x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		b, err := Parse(line)
		if err != nil {
			checkErrors(t, err, false)
			return
		}
		if !b.HasNetwork() {
			return
		}
		cfg, _, err := b.NetworkConfig()
		if err != nil {
			checkErrors(t, err, true)
			return
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := netplan.Parse("again", data)
		if err != nil {
			t.Fatalf("%q gives a config that does not validate again: %v\n%s", line, err, data)
		}
		again.SetBootIF(b.BootIF)
		inv := machineFor(again, b)
		plan, err := netplan.Select(again, inv)
		if err != nil {
			t.Fatalf("%q: select on a machine with its NICs: %v\n%s", line, err, data)
		}
		if _, err := units.Render(again, plan); err != nil {
			t.Fatalf("%q: render: %v\n%s", line, err, data)
		}
	})
}

// checkErrors checks that err is a non-empty netplan.ErrorList about the
// command line whose errors name their option (named: always).
func checkErrors(t *testing.T, err error, named bool) {
	t.Helper()
	var list netplan.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error %v (%T), want a netplan.ErrorList", err, err)
	}
	for _, e := range list {
		if e.File != File || e.Msg == "" || named && e.Path == "" {
			t.Fatalf("error %+v: want File %q, the option as Path, a message", *e, File)
		}
	}
}

// machineFor is a machine with a NIC for every ethernets id of cfg: the
// NIC of that name, or one with the MAC the id matches; every NIC at
// 10 Gb/s with link.
func machineFor(cfg *netplan.Config, b *Boot) inventory.Inventory {
	taken := map[string]bool{}
	for id, eth := range cfg.Network.Ethernets {
		taken[id] = true
		if eth.Match != nil {
			taken[eth.Match.MACAddress] = true
		}
	}
	n := 0
	fresh := func(format string) string {
		for {
			n++
			s := fmt.Sprintf(format, n>>8, n&0xff)
			if !taken[s] {
				taken[s] = true
				return s
			}
		}
	}
	var inv inventory.Inventory
	ids := make([]string, 0, len(cfg.Network.Ethernets))
	for id := range cfg.Network.Ethernets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		eth := cfg.Network.Ethernets[id]
		nic := inventory.NIC{Driver: "virtio_net", VendorID: "1af4", DeviceID: "1000", SpeedMbps: 10000,
			Duplex: "full", Carrier: true, MTU: 1500}
		if eth.Match == nil {
			nic.Name = id
			nic.MAC = fresh("02:00:00:00:%02x:%02x")
		} else {
			nic.Name = fresh("nic%d%d")
			nic.MAC = eth.Match.MACAddress
		}
		nic.PermanentMAC = nic.MAC
		inv.Interfaces = append(inv.Interfaces, nic)
	}
	return inv
}
