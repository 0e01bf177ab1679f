package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/initramfs/testinitrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestInitramfsToolsHook installs bondstrap's initramfs-tools hook and init-premount
// script in the Debian root as an administrator would, runs update-initramfs in a
// chroot, and boots Debian's initrd built that way: bondstrap bonds the two virtio NICs
// before the root is mounted, and systemd-networkd in the root takes the bond over
// from the units bondstrap left in /run/systemd/network.
func TestInitramfsToolsHook(t *testing.T) {
	root := vm.RequireRoot(t)
	bin := vm.BondstrapBinary(t)
	repo, err := vm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(repo, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := vm.CopyRootTree(ctx, root, tree); err != nil {
		t.Fatal(err)
	}
	if err := vm.WriteTreeFiles(tree, []testinitrd.File{
		{Path: "/usr/bin/bondstrap", Data: binData, Mode: 0o755},
		{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte(rebootConfig), Mode: 0o644},
		{Path: "/etc/initramfs-tools/hooks/bondstrap", Data: read("initramfs/initramfs-tools/hooks/bondstrap"), Mode: 0o755},
		{Path: "/etc/initramfs-tools/scripts/init-premount/bondstrap", Data: read("initramfs/initramfs-tools/scripts/init-premount/bondstrap"), Mode: 0o755},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := vm.Chroot(ctx, tree, "update-initramfs", "-u", "-k", root.Release)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("update-initramfs:\n%s", out)
	if strings.Contains(out, "bondstrap") {
		t.Errorf("update-initramfs complains about bondstrap:\n%s", out)
	}
	list, err := vm.Chroot(ctx, tree, "lsinitramfs", "/boot/initrd.img-"+root.Release)
	if err != nil {
		t.Fatal(err)
	}
	files := strings.Fields(list)
	for _, want := range []string{"usr/bin/bondstrap", "etc/bondstrap/bondstrap.yaml", "scripts/init-premount/bondstrap"} {
		if !slices.Contains(files, want) {
			t.Errorf("the initrd lacks %s", want)
		}
	}
	if !strings.Contains(list, "/bonding.ko") || !strings.Contains(list, "/virtio_net.ko") {
		t.Errorf("the initrd lacks the bonding or virtio_net module")
	}
	disk, err := vm.NewTreeDisk(ctx, tree, dir, root.Release)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initrd and root disk made in %v", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	v := vm.New(t, vm.Config{
		NICs:     []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		MemoryMB: 1024,
		Root:     disk,
	})
	members := []string{v.Iface(0), v.Iface(1)}
	slices.Sort(members)
	waitBooted(ctx, t, v)

	// Nothing in the root runs bondstrap: its report and units in /run come from the
	// initramfs (initramfs-tools moves /run into the root).
	v.MustRun(t, "test ! -e /etc/systemd/system/bondstrap-firstboot.service && test ! -e /lib/systemd/system/bondstrap-firstboot.service")
	provisioned := readReport(t, v, "initramfs boot")
	// The report predates the root's systemd (no systemd runs in this initrd).
	times := strings.Fields(v.MustRun(t, "stat -c %Y /run/bondstrap/report.json; systemctl show -p UserspaceTimestamp --timestamp=unix --value"))
	if len(times) != 2 {
		t.Fatalf("report and userspace times: %q", times)
	}
	reported, err1 := strconv.ParseInt(times[0], 10, 64)
	userspace, err2 := strconv.ParseInt(strings.TrimPrefix(times[1], "@"), 10, 64)
	if err1 != nil || err2 != nil || reported > userspace {
		t.Errorf("report.json written at %s, systemd started at %s: not in the initramfs", times[0], times[1])
	}
	runUnits := strings.Fields(v.MustRun(t, "cd /run/systemd/network && ls"))
	for _, want := range []string{"10-bondstrap-bond0.netdev", "10-bondstrap-bond0.network"} {
		if !slices.Contains(runUnits, want) {
			t.Errorf("/run/systemd/network has %v, lacks %s", runUnits, want)
		}
	}
	if out := v.MustRun(t, "ls /etc/systemd/network"); strings.Contains(out, "bondstrap") {
		t.Errorf("the initramfs wrote into the root's /etc/systemd/network: %s", out)
	}
	got := readBond(ctx, t, v, "initramfs boot")
	checkBond(t, "initramfs boot", got, members, v)
	if provisioned.MAC != got.MAC || provisioned.ClientID != got.Lease.ClientID || provisioned.Addr != got.Addr {
		t.Errorf("bondstrap provisioned bond0 in the initramfs with MAC %s, client id %s, %v; systemd-networkd runs it with MAC %s, client id %s, %v",
			provisioned.MAC, provisioned.ClientID, provisioned.Addr, got.MAC, got.Lease.ClientID, got.Addr)
	}
	t.Logf("bonded in the initramfs, run by systemd-networkd: bond0 %s over %v, %s via %s",
		got.MAC, got.Members, got.Addr, got.Gateway)
}
