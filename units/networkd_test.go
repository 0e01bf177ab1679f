package units

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// networkdUnits are the units of systemd-networkd that Debian 12 ships.
var networkdUnits = []string{
	"systemd-networkd.service", "systemd-networkd.socket",
	"systemd-network-generator.service", "systemd-networkd-wait-online.service",
}

// fakeRoot returns a root directory whose dir (such as lib/systemd/system)
// holds units.
func fakeRoot(t *testing.T, dir string, units ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if err := os.WriteFile(filepath.Join(root, dir, u), []byte("[Unit]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// links returns every symbolic link under root and its target.
func links(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			r, _ := filepath.Rel(root, p)
			target, err := os.Readlink(p)
			out[r] = target
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// enableLinksFor are the links `systemctl enable systemd-networkd` makes in
// wants for units under unitDir (an absolute path on the target).
func enableLinksFor(wants, unitDir string) map[string]string {
	return map[string]string{
		wants + "/multi-user.target.wants/systemd-networkd.service":                 unitDir + "/systemd-networkd.service",
		wants + "/dbus-org.freedesktop.network1.service":                            unitDir + "/systemd-networkd.service",
		wants + "/sockets.target.wants/systemd-networkd.socket":                     unitDir + "/systemd-networkd.socket",
		wants + "/sysinit.target.wants/systemd-network-generator.service":           unitDir + "/systemd-network-generator.service",
		wants + "/network-online.target.wants/systemd-networkd-wait-online.service": unitDir + "/systemd-networkd-wait-online.service",
	}
}

func TestEnableNetworkdNotInstalled(t *testing.T) {
	// Only the socket, not the service: still not installed.
	for _, root := range []string{t.TempDir(), fakeRoot(t, "lib/systemd/system", "systemd-networkd.socket", "getty.service")} {
		state, made, err := EnableNetworkd(root, Persistent)
		if err != nil || state != NetworkdNotInstalled || len(made) != 0 {
			t.Errorf("EnableNetworkd = %q, %q, %v; want not-installed", state, made, err)
		}
		if l := links(t, root); len(l) != 0 {
			t.Errorf("links made: %v", l)
		}
		if _, err := os.Stat(filepath.Join(root, Persistent.Wants)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s created: %v", Persistent.Wants, err)
		}
	}
}

func TestEnableNetworkdPersistent(t *testing.T) {
	for _, dir := range []string{"lib/systemd/system", "usr/lib/systemd/system"} {
		t.Run(dir, func(t *testing.T) {
			root := fakeRoot(t, dir, networkdUnits...)
			state, made, err := EnableNetworkd(root, Persistent)
			if err != nil || state != NetworkdEnabled {
				t.Fatalf("EnableNetworkd = %q, %v; want enabled", state, err)
			}
			want := enableLinksFor(Persistent.Wants, "/"+dir)
			if got := links(t, root); !maps.Equal(got, want) {
				t.Errorf("links\n%v\nwant\n%v", got, want)
			}
			if got, want := slices.Sorted(slices.Values(made)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, want) {
				t.Errorf("made %q, want %q", got, want)
			}
			// Every link resolves under root, as on the booted system.
			for l, target := range want {
				fi, err := os.Stat(filepath.Join(root, target))
				if err != nil || !fi.Mode().IsRegular() {
					t.Errorf("%s -> %s does not resolve under root: %v", l, target, err)
				}
			}
			for _, d := range []string{"etc/systemd/system/multi-user.target.wants", "etc/systemd/system/sockets.target.wants"} {
				if fi, err := os.Stat(filepath.Join(root, d)); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("%s: %v, %v", d, fi, err)
				}
			}

			// Again: nothing to do.
			state, made, err = EnableNetworkd(root, Persistent)
			if err != nil || state != NetworkdAlreadyEnabled || len(made) != 0 {
				t.Errorf("second EnableNetworkd = %q, %q, %v; want already-enabled", state, made, err)
			}
			if got := links(t, root); !maps.Equal(got, want) {
				t.Errorf("second call changed links: %v", got)
			}
		})
	}
}

func TestEnableNetworkdOnlyWhatIsInstalled(t *testing.T) {
	// A root without the generator and wait-online (older or trimmed
	// packages): links only to units that exist.
	root := fakeRoot(t, "lib/systemd/system", "systemd-networkd.service", "systemd-networkd.socket")
	state, _, err := EnableNetworkd(root, Persistent)
	if err != nil || state != NetworkdEnabled {
		t.Fatalf("EnableNetworkd = %q, %v", state, err)
	}
	want := enableLinksFor(Persistent.Wants, "/lib/systemd/system")
	delete(want, Persistent.Wants+"/sysinit.target.wants/systemd-network-generator.service")
	delete(want, Persistent.Wants+"/network-online.target.wants/systemd-networkd-wait-online.service")
	if got := links(t, root); !maps.Equal(got, want) {
		t.Errorf("links\n%v\nwant\n%v", got, want)
	}
}

func TestEnableNetworkdPartlyEnabled(t *testing.T) {
	// The socket is enabled already (and points elsewhere): it is left as it
	// is, the rest is made.
	root := fakeRoot(t, "lib/systemd/system", networkdUnits...)
	sock := filepath.Join(root, Persistent.Wants, "sockets.target.wants", "systemd-networkd.socket")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/systemd/system/systemd-networkd.socket", sock); err != nil {
		t.Fatal(err)
	}
	state, made, err := EnableNetworkd(root, Persistent)
	if err != nil || state != NetworkdEnabled || len(made) != 4 {
		t.Fatalf("EnableNetworkd = %q, %q, %v", state, made, err)
	}
	if target, _ := os.Readlink(sock); target != "/usr/lib/systemd/system/systemd-networkd.socket" {
		t.Errorf("existing link rewritten to %s", target)
	}
}

func TestEnableNetworkdMasked(t *testing.T) {
	for _, wants := range []string{Persistent.Wants, Runtime.Wants} {
		for _, l := range []Layout{Persistent, Runtime} {
			t.Run(wants+"/"+l.Wants, func(t *testing.T) {
				root := fakeRoot(t, "lib/systemd/system", networkdUnits...)
				mask := filepath.Join(root, wants, "systemd-networkd.service")
				if err := os.MkdirAll(filepath.Dir(mask), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/dev/null", mask); err != nil {
					t.Fatal(err)
				}
				before := links(t, root)
				state, made, err := EnableNetworkd(root, l)
				if err != nil || state != NetworkdMasked || len(made) != 0 {
					t.Errorf("EnableNetworkd = %q, %q, %v; want masked", state, made, err)
				}
				if got := links(t, root); !maps.Equal(got, before) {
					t.Errorf("links changed: %v", got)
				}
			})
		}
	}
}

func TestEnableNetworkdRuntime(t *testing.T) {
	// An initramfs: the real root's units are not under root, the links are
	// made for the real root to find in /run.
	root := t.TempDir()
	state, made, err := EnableNetworkd(root, Runtime)
	if err != nil || state != NetworkdEnabled {
		t.Fatalf("EnableNetworkd = %q, %v", state, err)
	}
	want := map[string]string{
		"run/systemd/system/multi-user.target.wants/systemd-networkd.service": "/lib/systemd/system/systemd-networkd.service",
		"run/systemd/system/sockets.target.wants/systemd-networkd.socket":     "/lib/systemd/system/systemd-networkd.socket",
	}
	if got := links(t, root); !maps.Equal(got, want) {
		t.Errorf("links\n%v\nwant\n%v", got, want)
	}
	if got := slices.Sorted(slices.Values(made)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Errorf("made %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("runtime enable touched etc: %v", err)
	}
	state, made, err = EnableNetworkd(root, Runtime)
	if err != nil || state != NetworkdAlreadyEnabled || len(made) != 0 {
		t.Errorf("second EnableNetworkd = %q, %q, %v; want already-enabled", state, made, err)
	}

	// Where root has the units (under /usr/lib), the links point to them.
	root = fakeRoot(t, "usr/lib/systemd/system", networkdUnits...)
	if state, _, err := EnableNetworkd(root, Runtime); err != nil || state != NetworkdEnabled {
		t.Fatalf("EnableNetworkd = %q, %v", state, err)
	}
	want = map[string]string{
		"run/systemd/system/multi-user.target.wants/systemd-networkd.service": "/usr/lib/systemd/system/systemd-networkd.service",
		"run/systemd/system/sockets.target.wants/systemd-networkd.socket":     "/usr/lib/systemd/system/systemd-networkd.socket",
	}
	if got := links(t, root); !maps.Equal(got, want) {
		t.Errorf("links\n%v\nwant\n%v", got, want)
	}
}

func TestEnableNetworkdStaysInsideRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "lib/systemd/system"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range networkdUnits {
		if err := os.WriteFile(filepath.Join(root, "lib/systemd/system", u), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	if state, made, err := EnableNetworkd(root, Persistent); err == nil {
		t.Errorf("EnableNetworkd through a symlink out of root = %q, %q", state, made)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("links appeared outside the root: %v", entries)
	}
}
