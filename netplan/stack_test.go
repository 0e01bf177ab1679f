package netplan

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// kvmHost is a KVM host on the HPE DL380's inventory: an LACP bond of the
// 25G ice ports, a management NIC (the first igb port with link, renamed),
// a tagged VLAN on the bond and a bridge over the bond.
const kvmHost = `
network:
  version: 2
  ethernets:
    mgmt:
      match: {driver: igb, carrier: true}
      set-name: mgmt0
    fast:
      match: {driver: ice}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: 802.3ad}
  vlans:
    storage: {id: 200, link: bond0, addresses: ["2001:db8:200::10/64"]}
    guests: {id: 300, link: br0}
  bridges:
    br0:
      interfaces: [bond0]
      dhcp4: true
    br-mgmt:
      interfaces: [mgmt]
      dhcp4: true
`

func TestPlanStack(t *testing.T) {
	cfg := mustParse(t, kvmHost)
	plan, err := Select(cfg, loadInventory(t, "hpe-dl380-e810-i350"))
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Bonds[0].Members; !slices.Equal(got, []string{"ens2f0", "ens2f1"}) {
		t.Errorf("bond0 members %v", got)
	}
	if len(plan.Ethernets) != 1 {
		t.Fatalf("standalone NICs %+v, want mgmt alone", plan.Ethernets)
	}
	if e := plan.Ethernets[0]; e.ID != "mgmt" || e.NIC.Name != "eno1" || e.Name != "mgmt0" {
		t.Errorf("mgmt took %s as %s (%s), want eno1 as mgmt0", e.NIC.Name, e.Name, e.Reason)
	}
	type v struct {
		name, kind, link string
		id               int
		ports            []string
		mac              string
	}
	var got []v
	for _, vp := range plan.Virtuals {
		got = append(got, v{vp.Name, vp.Kind, vp.Link, vp.VLANID, vp.Ports, vp.MAC})
	}
	// Bridges come after their ports and VLANs after their links; ties in
	// kind then name order. A bridge takes its first port's MAC: the bond's
	// (its first member's permanent MAC) or the standalone NIC's.
	want := []v{
		{"storage", KindVLAN, "bond0", 200, nil, ""},
		{"br-mgmt", KindBridge, "", 0, []string{"mgmt0"}, "94:40:c9:20:00:01"},
		{"br0", KindBridge, "", 0, []string{"bond0"}, "b4:96:91:b0:00:00"},
		{"guests", KindVLAN, "br0", 300, nil, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("virtuals\n got %+v\nwant %+v", got, want)
	}
	var names []string
	for _, i := range plan.Interfaces() {
		names = append(names, i.Kind+":"+i.Name)
	}
	if w := []string{"ethernet:mgmt0", "bond:bond0", "vlan:storage", "bridge:br-mgmt", "bridge:br0", "vlan:guests"}; !slices.Equal(names, w) {
		t.Errorf("interfaces %v, want %v", names, w)
	}
	if br, vlans := plan.Upper("bond0"); br != "br0" || !slices.Equal(vlans, []string{"storage"}) {
		t.Errorf("on bond0: bridge %q, VLANs %v", br, vlans)
	}
	for _, u := range plan.Unused {
		if u.NIC == "eno1" {
			t.Errorf("eno1 listed unused: %+v", u)
		}
	}
}

// TestStandaloneMatchesNothing: a standalone id that finds no free NIC fails
// selection, naming the id, as a bond without members does.
func TestStandaloneMatchesNothing(t *testing.T) {
	cfg := mustParse(t, strings.Replace(kvmHost, "driver: igb, carrier: true", "driver: bnxt_en", 1))
	_, err := Select(cfg, loadInventory(t, "hpe-dl380-e810-i350"))
	var se *SelectionError
	if !errors.As(err, &se) || len(se.Failures) != 1 || se.Failures[0].Bond != "mgmt" {
		t.Fatalf("err %v, want the failure of mgmt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "ethernets id mgmt: matched no free NIC") {
		t.Errorf("message %q", msg)
	}
	// A NIC a bond took is not free.
	cfg = mustParse(t, strings.Replace(kvmHost, "driver: igb, carrier: true", "driver: ice", 1))
	if _, err := Select(cfg, loadInventory(t, "hpe-dl380-e810-i350")); err == nil || !strings.Contains(err.Error(), "already taken by bond0") {
		t.Errorf("mgmt on the bond's ports: %v", err)
	}
}
