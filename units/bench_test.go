package units

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/netplan"
)

// BenchmarkRender renders the two-bond fleet case. It runs once per boot: the
// target is to stay well under a millisecond (seen: about 0.04 ms).
func BenchmarkRender(b *testing.B) {
	dir := filepath.Join("testdata", "yaml", "fleet-two-bonds")
	data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := netplan.Parse("config.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "inventory.json"))
	if err != nil {
		b.Fatal(err)
	}
	var inv detect.Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		b.Fatal(err)
	}
	plan, err := netplan.Select(cfg, inv)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(cfg, plan); err != nil {
			b.Fatal(err)
		}
	}
}
