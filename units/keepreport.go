package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// KeepReportUnit is the runtime unit KeepReport writes: on the booted
// root, it copies the report an initramfs wrote in /run into
// /var/lib/bondstrap.
const KeepReportUnit = "bondstrap-keep-report.service"

// KeptReportPath is where the booted system keeps the report (absolute, on
// the target root).
const KeptReportPath = "/var/lib/bondstrap/report.json"

// KeepReport makes the system booted after an initramfs copy the report at
// reportPath (under /run, which switch_root hands over) to KeptReportPath:
// a oneshot unit in root's /run/systemd/system, wanted by
// multi-user.target, as EnableNetworkd makes networkd run for this boot.
// An initramfs cannot copy the report itself: the real root is not mounted
// yet when bondstrap runs, and read-only when the initramfs leaves it. It
// returns the paths it wrote, relative to root.
func KeepReport(root, reportPath string) ([]string, error) {
	if !strings.HasPrefix(reportPath, "/run/") || path.Clean(reportPath) != reportPath ||
		strings.ContainsFunc(reportPath, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-", r))
		}) {
		return nil, fmt.Errorf("keep report: %q: want a plain path under /run (letters, digits, / . _ -), which survives switch_root", reportPath)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("keep report: %w", err)
	}
	defer r.Close()
	unit := fmt.Sprintf(`# Written by bondstrap apply --runtime, for this boot only: the report of the
# initramfs's run, kept in the booted root (/run ends with the boot).
[Unit]
Description=Keep bondstrap's initramfs report in %[2]s
ConditionPathExists=%[1]s
RequiresMountsFor=%[3]s
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/bin/install -D -m 0644 %[1]s %[2]s
`, reportPath, KeptReportPath, path.Dir(KeptReportPath))
	unitRel := path.Join(Runtime.Wants, KeepReportUnit)
	link := path.Join(Runtime.Wants, "multi-user.target.wants", KeepReportUnit)
	if err := mkdirAll(r, path.Dir(link)); err != nil {
		return nil, fmt.Errorf("keep report: %w", err)
	}
	var written []string
	same, err := sameFile(r, unitRel, []byte(unit))
	if err != nil {
		return nil, fmt.Errorf("keep report: %w", err)
	}
	if !same {
		tmp, err := writeTemp(r, unitRel, []byte(unit))
		if err != nil {
			return nil, fmt.Errorf("keep report: %w", err)
		}
		if err := r.Rename(tmp, unitRel); err != nil {
			_ = r.Remove(tmp)
			return nil, fmt.Errorf("keep report: %w", err)
		}
		written = append(written, unitRel)
	}
	if _, err := r.Lstat(link); errors.Is(err, fs.ErrNotExist) {
		if err := r.Symlink("/"+unitRel, link); err != nil {
			return written, fmt.Errorf("keep report: %w", err)
		}
		written = append(written, link)
	} else if err != nil {
		return written, fmt.Errorf("keep report: %w", err)
	}
	if err := syncDir(r, Runtime.Wants); err != nil {
		return written, fmt.Errorf("keep report: %w", err)
	}
	return written, nil
}
