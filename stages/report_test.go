package stages

import (
	"encoding/json"
	"os"
	"path/filepath"
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

func TestPeakRSS(t *testing.T) {
	if got := peakRSS("/proc/self/status"); got <= 0 {
		t.Errorf("peakRSS of this process = %d KiB", got)
	}
	status := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(status, []byte("Name:\tbondstrap\nVmPeak:\t 1266740 kB\nVmHWM:\t    9528 kB\nVmRSS:\t 9100 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := peakRSS(status); got != 9528 {
		t.Errorf("peakRSS = %d, want 9528", got)
	}
	if got := peakRSS(filepath.Join(t.TempDir(), "none")); got != 0 {
		t.Errorf("peakRSS of a missing file = %d", got)
	}
}
