package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
)

// NetworkdState says whether systemd-networkd will run on the target system
// and keep what bondstrap persisted (renew the DHCP lease, bring the bonds
// back).
type NetworkdState string

// States EnableNetworkd reports.
const (
	// NetworkdEnabled: bondstrap enabled it.
	NetworkdEnabled NetworkdState = "enabled"
	// NetworkdAlreadyEnabled: it was enabled before.
	NetworkdAlreadyEnabled NetworkdState = "already-enabled"
	// NetworkdNotInstalled: the target has no systemd-networkd; nothing
	// renews a DHCP lease once bondstrap exits.
	NetworkdNotInstalled NetworkdState = "not-installed"
	// NetworkdMasked: an administrator masked it; bondstrap leaves that be.
	NetworkdMasked NetworkdState = "masked"
)

// unitDirs are where a Debian or RHEL root keeps its packaged units (merged
// /usr or not).
var unitDirs = []string{"lib/systemd/system", "usr/lib/systemd/system"}

// enableLinks are the symbolic links `systemctl enable systemd-networkd`
// makes (its [Install] section and Also=), by unit.
var enableLinks = []struct{ unit, link string }{
	{"systemd-networkd.service", "multi-user.target.wants/systemd-networkd.service"},
	{"systemd-networkd.service", "dbus-org.freedesktop.network1.service"},
	{"systemd-networkd.socket", "sockets.target.wants/systemd-networkd.socket"},
	{"systemd-network-generator.service", "sysinit.target.wants/systemd-network-generator.service"},
	{"systemd-networkd-wait-online.service", "network-online.target.wants/systemd-networkd-wait-online.service"},
}

// runtimeLinks are what `systemctl --runtime enable` needs for this boot: the
// service (and, added in EnableNetworkd, its socket).
var runtimeLinks = enableLinks[:1:1]

// EnableNetworkd makes systemd-networkd run on the system under root, as
// `systemctl enable systemd-networkd` would (with the Runtime layout, as
// `systemctl --runtime enable`, for this boot only), and returns what it
// found and the links it made, relative to root. With the Persistent layout
// it checks that root has the units first; with Runtime, root is the
// initramfs, which does not hold the real root's units: the links are made
// for the real root to find.
func EnableNetworkd(root string, l Layout) (NetworkdState, []string, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", nil, fmt.Errorf("enable networkd: %w", err)
	}
	defer r.Close()
	runtime := l == Runtime
	links := enableLinks
	if runtime {
		links = append(runtimeLinks, enableLinks[2])
	}
	// Masked (a link to /dev/null in /etc or /run): an administrator's word.
	for _, dir := range []string{Persistent.Wants, Runtime.Wants} {
		if t, err := r.Readlink(path.Join(dir, "systemd-networkd.service")); err == nil && t == "/dev/null" {
			return NetworkdMasked, nil, nil
		}
	}
	if !runtime {
		if _, ok := unitPath(r, "systemd-networkd.service"); !ok {
			return NetworkdNotInstalled, nil, nil
		}
	}
	var made []string
	for _, e := range links {
		target, ok := unitPath(r, e.unit)
		if !ok {
			if !runtime {
				continue // an optional unit this root lacks
			}
			target = "/lib/systemd/system/" + e.unit
		}
		link := path.Join(l.Wants, e.link)
		if _, err := r.Lstat(link); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", made, fmt.Errorf("enable networkd: %w", err)
		}
		if err := mkdirAll(r, path.Dir(link)); err != nil {
			return "", made, fmt.Errorf("enable networkd: %w", err)
		}
		if err := r.Symlink(target, link); err != nil {
			return "", made, fmt.Errorf("enable networkd: %w", err)
		}
		made = append(made, link)
	}
	if len(made) > 0 {
		if err := syncDir(r, l.Wants); err != nil {
			return "", made, fmt.Errorf("enable networkd: %w", err)
		}
	}
	if _, err := r.Lstat(path.Join(l.Wants, enableLinks[0].link)); err != nil {
		return "", made, fmt.Errorf("enable networkd: %w", err)
	}
	if len(made) == 0 {
		return NetworkdAlreadyEnabled, nil, nil
	}
	return NetworkdEnabled, made, nil
}

// unitPath returns the absolute path, on the target system, of a packaged
// unit, if root has it.
func unitPath(r *os.Root, unit string) (string, bool) {
	for _, dir := range unitDirs {
		if fi, err := r.Stat(path.Join(dir, unit)); err == nil && fi.Mode().IsRegular() {
			return "/" + path.Join(dir, unit), true
		}
	}
	return "", false
}
