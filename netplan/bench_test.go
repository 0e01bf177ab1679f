package netplan

import (
	"os"
	"path/filepath"
	"testing"
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
