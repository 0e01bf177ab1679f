package netplan

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLint checks one config against the saved inventory of every hardware
// model in the test data (eight models), as `plan --inventory DIR` does: the
// model whose fast NICs have no link fails, naming the bond; the others get
// their bonds.
func TestLint(t *testing.T) {
	cfg := mustParse(t, string(mustRead(t, filepath.Join("testdata", "fleet.yaml"))))
	files, err := filepath.Glob(filepath.Join("testdata", "inventories", "*.json"))
	if err != nil || len(files) < 7 {
		t.Fatalf("inventories: %v, %v", files, err)
	}
	var models []Model
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		models = append(models, Model{Name: name, Inventory: loadInventory(t, name)})
	}
	r := Lint(cfg, models)
	if len(r.Models) != len(files) {
		t.Fatalf("%d model reports for %d inventories", len(r.Models), len(files))
	}
	var failed []string
	for _, m := range r.Models {
		if m.OK != (m.Plan != nil) || m.OK == (len(m.Failures) > 0) {
			t.Errorf("%s: ok %t with plan %v and failures %v", m.Model, m.OK, m.Plan != nil, m.Failures)
		}
		if !m.OK {
			failed = append(failed, m.Model)
			continue
		}
		if len(m.Plan.Bonds) != 2 {
			t.Errorf("%s: %d bonds planned", m.Model, len(m.Plan.Bonds))
		}
	}
	if want := []string{"ixgbe-no-link"}; !slices.Equal(failed, want) || r.Failed != 1 {
		t.Fatalf("failed models %v (count %d), want %v", failed, r.Failed, want)
	}
	for _, m := range r.Models {
		if m.Model != "ixgbe-no-link" {
			continue
		}
		if len(m.Failures) == 0 || m.Failures[0].Interface != "bond1" || m.Failures[0].Kind != KindBond ||
			!strings.Contains(m.Failures[0].Problem, "min-members") {
			t.Errorf("ixgbe-no-link: failures %+v, want bond1 short of min-members (no on-board port has link)", m.Failures)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
