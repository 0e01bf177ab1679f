package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestKernelInVM runs detect/kernel's namespace tests for VLANs, bridges,
// IPv6 settings, LRO and renames inside a guest on Debian's kernel, which
// has what this host's kernel lacks (802.1Q, bonding) and is the kernel
// bondstrap boots with. The guest is the Debian root (the test initramfs
// has no veth and no bridge module; the root loads modules on demand): the
// package's test binary is written into it, and runs with iproute2 as its
// independent reader. Every test it names must pass there; a skip fails.
func TestKernelInVM(t *testing.T) {
	root := vm.RequireRoot(t)
	bin := filepath.Join(t.TempDir(), "kernel.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "github.com/bondstrap/bondstrap/detect/kernel")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	disk, err := vm.NewRootDisk(ctx, root, t.TempDir(),
		[]initrd.File{{Path: "/usr/local/bin/kernel.test", Data: data, Mode: 0o755}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := vm.New(t, vm.Config{NICs: []vm.NIC{vm.Virtio(10000)}, Root: disk, MemoryMB: 1024})

	tests := []string{"TestBridgeCreateChangeUndo", "TestBridgeRangesAreTheKernels", "TestBridgePort",
		"TestRestoreBridgePorts", "TestRename", "TestLRO", "TestIPv6Settings", "TestCreateVLAN", "TestGuestStackOnBond",
		"TestRestoreAfterDownAndEnslave"}
	r, err := v.Exec(ctx, "uname -r; cd /tmp && BONDSTRAP_KERNEL_GUEST=1 /usr/local/bin/kernel.test -test.v -test.count=1 -test.run '^("+strings.Join(tests, "|")+")$'")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest (exit %d):\n%s%s", r.Exit, r.Stdout, r.Stderr)
	if r.Exit != 0 {
		t.Errorf("the kernel tests failed in the guest")
	}
	passed := regexp.MustCompile(`(?m)^--- PASS: (\w+)`).FindAllStringSubmatch(r.Stdout, -1)
	for _, name := range tests {
		if !slices.ContainsFunc(passed, func(m []string) bool { return m[1] == name }) {
			t.Errorf("%s did not pass in the guest", name)
		}
	}
	if strings.Contains(r.Stdout, "--- SKIP") {
		t.Errorf("a test skipped in the guest")
	}
	if !strings.Contains(r.Stdout, "ip(8) can make a VLAN: true") {
		t.Errorf("TestCreateVLAN did not make a VLAN in the guest")
	}
}
