package units

import (
	"path/filepath"
	"testing"
)

// BenchmarkRender renders the two-bond fleet case. It runs once per boot: the
// target is to stay well under a millisecond (seen: about 0.04 ms).
func BenchmarkRender(b *testing.B) {
	cfg, plan := planCase(b, filepath.Join("testdata", "yaml", "fleet-two-bonds"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(cfg, plan); err != nil {
			b.Fatal(err)
		}
	}
}
