package netplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

func loadInventory(t testing.TB, name string) inventory.Inventory {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "inventories", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	// The inventory parser bondstrap reads saved inventories with: the
	// test data must be something it accepts.
	inv, err := inventory.Parse(name, data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return inv
}

func mustParse(t testing.TB, yaml string) *Config {
	t.Helper()
	cfg, err := Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

type wantBond struct {
	members []string
	primary string
}

func planMembers(p *Plan) map[string]wantBond {
	got := make(map[string]wantBond)
	for _, b := range p.Bonds {
		got[b.Name] = wantBond{members: b.Members, primary: b.Primary}
	}
	return got
}

// TestFleetConfig runs one config over the inventories of six real server
// layouts and the test VM: the selling point of hardware rules is that one
// file serves them all.
func TestFleetConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, string(data))

	tests := []struct {
		inventory string
		want      map[string]wantBond
		unused    []string
	}{{
		// ens1f3 has no link, so its speed is unknown and min-speed fails;
		// eno2 has no carrier.
		inventory: "dell-r740-x710-bcm5720",
		want: map[string]wantBond{
			"bond0": {members: []string{"ens1f0", "ens1f1", "ens1f2"}},
			"bond1": {members: []string{"eno1"}, primary: "eno1"},
		},
		unused: []string{"eno2", "ens1f3"},
	}, {
		inventory: "hpe-dl380-e810-i350",
		want: map[string]wantBond{
			"bond0": {members: []string{"ens2f0", "ens2f1"}},
			"bond1": {members: []string{"eno1", "eno2"}, primary: "eno1"},
		},
		unused: []string{"eno3", "eno4"},
	}, {
		// Three ConnectX ports run at 25G and one at 10G: LACP keeps the
		// largest speed group, in PCI order (0000:18 before 0000:af).
		inventory: "supermicro-connectx",
		want: map[string]wantBond{
			"bond0": {members: []string{"enp24s0f0np0", "enp24s0f1np1", "enp175s0f0np0"}},
			"bond1": {members: []string{"eno1"}, primary: "eno1"},
		},
		unused: []string{"enp175s0f1np1"},
	}, {
		inventory: "lenovo-bcm57414",
		want: map[string]wantBond{
			"bond0": {members: []string{"ens3f0np0", "ens3f1np1"}},
			"bond1": {members: []string{"eno1", "eno2"}, primary: "eno1"},
		},
	}, {
		// Two 10G ports outvote one 25G port; the other 25G port has no link.
		inventory: "mixed-1-10-25",
		want: map[string]wantBond{
			"bond0": {members: []string{"ens1f0", "ens1f1"}},
			"bond1": {members: []string{"eno1", "eno2"}, primary: "eno1"},
		},
		unused: []string{"ens2f0", "ens2f1"},
	}, {
		inventory: "qemu-virtio-e1000",
		want: map[string]wantBond{
			"bond0": {members: []string{"eth0", "eth1"}},
			"bond1": {members: []string{"eth2"}, primary: "eth2"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.inventory, func(t *testing.T) {
			plan, err := Select(cfg, loadInventory(t, tt.inventory))
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if got := planMembers(plan); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan = %+v, want %+v", got, tt.want)
			}
			var unused []string
			for _, d := range plan.Unused {
				unused = append(unused, d.NIC)
			}
			if !slices.Equal(unused, tt.unused) {
				t.Errorf("unused = %v, want %v", unused, tt.unused)
			}
			for _, b := range plan.Bonds {
				if len(b.MemberNICs) != len(b.Members) {
					t.Fatalf("%s: %d member NICs for %d members", b.Name, len(b.MemberNICs), len(b.Members))
				}
				for i, n := range b.MemberNICs {
					if n.Name != b.Members[i] {
						t.Errorf("%s: MemberNICs[%d] = %s, want %s", b.Name, i, n.Name, b.Members[i])
					}
				}
			}
		})
	}
}

// TestFleetConfigShortfall: a server without any on-board 1G port cannot
// satisfy bond1, and the error says why for every NIC.
func TestFleetConfigShortfall(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Select(mustParse(t, string(data)), loadInventory(t, "ixgbe-no-link"))
	var se *SelectionError
	if !errors.As(err, &se) {
		t.Fatalf("Select error = %v, want a *SelectionError", err)
	}
	if len(se.Failures) != 1 || se.Failures[0].Bond != "bond1" {
		t.Fatalf("failures = %+v, want bond1 alone", se.Failures)
	}
	msg := err.Error()
	for _, want := range []string{
		"bond bond1: 0 member(s) selected, min-members is 1",
		"enp4s0f0: left out: already taken by bond0",
		"enp4s0f1: left out: matches no interface of the bond: onboard: driver ixgbe matches none of [tg3 igb e1000]",
		"enp5s0f0: left out: matches no interface of the bond: onboard: driver i40e",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

const lacpConfig = `
network:
  version: 2
  ethernets:
    up: {match: {pci-id: "8086:*"}}
  bonds:
    bond0:
      interfaces: [up]
      parameters: {mode: 802.3ad}
`

func nic(name, pci string, speed int) inventory.NIC {
	return inventory.NIC{Name: name, PCIAddress: pci, VendorID: "8086", DeviceID: "1572",
		SpeedMbps: speed, Carrier: speed > 0, MAC: "02:00:00:00:00:01"}
}

func TestLACPSpeedGroups(t *testing.T) {
	cfg := mustParse(t, lacpConfig)
	tests := []struct {
		name  string
		nics  []inventory.NIC
		want  []string
		speed int
	}{{
		name:  "largest group wins",
		nics:  []inventory.NIC{nic("a", "0000:01:00.0", 25000), nic("b", "0000:02:00.0", 10000), nic("c", "0000:03:00.0", 10000)},
		want:  []string{"b", "c"},
		speed: 10000,
	}, {
		name:  "tie goes to the faster",
		nics:  []inventory.NIC{nic("a", "0000:01:00.0", 10000), nic("b", "0000:02:00.0", 10000), nic("c", "0000:03:00.0", 25000), nic("d", "0000:04:00.0", 25000)},
		want:  []string{"c", "d"},
		speed: 25000,
	}, {
		name:  "unknown speed loses a tie, and stays, after the cabled",
		nics:  []inventory.NIC{nic("a", "0000:01:00.0", 0), nic("b", "0000:02:00.0", 1000)},
		want:  []string{"b", "a"},
		speed: 1000,
	}, {
		name:  "all unknown stay together",
		nics:  []inventory.NIC{nic("a", "0000:01:00.0", 0), nic("b", "0000:02:00.0", 0)},
		want:  []string{"a", "b"},
		speed: 0,
	}, {
		// The four-port X710 with one cable: three dark ports must not
		// outvote the one with link; they stay members, after it, and
		// join when their links come up.
		name: "three dark ports and one cabled",
		nics: []inventory.NIC{nic("ens1f0", "0000:3b:00.0", 0), nic("ens1f1", "0000:3b:00.1", 0),
			nic("ens1f2", "0000:3b:00.2", 10000), nic("ens1f3", "0000:3b:00.3", 0)},
		want:  []string{"ens1f2", "ens1f0", "ens1f1", "ens1f3"},
		speed: 10000,
	}, {
		name: "the cabled port first in PCI order",
		nics: []inventory.NIC{nic("ens1f0", "0000:3b:00.0", 10000), nic("ens1f1", "0000:3b:00.1", 0),
			nic("ens1f2", "0000:3b:00.2", 0), nic("ens1f3", "0000:3b:00.3", 0)},
		want:  []string{"ens1f0", "ens1f1", "ens1f2", "ens1f3"},
		speed: 10000,
	}, {
		name: "four dark ports: still a bond, of unknown speed",
		nics: []inventory.NIC{nic("ens1f0", "0000:3b:00.0", 0), nic("ens1f1", "0000:3b:00.1", 0),
			nic("ens1f2", "0000:3b:00.2", 0), nic("ens1f3", "0000:3b:00.3", 0)},
		want:  []string{"ens1f0", "ens1f1", "ens1f2", "ens1f3"},
		speed: 0,
	}, {
		name: "two known speeds and dark ports",
		nics: []inventory.NIC{nic("a", "0000:01:00.0", 0), nic("b", "0000:02:00.0", 0), nic("c", "0000:03:00.0", 0),
			nic("d", "0000:04:00.0", 1000), nic("e", "0000:05:00.0", 25000), nic("f", "0000:06:00.0", 25000)},
		want:  []string{"e", "f", "a", "b", "c"},
		speed: 25000,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Select(cfg, inventory.Inventory{Interfaces: tt.nics})
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.Bonds[0].Members; !slices.Equal(got, tt.want) {
				t.Errorf("members = %v, want %v", got, tt.want)
			}
			if got := plan.Bonds[0].SpeedMbps; got != tt.speed {
				t.Errorf("speed = %d, want %d", got, tt.speed)
			}
			// Every NIC left out says which speed won; every dark one
			// kept says so.
			for _, d := range plan.Bonds[0].Decisions {
				if !d.Selected && !strings.Contains(d.Reason, "802.3ad needs one speed") {
					t.Errorf("%s: left out saying %q", d.NIC, d.Reason)
				}
			}
		})
	}
}

// The same with the inventory bondstrap saved on such a server: the cabled
// X710 port forms the bond and comes first (its MAC is the bond's); the dark
// ones stay members after it, to join when cabled, and are not offered to
// the next bond.
func TestLACPKeepsTheCabledX710Port(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    up: {match: {pci-id: "8086:*"}}
    rest: {match: {name: "*"}}
  bonds:
    bond0:
      interfaces: [up]
      parameters: {mode: 802.3ad}
    bond1:
      interfaces: [rest]
`)
	plan, err := Select(cfg, loadInventory(t, "x710-one-cable"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "members", planMembers(plan), map[string]wantBond{
		"bond0": {members: []string{"ens1f2", "ens1f0", "ens1f1", "ens1f3"}},
		"bond1": {members: []string{"eno1"}},
	})
	equal(t, "bond0 speed", plan.Bonds[0].SpeedMbps, 10000)
	if mac := plan.Bonds[0].MAC(); mac != plan.Bonds[0].MemberNICs[0].HardwareMAC() || plan.Bonds[0].Members[0] != "ens1f2" {
		t.Errorf("bond0 MAC %s, want the cabled port's", mac)
	}
	if len(plan.Unused) != 0 {
		t.Errorf("unused %v", plan.Unused)
	}
	dark := 0
	for _, d := range plan.Bonds[0].Decisions {
		if d.Selected && strings.Contains(d.Reason, "no link: kept, it joins the aggregator when its link comes up at 10000 Mb/s") {
			dark++
		}
	}
	if dark != 3 {
		t.Errorf("%d dark ports explained, want 3", dark)
	}
}

// matchedIDsConfig takes the max-speed of slow and bond0's max-members line.
const matchedIDsConfig = `
network:
  version: 2
  ethernets:
    fast: {match: {min-speed: 10000}}
    slow: {match: {max-speed: %d}}
    eth9: {}
  bonds:
    bond0:
      interfaces: [slow, fast, eth9]
      %s
      parameters: {mode: active-backup, primary: fast}
`

// The plan records which ethernets id took each member: the first of the
// bond's interfaces, in their order, that matches.
func TestMatchedIDs(t *testing.T) {
	cfg := mustParse(t, fmt.Sprintf(matchedIDsConfig, 1000, "max-members: 3"))
	inv := inventory.Inventory{Interfaces: []inventory.NIC{
		nic("x", "0000:01:00.0", 10000),
		nic("y", "0000:02:00.0", 1000),
		nic("eth9", "0000:03:00.0", 1000), // slow matches before its own name
		nic("z", "0000:04:00.0", 1000),    // slow, but fourth in PCI order
		nic("u", "0000:05:00.0", 2500),    // neither
		nic("v", "0000:06:00.0", 0),       // no link: no speed rule holds
	}}
	plan, err := Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	b := plan.Bonds[0]
	equal(t, "members", b.Members, []string{"x", "y", "eth9"})
	equal(t, "member ids", b.MemberIDs, []string{"fast", "slow", "slow"})
	equal(t, "primary", b.Primary, "x")
	type decision struct {
		nic, matched string
		selected     bool
	}
	var got []decision
	for _, d := range b.Decisions {
		got = append(got, decision{d.NIC, d.Matched, d.Selected})
	}
	equal(t, "decisions", got, []decision{
		{"x", "fast", true}, {"y", "slow", true}, {"eth9", "slow", true},
		{"u", "", false}, {"v", "", false}, {"z", "slow", false},
	})
	// Without the speed rules the name takes eth9.
	cfg = mustParse(t, fmt.Sprintf(matchedIDsConfig, 100, ""))
	plan, err = Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "member ids by name", plan.Bonds[0].MemberIDs, []string{"fast", "eth9"})

	// The plan's JSON carries them.
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"member_ids":["fast","eth9"]`, `"matched":"eth9"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("plan JSON lacks %s:\n%s", want, raw)
		}
	}
}

// namedNICs are n NICs named prefix000, prefix001, ..., with PCI addresses.
func namedNICs(prefix string, n int) []inventory.NIC {
	out := make([]inventory.NIC, n)
	for i := range out {
		out[i] = inventory.NIC{Name: fmt.Sprintf("%s%03d", prefix, i), PCIAddress: fmt.Sprintf("0000:%02x:%02x.0", i/32+1, i%32),
			Driver: "ixgbe", SpeedMbps: 10000, Carrier: true}
	}
	return out
}

// Per bond, only the first MaxUnmatchedDecisions NICs that match none of
// its interfaces are explained; the rest are counted.
func TestOmittedDecisions(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    a: {match: {name: "a*"}}
    b: {match: {name: "b*"}}
  bonds:
    bond0: {interfaces: [a]}
    bond1: {interfaces: [b]}
`)
	for _, n := range []int{0, 1, MaxUnmatchedDecisions - 3, MaxUnmatchedDecisions - 2, MaxUnmatchedDecisions + 1, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// 2 NICs for each bond, and n others no bond matches.
			nics := append(append(namedNICs("a", 2), namedNICs("b", 2)...), namedNICs("x", n)...)
			plan, err := Select(cfg, inventory.Inventory{Interfaces: nics})
			if err != nil {
				t.Fatal(err)
			}
			// bond0 does not match bond1's 2 NICs either; bond1 finds
			// bond0's taken. Both kinds share the cap.
			unmatched := map[string]int{"bond0": n + 2, "bond1": n + 2}
			for _, b := range plan.Bonds {
				var explained []string
				taken := 0
				for _, d := range b.Decisions {
					switch {
					case d.Selected:
					case strings.HasPrefix(d.Reason, "already taken by "):
						taken++
					case strings.HasPrefix(d.Reason, "matches no interface of the bond"):
						explained = append(explained, d.NIC)
					default:
						t.Errorf("%s: %s left out saying %q", b.Name, d.NIC, d.Reason)
					}
				}
				want := min(unmatched[b.Name], MaxUnmatchedDecisions)
				if len(explained)+taken != want || b.OmittedDecisions != unmatched[b.Name]-want {
					t.Errorf("%s: %d explained, %d taken, %d omitted; want %d, %d", b.Name, len(explained), taken,
						b.OmittedDecisions, want, unmatched[b.Name]-want)
				}
				// The explained ones are the first by name.
				if !slices.IsSorted(explained) || len(explained) > 0 && explained[0] != firstUnmatched(b.Name) {
					t.Errorf("%s: explained %v, want the first by name", b.Name, explained)
				}
				if len(b.Members) != 2 {
					t.Errorf("%s: members %v", b.Name, b.Members)
				}
				if b.Name == "bond1" && taken != 2 {
					t.Errorf("bond1: %d NICs taken by bond0 explained, want 2", taken)
				}
			}
			// Every NIC no bond took is still listed, once.
			if len(plan.Unused) != n {
				t.Errorf("%d unused NICs, want %d", len(plan.Unused), n)
			}
		})
	}
}

