package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
)

// Root is a guest that boots from a disk, as an installed system does: a root file
// system image (the guest's /dev/vda) and the kernel and initrd that boot it. Build
// one with NewRootDisk from the Debian root that test/setup-rootfs.sh caches.
type Root struct {
	// Image is a raw ext4 image; the guest writes to it, and it outlives the VM.
	Image string
	// Kernel and Initrd boot it.
	Kernel string
	Initrd string
}

func (r *Root) cmdline() []string {
	return []string{"console=ttyS0", "panic=-1", "root=/dev/vda", "rw"}
}

func (r *Root) driveArgs() []string {
	// cache=unsafe: no flushes to the host disk; what the guest wrote is in the image
	// file once QEMU has exited, which is all a reboot needs.
	return []string{"-drive", "file=" + r.Image + ",format=raw,if=virtio,cache=unsafe"}
}

// RootPaths locates the Debian root that test/setup-rootfs.sh caches.
type RootPaths struct {
	Dir     string // Cache/rootfs/current
	Image   string // Dir/root.img, never booted itself
	Kernel  string // Dir/vmlinuz
	Initrd  string // Dir/initrd.img, built by update-initramfs in the root
	Release string // the kernel release
	Tree    string // Dir/tree: the root as a directory, to copy, never to change
	Dracut  string // Dir/debs/dracut: dracut's packages, to dpkg -i into a copy
}

// CheckRoot reports whether a Debian root is cached, without changing anything.
func CheckRoot() (RootPaths, error) {
	dir := filepath.Join(CacheDir(), "rootfs", "current")
	p := RootPaths{Dir: dir, Image: filepath.Join(dir, "root.img"),
		Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"), Tree: filepath.Join(dir, "tree"),
		Dracut: filepath.Join(dir, "debs", "dracut")}
	var errs []error
	for _, f := range []string{filepath.Join(dir, ".complete"), p.Image, p.Kernel, p.Initrd, p.Tree, p.Dracut} {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("no cached Debian root: %w", err))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "release")); err == nil {
		p.Release = strings.TrimSpace(string(b))
	}
	return p, errors.Join(errs...)
}

var prepareRoot struct {
	once  sync.Once
	paths RootPaths
	err   error
}

// PrepareRoot runs test/setup-rootfs.sh once per process and returns the cached root.
// The script returns at once when the root for its current version is cached, and
// builds it (debootstrap, several minutes) when not. Its output goes to log.
func PrepareRoot(ctx context.Context, log func(string)) (RootPaths, error) {
	prepareRoot.once.Do(func() {
		prepareRoot.paths, prepareRoot.err = doPrepareRoot(ctx, log)
	})
	return prepareRoot.paths, prepareRoot.err
}

