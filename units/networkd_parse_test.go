package units

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// parseComplaint is how networkd names a file it could not read whole: the
// file, the line, then what it ignored ("Unknown key", "Failed to parse
// ..., ignoring").
var parseComplaint = regexp.MustCompile(`(?m)^/run/systemd/network/[^:]+:[0-9]+: .*$`)

// TestGoldenParsedByNetworkd has this host's systemd-networkd read every
// golden .netdev and .network file, and fails on each complaint: an unknown
// key or section, or a value it cannot parse and so ignores (which
// TestGoldenKeysKnownToNetworkd, checking key names alone, cannot see).
// networkd runs for a moment in a network namespace and a mount namespace
// of its own, with the golden files as its /run/systemd/network and no
// D-Bus, so nothing it does reaches this host.
func TestGoldenParsedByNetworkd(t *testing.T) {
	const networkd = "/lib/systemd/systemd-networkd"
	if _, err := os.Stat(networkd); err != nil {
		t.Skipf("no systemd-networkd to check against: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network and mount namespaces")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("no unshare: %v", err)
	}
	dirs, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	// One directory: each file prefixed with its case, so that names do
	// not collide (networkd reads them all; devices of the same name
	// are created once, which does not matter here).
	units := t.TempDir()
	n := 0
	for _, dir := range dirs {
		for _, ext := range []string{"*.netdev", "*.network"} {
			files, err := filepath.Glob(filepath.Join(dir, ext))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				content, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				name := "10-" + filepath.Base(dir) + "-" + strings.TrimPrefix(filepath.Base(f), Prefix)
				if err := os.WriteFile(filepath.Join(units, name), content, 0o644); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
	if err := os.Chmod(units, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := `mount -t tmpfs tmpfs /run/systemd/netif 2>/dev/null || { mkdir -p /run/systemd/netif && mount -t tmpfs tmpfs /run/systemd/netif; }
mkdir -p /run/systemd/network /run/dbus && mount --bind "$1" /run/systemd/network && mount -t tmpfs tmpfs /run/dbus
ip link set lo up
SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=debug timeout 3 "$0" || true`
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--net", "--propagation", "private", "/bin/sh", "-ec", script, networkd, units)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("running networkd: %v\n%s", err, out.String())
	}
	// networkd says it loaded each netdev it read; none means it read
	// nothing, and its silence would prove nothing.
	if !strings.Contains(out.String(), `loaded "bond"`) {
		t.Fatalf("networkd read no .netdev:\n%s", out.String())
	}
	for _, c := range parseComplaint.FindAllString(out.String(), -1) {
		t.Error(c)
	}
	t.Logf("networkd read %d golden files", n)
}
