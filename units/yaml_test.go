package units

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/bondstrap/bondstrap/netplan"
)

// TestGoldenFromYAML runs the whole pure pipeline on each
// testdata/yaml/<case>/{config.yaml,inventory.json}: netplan.Parse,
// netplan.Select, Render, and compares with testdata/golden/yaml-<case>.
func TestGoldenFromYAML(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "yaml", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no YAML cases: %v", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cfg, plan := planCase(t, dir)
			files, err := Render(cfg, plan)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden", "yaml-"+name), files)
		})
	}
}

// planCase parses dir/config.yaml and selects from dir/inventory.json: the
// pure pipeline up to Render.
func planCase(tb testing.TB, dir string) (*netplan.Config, *netplan.Plan) {
	tb.Helper()
	file := filepath.Join(dir, "config.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := netplan.Parse(file, data)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "inventory.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var inv inventory.Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		tb.Fatal(err)
	}
	plan, err := netplan.Select(cfg, inv)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg, plan
}
