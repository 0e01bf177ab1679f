package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: any input either fails with an *InventoryError that names the
// file, or parses into an inventory that is valid and survives the trip
// through its own JSON unchanged (what `detect -o json` writes, `--inventory`
// reads).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	more, _ := filepath.Glob(filepath.Join("..", "..", "netplan", "testdata", "inventories", "*.json"))
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"interfaces":[{"name":"eth0","mac":"52:54:00:12:34:01"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse("fuzz.json", data)
		if err != nil {
			ie, ok := err.(*InventoryError)
			if !ok || ie.File != "fuzz.json" {
				t.Fatalf("error %v (%T) does not name the file", err, err)
			}
			return
		}
		if len(inv.Interfaces) > MaxNICs {
			t.Fatalf("%d NICs, over the limit %d", len(inv.Interfaces), MaxNICs)
		}
		out, err := json.Marshal(inv)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse("again.json", out)
		if err != nil {
			t.Fatalf("its own JSON does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(inv, again) {
			t.Fatalf("changed through JSON:\n%+v\n%+v", inv, again)
		}
	})
}