func firstUnmatched(bond string) string {
	if bond == "bond0" {
		return "b000"
	}
	return "x000"
}

// A bond short of members reports the same bounded decisions.
func TestOmittedDecisionsOnFailure(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    a: {match: {name: "a*"}}
  bonds:
    bond0: {interfaces: [a], min-members: 2}
`)
	_, err := Select(cfg, inventory.Inventory{Interfaces: append(namedNICs("a", 1), namedNICs("x", 300)...)})
	var se *SelectionError
	if !errors.As(err, &se) || len(se.Failures) != 1 {
		t.Fatalf("err = %v, want bond0 short of members", err)
	}
	if got := len(se.Failures[0].Decisions); got != 1+MaxUnmatchedDecisions {
		t.Errorf("%d decisions, want the member and %d others", got, MaxUnmatchedDecisions)
	}
}

// Other modes do not care about speed.
func TestActiveBackupKeepsMixedSpeeds(t *testing.T) {
	cfg := mustParse(t, strings.Replace(lacpConfig, "802.3ad", "active-backup", 1))
	plan, err := Select(cfg, inventory.Inventory{Interfaces: []inventory.NIC{
		nic("a", "0000:01:00.0", 25000), nic("b", "0000:02:00.0", 10000)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Bonds[0].Members; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("members = %v", got)
	}
}

func TestOrderAndMaxMembers(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    any: {match: {name: "*"}}
  bonds:
    bond0: {interfaces: [any], max-members: 3}
`)
	inv := inventory.Inventory{Interfaces: []inventory.NIC{
		{Name: "zz9", PCIAddress: "0000:00:01.0"},
		{Name: "aa1", PCIAddress: "0000:af:00.1"},
		{Name: "mm0", PCIAddress: "0000:af:00.0"},
		{Name: "usb0"}, // no PCI address: after every PCI NIC
		{Name: "dummy"},
	}}
	plan, err := Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	b := plan.Bonds[0]
	if want := []string{"zz9", "mm0", "aa1"}; !slices.Equal(b.Members, want) {
		t.Errorf("members = %v, want %v", b.Members, want)
	}
	var dropped []string
	for _, d := range b.Decisions {
		if !d.Selected {
			dropped = append(dropped, d.NIC)
			if !strings.Contains(d.Reason, "max-members is 3") {
				t.Errorf("%s: reason %q does not mention max-members", d.NIC, d.Reason)
			}
		}
	}
	if want := []string{"dummy", "usb0"}; !slices.Equal(dropped, want) {
		t.Errorf("dropped = %v, want %v", dropped, want)
	}
}

