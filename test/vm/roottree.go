package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bondstrap/bondstrap/test/initrd"
)

// A test that changes the root the way an administrator would, in a chroot (say,
// update-initramfs with bondstrap's hook installed), copies the cached root's tree
// with CopyRootTree, changes the copy (WriteTreeFiles, Chroot) and makes a disk of it
// with NewTreeDisk.

// CopyRootTree copies the cached root's directory tree to dst (which must not exist),
// keeping owners, modes, links and device nodes.
func CopyRootTree(ctx context.Context, p RootPaths, dst string) error {
	if out, err := exec.CommandContext(ctx, "cp", "-a", "--sparse=always", p.Tree, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("vm: copy root tree: %w: %s", err, out)
	}
	return nil
}

// WriteTreeFiles writes files into the root directory tree root, making parent
// directories.
func WriteTreeFiles(root string, files []initrd.File) error {
	for _, f := range files {
		if err := checkImagePath(f.Path); err != nil {
			return err
		}
		dst := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("vm: %w", err)
		}
		if err := os.WriteFile(dst, f.Data, f.Mode.Perm()); err != nil {
			return fmt.Errorf("vm: %w", err)
		}
		if err := os.Chmod(dst, f.Mode.Perm()); err != nil { // whatever the umask
			return fmt.Errorf("vm: %w", err)
		}
	}
	return nil
}

// Chroot runs a command in the root directory tree root with /proc, /sys and /dev
// mounted, as package scripts expect. It runs in a mount namespace of its own
// (unshare), so nothing stays mounted when it ends, however it ends.
func Chroot(ctx context.Context, root string, args ...string) (string, error) {
	script := `set -e
mount -t proc proc "$1/proc"
mount -t sysfs sysfs "$1/sys"
mount --rbind /dev "$1/dev"
r=$1; shift
exec chroot "$r" "$@"`
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "chroot", root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vm: chroot %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// NewTreeDisk makes a disk of the root directory tree root: a raw ext4 image at
// dir/root.img (mkfs.ext4 -d, no mounts), booted by root's own kernel and initrd of
// release.
func NewTreeDisk(ctx context.Context, root, dir, release string) (*Root, error) {
	img := filepath.Join(dir, "root.img")
	if out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-L", "bondstrap-root", "-d", root, img, "3G").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vm: mkfs.ext4: %w: %s", err, out)
	}
	r := &Root{Image: img,
		Kernel: filepath.Join(root, "boot", "vmlinuz-"+release),
		Initrd: filepath.Join(root, "boot", "initrd.img-"+release)}
	for _, f := range []string{r.Kernel, r.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
	}
	return r, nil
}
