// Package examples holds example configs; its test keeps them valid.
package examples

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bondstrap/bondstrap/netplan"
)

// Every example must pass validation, so the docs never show a config that
// bondstrap refuses.
func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		if _, err := netplan.Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// The README's YAML blocks must validate too.
func TestReadmeExamplesAreValid(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no YAML example")
	}
	for i, b := range blocks {
		if _, err := netplan.Parse(fmt.Sprintf("README.md block %d", i+1), b[1]); err != nil {
			t.Errorf("%v", err)
		}
	}
}
