package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestInitramfsToolsHook installs bondstrap's initramfs-tools hook and init-premount
// script in the Debian root as an administrator would, runs update-initramfs in a
// chroot, and boots Debian's initrd built that way: bondstrap bonds the two virtio NICs
// before the root is mounted, and systemd-networkd in the root takes the bond over
// from the units bondstrap left in /run/systemd/network.
func TestInitramfsToolsHook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v := bootInitramfsTools(ctx, t, false)
	waitBooted(ctx, t, v)

	// Nothing in the root runs bondstrap: its report and units in /run come from the
	// initramfs (initramfs-tools moves /run into the root; no systemd runs in this
	// initrd).
	v.MustRun(t, "test ! -e /etc/systemd/system/bondstrap-firstboot.service && test ! -e /lib/systemd/system/bondstrap-firstboot.service")
	_, got := checkInitramfsBond(ctx, t, v, "initramfs boot")
	// Without systemd or journald in the initrd, bondstrap logged to the kernel's
	// log, which the root's journal took over: every numbered operation, by stage.
	klog := v.MustRun(t, "journalctl -b -k -t bondstrap --no-pager -o cat")
	for _, want := range []string{"stage=bond", "stage=address", "stage=persist", "apply started", "stage persist: [finished]"} {
		if !strings.Contains(klog, want) {
			t.Errorf("the kernel's log lacks bondstrap's %q:\n%s", want, tailLines(klog, 20))
		}
	}
	t.Logf("bonded in the initramfs, run by systemd-networkd: bond0 %s over %v, %s via %s",
		got.MAC, got.Members, got.Addr, got.Gateway)
}

// bootInitramfsTools installs bondstrap, its config and its initramfs-tools hook and
// init-premount script (and, with firstboot, its enabled first-boot unit) in a copy
// of the Debian root, runs update-initramfs in a chroot, checks what went into the
// initrd, and boots the root with that initrd.
func bootInitramfsTools(ctx context.Context, t *testing.T, firstboot bool) *vm.VM {
	t.Helper()
	start := time.Now()
	files := []initrd.File{
		{Path: "/etc/initramfs-tools/hooks/bondstrap", Data: repoFile(t, "initramfs/initramfs-tools/hooks/bondstrap"), Mode: 0o755},
		{Path: "/etc/initramfs-tools/scripts/init-premount/bondstrap", Data: repoFile(t, "initramfs/initramfs-tools/scripts/init-premount/bondstrap"), Mode: 0o755},
	}
	if firstboot {
		files = append(files, initrd.File{Path: "/etc/systemd/system/bondstrap-firstboot.service",
			Data: repoFile(t, "initramfs/systemd/bondstrap-firstboot.service"), Mode: 0o644})
	}
	tree := newInstallTree(ctx, t, files...)
	if firstboot {
		tree.Chroot(ctx, t, "systemctl", "enable", "bondstrap-firstboot.service")
	}
	out := tree.Chroot(ctx, t, "update-initramfs", "-u", "-k", tree.Root.Release)
	t.Logf("update-initramfs:\n%s", out)
	if strings.Contains(out, "bondstrap") {
		t.Errorf("update-initramfs complains about bondstrap:\n%s", out)
	}
	list := tree.Chroot(ctx, t, "lsinitramfs", "/boot/initrd.img-"+tree.Root.Release)
	inInitrd := strings.Fields(list)
	for _, want := range []string{"usr/bin/bondstrap", "etc/bondstrap/bondstrap.yaml", "scripts/init-premount/bondstrap"} {
		if !slices.Contains(inInitrd, want) {
			t.Errorf("the initrd lacks %s", want)
		}
	}
	if !strings.Contains(list, "/bonding.ko") || !strings.Contains(list, "/virtio_net.ko") {
		t.Errorf("the initrd lacks the bonding or virtio_net module")
	}
	disk := tree.Disk(ctx, t)
	t.Logf("initrd and root disk made in %v", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	return vm.New(t, vm.Config{
		NICs:     []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		MemoryMB: 1024,
		Root:     disk,
	})
}

// TestInitramfsToolsThenFirstboot is the whole install: the initramfs bonds (as in
// TestInitramfsToolsHook), then the first-boot unit in the root runs apply again,
// which finds the bond as configured, changes nothing on it, and persists the units
// to /etc/systemd/network; systemd-networkd runs bond0 with the lease it had.
func TestInitramfsToolsThenFirstboot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v := bootInitramfsTools(ctx, t, true)
	members := []string{v.Iface(0), v.Iface(1)}
	slices.Sort(members)
	waitBooted(ctx, t, v)

	fb := unitProps(ctx, t, v, "bondstrap-firstboot.service")
	if fb["Result"] != "success" || fb["ExecMainStatus"] != "0" || fb["ConditionResult"] != "yes" {
		t.Fatalf("bondstrap-firstboot.service did not succeed: %v\n%s", fb,
			v.MustRun(t, "journalctl -b -u bondstrap-firstboot.service --no-pager -o cat"))
	}
	t.Logf("bondstrap-firstboot.service:\n%s", v.MustRun(t, "journalctl -b -u bondstrap-firstboot.service --no-pager -o cat | grep -v level="))
	// The initramfs ran: only its script writes /run/systemd/network.
	v.MustRun(t, "test -e /run/systemd/network/10-bondstrap-bond0.netdev")
	v.MustRun(t, "test -e /var/lib/bondstrap/done && test -e /etc/systemd/network/10-bondstrap-bond0.netdev")
	if out := v.MustRun(t, "cd /run/systemd/network && for f in *bondstrap*; do cmp $f /etc/systemd/network/$f || echo differs: $f; done; echo same"); out != "same\n" {
		t.Errorf("the units persisted to /etc differ from the initramfs's:\n%s", out)
	}
	var rep struct {
		Root  string `json:"root"`
		Bonds []struct {
			Name    string   `json:"name"`
			Action  string   `json:"action"`
			Changes []string `json:"changes"`
		} `json:"bonds"`
	}
	out := v.MustRun(t, "cat /run/bondstrap/report.json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, out)
	}
	if rep.Root != "/" || len(rep.Bonds) != 1 || rep.Bonds[0].Action != "unchanged" {
		t.Errorf("the first-boot run did not find bond0 as the initramfs left it: root %q, bonds %+v", rep.Root, rep.Bonds)
	}
	provisioned := readReport(t, v, "first boot")
	got := readBond(ctx, t, v, "first boot")
	checkBond(t, "first boot", got, members, v)
	if provisioned.MAC != got.MAC || provisioned.ClientID != got.Lease.ClientID || provisioned.Addr != got.Addr {
		t.Errorf("bondstrap reported bond0 with MAC %s, client id %s, %v; systemd-networkd runs it with MAC %s, client id %s, %v",
			provisioned.MAC, provisioned.ClientID, provisioned.Addr, got.MAC, got.Lease.ClientID, got.Addr)
	}
}
