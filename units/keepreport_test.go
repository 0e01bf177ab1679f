package units

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestKeepReport(t *testing.T) {
	root := t.TempDir()
	made, err := KeepReport(root, "/run/bondstrap/report.json")
	want := []string{"run/systemd/system/" + KeepReportUnit, "run/systemd/system/multi-user.target.wants/" + KeepReportUnit}
	if err != nil || !slices.Equal(made, want) {
		t.Fatalf("KeepReport = %q, %v; want %q", made, err, want)
	}
	if target, err := os.Readlink(filepath.Join(root, want[1])); err != nil || target != "/"+want[0] {
		t.Errorf("link to %q, %v", target, err)
	}
	unit, _ := os.ReadFile(filepath.Join(root, want[0]))
	for _, line := range []string{"ConditionPathExists=/run/bondstrap/report.json\n", "RequiresMountsFor=/var/lib/bondstrap\n",
		"Type=oneshot\n", "ExecStart=/usr/bin/install -D -m 0644 /run/bondstrap/report.json /var/lib/bondstrap/report.json\n"} {
		if !strings.Contains(string(unit), line) {
			t.Errorf("unit lacks %q:\n%s", line, unit)
		}
	}
	// Again: nothing to write.
	if made, err := KeepReport(root, "/run/bondstrap/report.json"); err != nil || len(made) != 0 {
		t.Errorf("second KeepReport = %q, %v", made, err)
	}
	// Paths that do not survive switch_root, or that a unit line would
	// split, are refused before anything is written.
	for _, bad := range []string{"/tmp/report.json", "/run/../etc/report.json", "/run/my report.json", "run/report.json", "/run/a;b"} {
		empty := t.TempDir()
		if _, err := KeepReport(empty, bad); err == nil || !strings.Contains(err.Error(), "under /run") {
			t.Errorf("KeepReport(%q) = %v", bad, err)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("KeepReport(%q) left %d entries", bad, len(entries))
		}
	}
}
