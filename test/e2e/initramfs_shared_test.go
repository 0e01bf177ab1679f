package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// The tests of bondstrap's initramfs integrations (initramfs-tools, dracut) share
// these: a copy of the Debian root to install into from a chroot, and the checks that
// bondstrap bonded in the initramfs and systemd-networkd took the bond over.

// installTree is a copy of the cached Debian root, with bondstrap and its config
// installed, for a test to change in a chroot and boot.
type installTree struct {
	Root vm.RootPaths
	Dir  string // the test's directory, for the tree and its disk
	Path string // the tree
}

// newInstallTree copies the cached Debian root into a directory of the test and
// writes /usr/bin/bondstrap (the static build), /etc/bondstrap/bondstrap.yaml
// (rebootConfig) and files into it.
func newInstallTree(ctx context.Context, t *testing.T, files ...initrd.File) *installTree {
	t.Helper()
	root := vm.RequireRoot(t)
	bin, err := os.ReadFile(vm.BondstrapBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := &installTree{Root: root, Dir: dir, Path: filepath.Join(dir, "tree")}
	if err := vm.CopyRootTree(ctx, root, tr.Path); err != nil {
		t.Fatal(err)
	}
	files = append([]initrd.File{
		{Path: "/usr/bin/bondstrap", Data: bin, Mode: 0o755},
		{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte(rebootConfig), Mode: 0o644},
	}, files...)
	if err := vm.WriteTreeFiles(tr.Path, files); err != nil {
		t.Fatal(err)
	}
	return tr
}

// Chroot runs a command in the tree, failing the test when it fails.
func (tr *installTree) Chroot(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := vm.Chroot(ctx, tr.Path, args...)
	if err != nil {
		t.Fatal(err) // the error carries the output
	}
	return out
}

// Disk makes the root disk of the tree, booted by its kernel and the initrd in its
// /boot.
func (tr *installTree) Disk(ctx context.Context, t *testing.T) *vm.Root {
	t.Helper()
	disk, err := vm.NewTreeDisk(ctx, tr.Path, tr.Dir, tr.Root.Release)
	if err != nil {
		t.Fatal(err)
	}
	return disk
}

// repoFile returns a file of the repository, by its path from the repository's root.
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	repo, err := vm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repo, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkInitramfsBond checks a booted root whose initramfs ran bondstrap, and nothing
// in the root did: the report in /run/bondstrap is the initramfs run's (apply
// --runtime: units written under /run/systemd/network) and older than the root's
// systemd, the units are in /run/systemd/network and not in /etc, systemd-networkd is
// enabled for this boot in /run/systemd/system, and it runs bond0 over the two virtio
// NICs with the MAC and lease that bondstrap provisioned. It returns the report's
// write time, in Unix seconds.
func checkInitramfsBond(ctx context.Context, t *testing.T, v *vm.VM, boot string) (reported int64, got bondState) {
	t.Helper()
	members := []string{v.Iface(0), v.Iface(1)}
	slices.Sort(members)
	if out := v.MustRun(t, "cat /run/bondstrap/report.json"); !strings.Contains(out, `"run/systemd/network/10-bondstrap-bond0.netdev"`) {
		t.Errorf("%s: report.json is not the initramfs run's (units under run/systemd/network):\n%s", boot, out)
	}
	v.MustRun(t, "test -L /run/systemd/system/multi-user.target.wants/systemd-networkd.service")
	provisioned := readReport(t, v, boot)
	times := strings.Fields(v.MustRun(t, "stat -c %Y /run/bondstrap/report.json; systemctl show -p UserspaceTimestamp --timestamp=unix --value"))
	if len(times) != 2 {
		t.Fatalf("%s: report and userspace times: %q", boot, times)
	}
	reported, err1 := strconv.ParseInt(times[0], 10, 64)
	userspace, err2 := strconv.ParseInt(strings.TrimPrefix(times[1], "@"), 10, 64)
	if err1 != nil || err2 != nil || reported > userspace {
		t.Errorf("%s: report.json written at %s, the root's systemd started at %s: not in the initramfs", boot, times[0], times[1])
	} else {
		t.Logf("%s: report.json written at %d, %ds before the root's systemd started", boot, reported, userspace-reported)
	}
	runUnits := strings.Fields(v.MustRun(t, "cd /run/systemd/network && ls"))
	for _, want := range []string{"10-bondstrap-bond0.netdev", "10-bondstrap-bond0.network"} {
		if !slices.Contains(runUnits, want) {
			t.Errorf("%s: /run/systemd/network has %v, lacks %s", boot, runUnits, want)
		}
	}
	if out := v.MustRun(t, "ls /etc/systemd/network"); strings.Contains(out, "bondstrap") {
		t.Errorf("%s: the initramfs wrote into the root's /etc/systemd/network: %s", boot, out)
	}
	// The booted root keeps the report: the runtime unit apply wrote copied it
	// out of /run once the root was up.
	if p := unitProps(ctx, t, v, "bondstrap-keep-report.service"); p["Result"] != "success" || p["ExecMainStatus"] != "0" || p["ConditionResult"] != "yes" {
		t.Errorf("%s: bondstrap-keep-report.service did not run: %v", boot, p)
	}
	if r, err := v.Exec(ctx, "cmp /run/bondstrap/report.json /var/lib/bondstrap/report.json"); err != nil || r.Exit != 0 {
		t.Errorf("%s: the root's /var/lib/bondstrap/report.json is not the initramfs's report: exit %d %v %s%s", boot, r.Exit, err, r.Stdout, r.Stderr)
	}
	got = readBond(ctx, t, v, boot)
	checkBond(t, boot, got, members, v)
	if provisioned.MAC != got.MAC || provisioned.ClientID != got.Lease.ClientID || provisioned.Addr != got.Addr {
		t.Errorf("%s: bondstrap provisioned bond0 in the initramfs with MAC %s, client id %s, %v; systemd-networkd runs it with MAC %s, client id %s, %v",
			boot, provisioned.MAC, provisioned.ClientID, provisioned.Addr, got.MAC, got.Lease.ClientID, got.Addr)
	}
	return reported, got
}
