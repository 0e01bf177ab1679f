package stages

import (
	"encoding/json"
	"testing"
	"time"
)

// TestMillisRoundTrip checks that a report read back from its JSON holds the
// durations it was written with (tests and `down` read report.json).
func TestMillisRoundTrip(t *testing.T) {
	in := LACPReport{Took: Millis(1234 * time.Millisecond)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out LACPReport
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Took != in.Took {
		t.Errorf("took %v written as %s, read back as %v", time.Duration(in.Took), b, time.Duration(out.Took))
	}
	if err := json.Unmarshal([]byte(`{"took_ms":"soon"}`), &out); err == nil {
		t.Error(`took_ms "soon" was accepted`)
	}
}