func TestFirstBondInNameOrderWins(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    all: {match: {driver: "i40e"}}
    again: {match: {pci-id: "8086:1572"}}
  bonds:
    bond1: {interfaces: [again], min-members: 1}
    bond0: {interfaces: [all], max-members: 1}
`)
	inv := inventory.Inventory{Interfaces: []inventory.NIC{
		{Name: "a", PCIAddress: "0000:01:00.0", VendorID: "8086", DeviceID: "1572", Driver: "i40e"},
		{Name: "b", PCIAddress: "0000:01:00.1", VendorID: "8086", DeviceID: "1572", Driver: "i40e"},
	}}
	_, err := Select(cfg, inv)
	// bond0 is resolved first and takes both (max-members drops b, which is
	// not offered to bond1), so bond1 gets nothing.
	var se *SelectionError
	if !errors.As(err, &se) || se.Failures[0].Bond != "bond1" {
		t.Fatalf("err = %v, want bond1 short of members", err)
	}
	if !strings.Contains(err.Error(), "b: left out: already taken by bond0") {
		t.Errorf("error does not say b was taken by bond0:\n%v", err)
	}
}

func TestPrimary(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    fast: {match: {min-speed: 10000}}
    slow: {match: {max-speed: 1000}}
  bonds:
    bond0:
      interfaces: [fast, slow]
      parameters: {mode: active-backup, primary: slow}
`)
	inv := inventory.Inventory{Interfaces: []inventory.NIC{
		nic("x", "0000:01:00.0", 10000), nic("y", "0000:02:00.0", 1000), nic("z", "0000:03:00.0", 1000)}}
	plan, err := Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Bonds[0].Primary; got != "y" {
		t.Errorf("primary = %q, want y (the first member slow matches)", got)
	}
	// Without any slow NIC the primary cannot be honoured.
	_, err = Select(cfg, inventory.Inventory{Interfaces: []inventory.NIC{nic("x", "0000:01:00.0", 10000)}})
	if err == nil || !strings.Contains(err.Error(), "primary slow matches none of the members [x]") {
		t.Errorf("err = %v, want primary error", err)
	}
}

