package initrd

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Archive is an in-memory list of files that writes itself as a newc cpio archive,
// the format the kernel unpacks into its initial root file system.
//
// Paths are relative to the archive root ("bin/sh", not "/bin/sh"); a leading "/" is
// dropped. Parent directories are added on Write when missing, because the kernel's
// unpacker does not create them. A later Add of the same path replaces the earlier one.
type Archive struct {
	entries map[string]entry
}

type entry struct {
	mode         fs.FileMode // type bits as in fs.FileMode, permission bits in Perm
	data         []byte      // file contents or symlink target
	major, minor uint32      // device numbers of a character device
}

// AddFile adds a regular file with the given permission bits.
func (a *Archive) AddFile(name string, data []byte, perm fs.FileMode) {
	a.add(name, entry{mode: perm.Perm(), data: data})
}

// AddDir adds a directory with the given permission bits.
func (a *Archive) AddDir(name string, perm fs.FileMode) {
	a.add(name, entry{mode: fs.ModeDir | perm.Perm()})
}

// AddCharDevice adds a character device node, such as /dev/console (5, 1), which the
// kernel opens for init before any devtmpfs is mounted.
func (a *Archive) AddCharDevice(name string, perm fs.FileMode, major, minor uint32) {
	a.add(name, entry{mode: fs.ModeDevice | fs.ModeCharDevice | perm.Perm(), major: major, minor: minor})
}

// AddSymlink adds a symbolic link pointing at target.
func (a *Archive) AddSymlink(name, target string) {
	a.add(name, entry{mode: fs.ModeSymlink | 0o777, data: []byte(target)})
}

// Has reports whether the archive holds name.
func (a *Archive) Has(name string) bool {
	_, ok := a.entries[clean(name)]
	return ok
}

func (a *Archive) add(name string, e entry) {
	if a.entries == nil {
		a.entries = make(map[string]entry)
	}
	a.entries[clean(name)] = e
}

func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// Write writes the archive in newc format, entries sorted by path so that every
// directory precedes its contents and equal archives give equal bytes.
func (a *Archive) Write(w io.Writer) error {
	all := make(map[string]entry, len(a.entries))
	for name, e := range a.entries {
		all[name] = e
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				if _, explicit := a.entries[dir]; !explicit {
					all[dir] = entry{mode: fs.ModeDir | 0o755}
				}
			}
		}
	}
	names := make([]string, 0, len(all))
	for name := range all {
		if name == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)

	bw := bufio.NewWriter(w)
	for i, name := range names {
		if err := writeEntry(bw, uint32(i+1), name, all[name]); err != nil {
			return fmt.Errorf("cpio: %s: %w", name, err)
		}
	}
	if err := writeEntry(bw, 0, "TRAILER!!!", entry{}); err != nil {
		return fmt.Errorf("cpio: trailer: %w", err)
	}
	return bw.Flush()
}

// Unix mode type bits for the newc header.
const (
	modeRegular = 0o100000
	modeDir     = 0o040000
	modeSymlink = 0o120000
	modeChar    = 0o020000
)

func writeEntry(w *bufio.Writer, ino uint32, name string, e entry) error {
	mode := uint32(e.mode.Perm())
	nlink := uint32(1)
	switch {
	case name == "TRAILER!!!":
		mode = 0
	case e.mode&fs.ModeDir != 0:
		mode |= modeDir
		nlink = 2
	case e.mode&fs.ModeSymlink != 0:
		mode |= modeSymlink
	case e.mode&fs.ModeCharDevice != 0:
		mode |= modeChar
	default:
		mode |= modeRegular
	}
	// newc: magic, then 13 fields of 8 hex digits: ino, mode, uid, gid, nlink, mtime,
	// filesize, devmajor, devminor, rdevmajor, rdevminor, namesize (with NUL), check.
	fields := []uint32{ino, mode, 0, 0, nlink, 0, uint32(len(e.data)), 0, 0, e.major, e.minor, uint32(len(name) + 1), 0}
	if _, err := w.WriteString("070701"); err != nil {
		return err
	}
	for _, f := range fields {
		if _, err := fmt.Fprintf(w, "%08x", f); err != nil {
			return err
		}
	}
	if _, err := w.WriteString(name + "\x00"); err != nil {
		return err
	}
	if err := pad(w, 110+len(name)+1); err != nil {
		return err
	}
	if _, err := w.Write(e.data); err != nil {
		return err
	}
	return pad(w, len(e.data))
}

// pad writes the NULs that align n bytes to a multiple of four.
func pad(w *bufio.Writer, n int) error {
	for ; n%4 != 0; n++ {
		if err := w.WriteByte(0); err != nil {
			return err
		}
	}
	return nil
}
