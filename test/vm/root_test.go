package vm

import (
	"strings"
	"testing"
)

func TestQemuArgsRoot(t *testing.T) {
	cfg := Config{NICs: []NIC{Virtio(10000)}, Root: &Root{Image: "/d/root.img", Kernel: "/r/vmlinuz", Initrd: "/r/initrd.img"}}
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	v := &VM{cfg: cfg, NICs: cfg.NICs, dir: "/d"}
	v.NICs[0].Tap = "tap0"
	joined := strings.Join(v.qemuArgs("/r/vmlinuz", "/r/initrd.img", "/d/a.sock", "/d/q.sock"), " ")
	for _, want := range []string{
		"-accel tcg",
		"-no-reboot",
		"-drive file=/d/root.img,format=raw,if=virtio,cache=unsafe",
		"root=/dev/vda rw",
		"-kernel /r/vmlinuz -initrd /r/initrd.img",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("qemu args lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "bstvm.bonding") {
		t.Errorf("a disk-booted guest gets the test initramfs's switch:\n%s", joined)
	}
}

func TestCheckImagePath(t *testing.T) {
	for _, p := range []string{"/etc/bondstrap/bondstrap.yaml", "/usr/bin/bondstrap"} {
		if err := checkImagePath(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"etc/x", "/etc/../x", "/etc/a b", "/etc/x/", `/etc/"x"`} {
		if err := checkImagePath(p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}
