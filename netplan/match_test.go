package netplan

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
)

// bootif: true takes the NIC whose permanent MAC BOOTIF= names, and no NIC
// without one.
func TestMatchBootIF(t *testing.T) {
	const yaml = `
network:
  version: 2
  ethernets:
    pxe: {match: {bootif: true}}
    other: {match: {driver: "*"}}
  bonds:
    bond0: {interfaces: [pxe, other], parameters: {mode: active-backup, primary: pxe}}
`
	inv := loadInventory(t, "qemu-virtio-e1000")
	cfg := mustParse(t, yaml)

	// Without BOOTIF= the rule holds for no NIC, and says why.
	ok, why := cfg.MatchesID("pxe", inv.Interfaces[0])
	if ok || !strings.Contains(why, "no BOOTIF=") {
		t.Errorf("without BOOTIF: %t, %q", ok, why)
	}

	mac, _ := net.ParseMAC("52:54:00:12:00:02")
	cfg.SetBootIF(mac)
	var matched []string
	for _, nic := range inv.Interfaces {
		ok, why := cfg.MatchesID("pxe", nic)
		if ok {
			matched = append(matched, nic.Name)
			if why != "bootif" {
				t.Errorf("%s: reason %q, want bootif", nic.Name, why)
			}
		} else if !strings.Contains(why, "is not BOOTIF 52:54:00:12:00:02") {
			t.Errorf("%s: reason %q", nic.Name, why)
		}
	}
	if !slices.Equal(matched, []string{"eth1"}) {
		t.Errorf("bootif matched %v, want [eth1]", matched)
	}
	plan, err := Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	if b := plan.Bonds[0]; b.Primary != "eth1" {
		t.Errorf("primary %q, want the PXE NIC eth1", b.Primary)
	}

	// Cleared again (rd.bootif=0), nothing matches.
	cfg.SetBootIF(nil)
	if ok, _ := cfg.MatchesID("pxe", inv.Interfaces[1]); ok {
		t.Error("bootif matched after SetBootIF(nil)")
	}

	// The key survives a round trip through the config's JSON; the MAC,
	// which is no part of the config, does not.
	cfg.SetBootIF(mac)
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"bootif":true`) || strings.Contains(string(data), "52:54:00:12:00:02") {
		t.Errorf("marshalled: %s", data)
	}
	back, err := Parse("back.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := back.MatchesID("pxe", inv.Interfaces[1]); ok {
		t.Error("a re-parsed config kept the BOOTIF MAC")
	}
}

// bootif: true alone is a rule, not an empty match.
func TestMatchBootIFAlone(t *testing.T) {
	if _, err := Parse("t.yaml", []byte(withMatch("bootif: true\n"))); err != nil {
		t.Fatal(err)
	}
}
