// Package examples holds example configs; its test keeps them valid.
package examples

import (
	"path/filepath"
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