func doPrepareRoot(ctx context.Context, log func(string)) (RootPaths, error) {
	root, err := RepoRoot()
	if err != nil {
		return RootPaths{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "test", "setup-rootfs.sh"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return RootPaths{}, fmt.Errorf("test/setup-rootfs.sh: %w", err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return RootPaths{}, fmt.Errorf("test/setup-rootfs.sh: %w", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		return RootPaths{}, fmt.Errorf("test/setup-rootfs.sh: %w", err)
	}
	log(fmt.Sprintf("vm: test/setup-rootfs.sh done in %v", time.Since(start).Round(time.Millisecond)))
	return CheckRoot()
}

// RequireRoot is Require for tests that boot the Debian root: it also makes sure the
// root is cached (building it when not), and fails the test when it cannot.
func RequireRoot(t testing.TB) RootPaths {
	t.Helper()
	Require(t)
	p, err := PrepareRoot(context.Background(), func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("VM test needs the Debian root (as root: test/setup-rootfs.sh): %v", err)
	}
	return p
}

// NetworkdEnableLinks are the links `systemctl enable systemd-networkd` makes
// in the cached root. A test removes them (NewRootDiskRemoving) for a root
// where networkd is off, as Debian and RHEL install it.
var NetworkdEnableLinks = []string{
	"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
	"/etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
	"/etc/systemd/system/dbus-org.freedesktop.network1.service",
	"/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service",
	"/etc/systemd/system/sysinit.target.wants/systemd-network-generator.service",
}

// Symlink is a symbolic link to put into a root image.
type Symlink struct {
	Path   string // the link
	Target string // what it points to
}

// NewRootDisk copies the cached root image p.Image to dir/root.img (sparse) and
// writes files and links into the copy, without mounting it (debugfs). Files are
// owned by root with their Mode; existing files are replaced; missing parent
// directories are made. The cached image stays untouched.
func NewRootDisk(ctx context.Context, p RootPaths, dir string, files []initrd.File, links []Symlink) (*Root, error) {
	return NewRootDiskRemoving(ctx, p, dir, files, links, nil)
}

// NewRootDiskRemoving is NewRootDisk that also removes the files (or symbolic
// links) remove from the copy first: to boot the root with a unit disabled, say.
func NewRootDiskRemoving(ctx context.Context, p RootPaths, dir string, files []initrd.File, links []Symlink, remove []string) (*Root, error) {
	img := filepath.Join(dir, "root.img")
	if out, err := exec.CommandContext(ctx, "cp", "--sparse=always", "--reflink=auto", p.Image, img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vm: copy root image: %w: %s", err, out)
	}
	stage, err := os.MkdirTemp(dir, "files-")
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	defer os.RemoveAll(stage)

	var script strings.Builder
	made := map[string]bool{"/": true}
	mkdirs := func(d string) {
		var walk func(string)
		walk = func(d string) {
			if made[d] {
				return
			}
			walk(path.Dir(d))
			// debugfs reports an existing directory and goes on.
			fmt.Fprintf(&script, "mkdir %s\n", d)
			made[d] = true
		}
		walk(d)
	}
	for _, r := range remove {
		if err := checkImagePath(r); err != nil {
			return nil, err
		}
		fmt.Fprintf(&script, "cd %s\nrm %s\n", path.Dir(r), path.Base(r))
	}
	for i, f := range files {
		if err := checkImagePath(f.Path); err != nil {
			return nil, err
		}
		src := filepath.Join(stage, strconv.Itoa(i))
		if err := os.WriteFile(src, f.Data, 0o600); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
		// debugfs's write takes the mode from the source file.
		if err := os.Chmod(src, f.Mode.Perm()); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
		mkdirs(path.Dir(f.Path))
		fmt.Fprintf(&script, "cd %s\nrm %s\nwrite %s %s\n", path.Dir(f.Path), path.Base(f.Path), src, path.Base(f.Path))
	}
	for _, l := range links {
		if err := checkImagePath(l.Path); err != nil {
			return nil, err
		}
		if strings.ContainsAny(l.Target, " \t\n\"") {
			return nil, fmt.Errorf("vm: symlink target %q: blanks and quotes are not supported", l.Target)
		}
		mkdirs(path.Dir(l.Path))
		fmt.Fprintf(&script, "cd %s\nrm %s\nsymlink %s %s\n", path.Dir(l.Path), path.Base(l.Path), path.Base(l.Path), l.Target)
	}
	cmds := filepath.Join(stage, "debugfs.cmds")
	if err := os.WriteFile(cmds, []byte(script.String()), 0o600); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	// debugfs exits 0 whatever its commands do: check the result instead.
	if out, err := exec.CommandContext(ctx, "debugfs", "-w", "-f", cmds, img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vm: debugfs: %w: %s", err, out)
	}
	for _, f := range files {
		if err := checkImageFile(ctx, img, f.Path, len(f.Data)); err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		if err := checkImageFile(ctx, img, l.Path, -1); err != nil {
			return nil, err
		}
	}
	for _, r := range remove {
		if err := checkImageFile(ctx, img, r, -1); err == nil {
			return nil, fmt.Errorf("vm: %s is still in the root image", r)
		}
	}
	return &Root{Image: img, Kernel: p.Kernel, Initrd: p.Initrd}, nil
}

func checkImagePath(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsAny(p, " \t\n\"") {
		return fmt.Errorf("vm: image path %q: want a clean absolute path without blanks or quotes", p)
	}
	return nil
}

// checkImageFile checks that p exists in the image, with size bytes unless size < 0.
func checkImageFile(ctx context.Context, img, p string, size int) error {
	out, err := exec.CommandContext(ctx, "debugfs", "-R", "stat "+p, img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vm: debugfs stat %s: %w: %s", p, err, out)
	}
	if !strings.Contains(string(out), "Inode:") {
		return fmt.Errorf("vm: %s not written into the root image: %s", p, strings.TrimSpace(string(out)))
	}
	if size >= 0 && !strings.Contains(string(out), "Size: "+strconv.Itoa(size)+"\n") {
		return fmt.Errorf("vm: %s in the root image has not %d bytes: %s", p, size, out)
	}
	return nil
}

// Reboot reboots the guest and returns once the agent of the new boot answers. QEMU
// runs with -no-reboot, so the guest's reboot ends it; a new QEMU then boots the
// same disk, in the same namespace, on the same taps and DHCP servers (their leases
// stay). Timings describes the new boot. ctx bounds the whole reboot.
func (v *VM) Reboot(ctx context.Context) error {
	start := time.Now()
	// --no-block: the command returns before the shutdown takes the agent away.
	r, err := v.Exec(ctx, "if command -v systemctl >/dev/null; then systemctl --no-block reboot; else reboot; fi")
	if err != nil {
		return fmt.Errorf("vm: reboot: %w", err)
	}
	if r.Exit != 0 {
		return fmt.Errorf("vm: reboot: exit %d: %s", r.Exit, strings.TrimSpace(r.Stderr))
	}
	select {
	case <-v.exited:
	case <-ctx.Done():
		return fmt.Errorf("vm: reboot: the guest did not shut down: %w", ctx.Err())
	}
	if v.waitErr != nil {
		return fmt.Errorf("vm: reboot: qemu: %w", v.waitErr)
	}
	shutdown := time.Since(start)
	_ = v.qmp.Close()
	_ = v.agent.close()
	v.qmp, v.agent, v.waitErr = nil, nil, nil
	v.exited = make(chan struct{})
	v.Timings = Timings{}
	if err := v.boot(ctx); err != nil {
		return fmt.Errorf("%w\nconsole (%s):\n%s", err, v.ConsolePath(), v.ConsoleTail(40))
	}
	if err := v.findIfaces(ctx); err != nil {
		return err
	}
	v.log.Info("vm rebooted", "shutdown", shutdown.Round(time.Millisecond),
		"boot", v.Timings.Boot.Round(time.Millisecond), "guest_uptime", v.Timings.Uptime)
	return nil
}
