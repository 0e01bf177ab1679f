package netplan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// A parsed config written as JSON reads back to the same parameters: the
// plan and the report carry them.
func TestBondParametersJSONRoundTrip(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "good", "every-parameter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("every-parameter.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range cfg.Network.Bonds {
		if b.Parameters == nil {
			continue
		}
		out, err := json.Marshal(b.Parameters)
		if err != nil {
			t.Fatal(err)
		}
		var back BondParameters
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(*b.Parameters, back) {
			t.Errorf("%s: changed through JSON:\n%+v\n%+v\n%s", name, *b.Parameters, back, out)
		}
	}
}
