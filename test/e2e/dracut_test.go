package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestDracutModule installs dracut in the Debian root in place of initramfs-tools,
// with bondstrap's dracut module (initramfs/dracut/90bondstrap) installed and enabled
// as its comment says, and boots the initrd that dracut builds when it is installed:
// with systemd in the initramfs, dracut's initqueue runs bondstrap once udev has
// settled, which bonds the two virtio NICs before the root is mounted, and
// systemd-networkd in the root takes the bond over from the units in
// /run/systemd/network.
func TestDracutModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	root := vm.RequireRoot(t)
	debs, err := filepath.Glob(filepath.Join(root.Dracut, "*.deb"))
	if err != nil || len(debs) == 0 {
		t.Fatalf("no cached dracut packages in %s (%v)", root.Dracut, err)
	}
	const mod = "/usr/lib/dracut/modules.d/90bondstrap/"
	files := []initrd.File{
		{Path: mod + "module-setup.sh", Data: repoFile(t, "initramfs/dracut/90bondstrap/module-setup.sh"), Mode: 0o755},
		{Path: mod + "bondstrap.sh", Data: repoFile(t, "initramfs/dracut/90bondstrap/bondstrap.sh"), Mode: 0o755},
		{Path: mod + "bondstrap-done.sh", Data: repoFile(t, "initramfs/dracut/90bondstrap/bondstrap-done.sh"), Mode: 0o755},
		{Path: "/etc/dracut.conf.d/bondstrap.conf", Data: []byte("add_dracutmodules+=\" bondstrap \"\n"), Mode: 0o644},
		// The chroot's host is the test machine, not the VM: a generic image.
		{Path: "/etc/dracut.conf.d/generic.conf", Data: []byte("hostonly=\"no\"\n"), Mode: 0o644},
	}
	var debPaths []string
	for _, d := range debs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		p := "/tmp/dracut/" + filepath.Base(d)
		files = append(files, initrd.File{Path: p, Data: b, Mode: 0o644})
		debPaths = append(debPaths, p)
	}
	tree := newInstallTree(ctx, t, files...)
	// dracut conflicts with initramfs-tools (the kernel needs one of them); installing
	// it builds the kernel's initrd with the configuration above.
	tree.Chroot(ctx, t, "dpkg", "--remove", "--force-depends", "initramfs-tools", "initramfs-tools-core")
	out := tree.Chroot(ctx, t, append([]string{"dpkg", "-i"}, debPaths...)...)
	initrd := "/boot/initrd.img-" + tree.Root.Release
	if !strings.Contains(out, "dracut: Generating "+initrd) {
		t.Fatalf("installing dracut did not build %s:\n%s", initrd, out)
	}
	if err := os.RemoveAll(filepath.Join(tree.Path, "tmp", "dracut")); err != nil {
		t.Fatal(err)
	}
	list := tree.Chroot(ctx, t, "lsinitrd", initrd)
	header, _, _ := strings.Cut(list, "drwx")
	if !strings.Contains(header, "\nbondstrap\n") {
		t.Errorf("dracut did not include the bondstrap module:\n%s", header)
	}
	for _, want := range []string{
		" usr/bin/bondstrap\n", " etc/bondstrap/bondstrap.yaml\n",
		"/dracut/hooks/initqueue/settled/90-bondstrap.sh\n", "/dracut/hooks/initqueue/finished/90-bondstrap-done.sh\n",
		"/dracut/need-initqueue\n", "/systemd/network/99-default.link\n",
		"/bonding.ko\n", "/virtio_net.ko\n", "/net_failover.ko\n", "/failover.ko\n", "/e1000.ko\n",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("the initrd lacks %s", strings.TrimSpace(want))
		}
	}
	disk := tree.Disk(ctx, t)
	t.Logf("dracut's initrd and root disk made in %v", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	v := vm.New(t, vm.Config{
		NICs:     []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		MemoryMB: 1024,
		Root:     disk,
		Cmdline:  []string{"rd.info"},
	})
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, _, _ := v.Run(ctx, "journalctl -b -o short-monotonic --no-pager | grep -i -E 'bondstrap|initqueue|virtio|eth[0-9]|bond0|switch' | head -n 100")
			t.Logf("journal of the boot (bondstrap, initqueue, NICs):\n%s", out)
		}
	})
	waitBooted(ctx, t, v)

	// The initramfs ran bondstrap (nothing in the root does), from dracut's initqueue
	// under the initramfs's systemd, before the switch to the root.
	v.MustRun(t, "test ! -e /etc/systemd/system/bondstrap-firstboot.service && test ! -e /lib/systemd/system/bondstrap-firstboot.service")
	reported, got := checkInitramfsBond(ctx, t, v, "dracut boot")
	initrdStart := strings.TrimPrefix(strings.TrimSpace(v.MustRun(t, "systemctl show -p InitRDTimestamp --timestamp=unix --value")), "@")
	if ts, err := strconv.ParseInt(initrdStart, 10, 64); err != nil || ts > reported {
		t.Errorf("report.json written at %d, the initramfs's systemd started at %q: not in the initramfs", reported, initrdStart)
	} else {
		t.Logf("the initramfs's systemd started %ds before report.json was written", reported-ts)
	}
	// Under the initramfs's journald, bondstrap logged to the journal, with its
	// stage and operation number as fields.
	if jlog := v.MustRun(t, "journalctl -b -t bondstrap STAGE=bond --no-pager -o verbose"); !strings.Contains(jlog, "OP=") ||
		!strings.Contains(jlog, "_TRANSPORT=journal") {
		t.Errorf("no journal entries of the bond stage with OP=:\n%s", tailLines(jlog, 30))
	}
	initqueue := v.MustRun(t, "journalctl -b -u dracut-initqueue.service --no-pager -o cat")
	if !strings.Contains(initqueue, "bondstrap") {
		t.Errorf("dracut-initqueue.service did not run bondstrap:\n%s", initqueue)
	}
	t.Logf("dracut-initqueue.service:\n%s", tailLines(initqueue, 15))
	t.Logf("bonded in dracut's initramfs, run by systemd-networkd: bond0 %s over %v, %s via %s",
		got.MAC, got.Members, got.Addr, got.Gateway)
}
