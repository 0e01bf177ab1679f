package netplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// BenchmarkParse measures reading the fleet config. It runs once per boot:
// the target is to stay under a millisecond on a slow core (seen: about
// 0.45 ms and 1000 allocations on this project's 2-core machines, most of it
// in the YAML library).
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "fleet.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("fleet.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// largeConfig has MaxBonds bonds; bond i takes the NICs named p<i>n*, or,
// with greedy, bond00 takes every NIC (max-members 2) and leaves the other
// bonds none.
func largeConfig(greedy bool) string {
	var b strings.Builder
	b.WriteString("network:\n  version: 2\n  ethernets:\n")
	for i := range MaxBonds {
		fmt.Fprintf(&b, "    g%02d: {match: {name: \"p%02dn*\"}}\n", i, i)
	}
	b.WriteString("    all: {match: {name: \"*\"}}\n  bonds:\n")
	for i := range MaxBonds {
		if greedy && i == 0 {
			b.WriteString("    bond00: {interfaces: [all], max-members: 2}\n")
			continue
		}
		fmt.Fprintf(&b, "    bond%02d: {interfaces: [g%02d]}\n", i, i)
	}
	return b.String()
}

// largeInventory is inventory.MaxNICs NICs, MaxNICs/MaxBonds per bond of
// largeConfig, with and without link.
func largeInventory() inventory.Inventory {
	nics := make([]inventory.NIC, 0, inventory.MaxNICs)
	per := inventory.MaxNICs / MaxBonds
	for i := range MaxBonds {
		for j := range per {
			n := i*per + j
			nics = append(nics, inventory.NIC{
				Name: fmt.Sprintf("p%02dn%03d", i, j), PCIAddress: fmt.Sprintf("0000:%02x:%02x.%d", n/256, n/8%32, n%8),
				MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", n/256, n%256), VendorID: "8086", DeviceID: "1572",
				Driver: "i40e", SpeedMbps: 10000 * (j % 2), Carrier: j%2 == 1,
			})
		}
	}
	return inventory.Inventory{Interfaces: nics}
}

// BenchmarkSelectLarge is selection at the limits: MaxBonds bonds over
// inventory.MaxNICs NICs. It reports allocations and the decisions the plan
// holds, which bound its memory; it asserts no time.
func BenchmarkSelectLarge(b *testing.B) {
	inv := largeInventory()
	for _, bc := range []struct {
		name   string
		greedy bool
	}{{"disjoint", false}, {"first-takes-all", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg, err := Parse("large.yaml", []byte(largeConfig(bc.greedy)))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			decisions := 0
			for b.Loop() {
				plan, err := Select(cfg, inv)
				var se *SelectionError
				switch {
				case err == nil:
					decisions = 0
					for _, bp := range plan.Bonds {
						decisions += len(bp.Decisions)
					}
				case bc.greedy && errors.As(err, &se):
					// Every bond but bond00 finds its NICs taken.
					decisions = 0
					for _, f := range se.Failures {
						decisions += len(f.Decisions)
					}
				default:
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(decisions), "decisions/op")
		})
	}
}

// The benchmark's inputs are what they claim: the limits, valid, and each
// bond gets its share.
func TestLargeSelectionInputs(t *testing.T) {
	inv := largeInventory()
	if len(inv.Interfaces) != inventory.MaxNICs {
		t.Fatalf("%d NICs, want %d", len(inv.Interfaces), inventory.MaxNICs)
	}
	raw, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.Parse("large.json", raw); err != nil {
		t.Fatalf("the inventory parser refuses the large inventory: %v", err)
	}
	if testing.Short() {
		return
	}
	cfg := mustParse(t, largeConfig(false))
	plan, err := Select(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Bonds) != MaxBonds {
		t.Fatalf("%d bonds", len(plan.Bonds))
	}
	per := inventory.MaxNICs / MaxBonds
	for _, bp := range plan.Bonds {
		// 802.3ad is not asked for: every NIC of the bond's group joins.
		if len(bp.Members) != per {
			t.Errorf("%s: %d members", bp.Name, len(bp.Members))
		}
		// Every other NIC is the earlier bonds' (taken) or matches no
		// interface of this one: all share the cap.
		if want := max(0, (MaxBonds-1)*per-MaxUnmatchedDecisions); bp.OmittedDecisions != want {
			t.Errorf("%s: %d decisions omitted, want %d", bp.Name, bp.OmittedDecisions, want)
		}
	}
	cfg = mustParse(t, largeConfig(true))
	if b := cfg.Network.Bonds["bond00"]; b.Interfaces[0] != "all" || *b.MaxMembers != 2 {
		t.Errorf("greedy bond00 = %+v", b)
	}
}