// An id without match is the interface name, as in netplan.
func TestPlainNetplanNames(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    eth1: {}
    eth0: {}
  bonds:
    bond0:
      interfaces: [eth1, eth0]
      parameters: {mode: 1}
`)
	plan, err := Select(cfg, loadInventory(t, "qemu-virtio-e1000"))
	if err != nil {
		t.Fatal(err)
	}
	b := plan.Bonds[0]
	if b.Mode != "active-backup" || !slices.Equal(b.Members, []string{"eth0", "eth1"}) {
		t.Errorf("bond = %s %v, want active-backup [eth0 eth1]", b.Mode, b.Members)
	}
}

func TestMinMembers(t *testing.T) {
	cfg := mustParse(t, `
network:
  version: 2
  ethernets:
    up: {match: {pci-id: "1af4:1000", carrier: true}}
  bonds:
    bond0: {interfaces: [up], min-members: 3}
`)
	_, err := Select(cfg, loadInventory(t, "qemu-virtio-e1000"))
	if err == nil {
		t.Fatal("Select succeeded with 2 of 3 required members")
	}
	for _, want := range []string{
		"bond bond0: 2 member(s) selected, min-members is 3",
		"eth0: selected: matches up (pci-id 1af4:1000, carrier)",
		"eth2: left out: matches no interface of the bond: up: pci-id 8086:100e matches none of 1af4:1000",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSelectDeterministic(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, string(data))
	inv := loadInventory(t, "supermicro-connectx")
	want, err := Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		shuffled := inventory.Inventory{Interfaces: slices.Clone(inv.Interfaces)}
		r.Shuffle(len(shuffled.Interfaces), func(a, b int) {
			shuffled.Interfaces[a], shuffled.Interfaces[b] = shuffled.Interfaces[b], shuffled.Interfaces[a]
		})
		got, err := Select(cfg, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("plan differs for inventory order %v", shuffled.Interfaces)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "fleet.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := mustParse(b, string(data))
	inv := loadInventory(b, "dell-r740-x710-bcm5720")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Select(cfg, inv); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBondPlanMAC(t *testing.T) {
	first := inventory.NIC{Name: "a", MAC: "02:00:00:00:00:99", PermanentMAC: "3c:fd:fe:a0:00:00"}
	b := BondPlan{MemberNICs: []inventory.NIC{first, {Name: "b", MAC: "3c:fd:fe:a0:00:01"}}}
	if got := b.MAC(); got != "3c:fd:fe:a0:00:00" {
		t.Errorf("MAC = %s, want the first member's permanent MAC", got)
	}
	b.MemberNICs[0].PermanentMAC = ""
	if got := b.MAC(); got != "02:00:00:00:00:99" {
		t.Errorf("MAC = %s, want the current MAC of a member without a permanent one", got)
	}
	b.Config.MACAddress = "02:aa:bb:cc:dd:ee"
	if got := b.MAC(); got != "02:aa:bb:cc:dd:ee" {
		t.Errorf("MAC = %s, want the config's macaddress", got)
	}
	if got := (BondPlan{}).MAC(); got != "" {
		t.Errorf("MAC of a bond without members = %q", got)
	}
}
