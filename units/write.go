package units

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// WriteResult says what Write or Remove did. Paths are relative to the root,
// such as "etc/systemd/network/10-bondstrap-bond0.netdev", sorted.
type WriteResult struct {
	// Written are the files created or replaced.
	Written []string
	// Unchanged are the files that already had the right content and mode.
	Unchanged []string
	// Removed are bondstrap's files that were deleted because the new set
	// does not have them (or, for Remove, all of them).
	Removed []string
}

const (
	dirMode  fs.FileMode = 0o755
	fileMode fs.FileMode = 0o644
)

// Write makes Dir under root hold exactly files among bondstrap's own units:
// it writes each file that is missing or differs, atomically (a temporary
// file in the same directory, fsync, rename, fsync of the directory), leaves
// identical files alone (not even their mtime changes), and removes the
// bondstrap units (Prefix*) that files does not list, such as the units of a
// member that is no longer in the plan. Files not owned by bondstrap are
// never touched.
//
// Every name must be a base name that starts with Prefix and ends in .netdev
// or .network; a bad name fails the whole call before anything is written.
// All access goes through an os.Root, so neither a name nor a symbolic link
// under root can lead outside it. Missing directories (root included) are
// created 0755; files are 0644.
func Write(root string, files []File) (WriteResult, error) {
	var res WriteResult
	want := make(map[string][]byte, len(files))
	for _, f := range files {
		if err := checkFileName(root, f.Name); err != nil {
			return res, err
		}
		if _, dup := want[f.Name]; dup {
			return res, fmt.Errorf("write units: %w: %s given twice", ErrBadName, f.Name)
		}
		want[f.Name] = f.Content
	}

	if err := os.MkdirAll(root, dirMode); err != nil {
		return res, fmt.Errorf("write units: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return res, fmt.Errorf("write units: %w", err)
	}
	defer r.Close()
	if err := mkdirAll(r, Dir); err != nil {
		return res, fmt.Errorf("write units: %w", err)
	}

	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	changed := false
	for _, name := range names {
		rel := path.Join(Dir, name)
		same, err := sameFile(r, rel, want[name])
		if err != nil {
			return res, fmt.Errorf("write units: %w", err)
		}
		if same {
			res.Unchanged = append(res.Unchanged, rel)
			continue
		}
		changed = true
		if err := writeAtomic(r, name, want[name]); err != nil {
			return res, fmt.Errorf("write units: %w", err)
		}
		res.Written = append(res.Written, rel)
	}

	removed, err := removeOwned(r, func(name string) bool { _, keep := want[name]; return !keep })
	res.Removed = removed
	if err != nil {
		return res, fmt.Errorf("write units: %w", err)
	}
	if changed || len(removed) > 0 {
		if err := syncDir(r, Dir); err != nil {
			return res, fmt.Errorf("write units: %w", err)
		}
	}
	return res, nil
}

// Remove deletes every file bondstrap owns in Dir under root (its units and
// any temporary file a crashed Write left), as a rollback does. A missing Dir
// is not an error. Files not owned by bondstrap are never touched.
func Remove(root string) (WriteResult, error) {
	var res WriteResult
	r, err := os.OpenRoot(root)
	if err != nil {
		return res, fmt.Errorf("remove units: %w", err)
	}
	defer r.Close()
	if _, err := r.Lstat(Dir); errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	removed, err := removeOwned(r, func(string) bool { return true })
	res.Removed = removed
	if err != nil {
		return res, fmt.Errorf("remove units: %w", err)
	}
	if len(removed) > 0 {
		if err := syncDir(r, Dir); err != nil {
			return res, fmt.Errorf("remove units: %w", err)
		}
	}
	return res, nil
}

// checkFileName accepts only a plain base name that bondstrap owns, and
// checks that joined under root it stays inside root.
func checkFileName(root, name string) error {
	bad := func(why string) error {
		return fmt.Errorf("write units: %w: %q %s", ErrBadName, name, why)
	}
	switch {
	case name == "" || name == "." || name == "..":
		return bad("is not a file name")
	case strings.ContainsAny(name, `/\`):
		return bad("contains a path separator")
	case strings.Contains(name, ".."):
		return bad("contains ..")
	case strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return bad("contains a control character")
	case isTemp(name) || !owned(name):
		return bad("is not a bondstrap unit (" + Prefix + "*.netdev or *.network)")
	}
	full := filepath.Join(root, Dir, name)
	rel, err := filepath.Rel(root, full)
	if err != nil || !filepath.IsLocal(rel) {
		return bad("leads outside the root")
	}
	return nil
}

// mkdirAll creates dir and its parents under r with mode 0755 (whatever the
// umask), leaving existing directories as they are.
func mkdirAll(r *os.Root, dir string) error {
	cur := ""
	for _, part := range strings.Split(dir, "/") {
		cur = path.Join(cur, part)
		fi, err := r.Stat(cur)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a directory", cur)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := r.Mkdir(cur, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := r.Chmod(cur, dirMode); err != nil {
			return err
		}
		if err := syncDir(r, path.Dir(cur)); err != nil {
			return err
		}
	}
	return nil
}

// sameFile reports whether rel is a regular file with mode 0644 and exactly
// content. A symbolic link never counts as the same: Write replaces it.
func sameFile(r *os.Root, rel string, content []byte) (bool, error) {
	fi, err := r.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != fileMode || fi.Size() != int64(len(content)) {
		return false, nil
	}
	old, err := r.ReadFile(rel)
	if err != nil {
		return false, err
	}
	return bytes.Equal(old, content), nil
}

// writeAtomic replaces Dir/name with content: readers see the old file or the
// new one, never a part. The directory is synced by the caller.
func writeAtomic(r *os.Root, name string, content []byte) (err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := path.Join(Dir, "."+name+tempMarker+hex.EncodeToString(rnd[:]))
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			r.Remove(tmp)
		}
	}()
	// The umask may have narrowed the mode given to OpenFile.
	if err := f.Chmod(fileMode); err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.Rename(tmp, path.Join(Dir, name))
}

// removeOwned deletes the files in Dir that bondstrap owns and drop selects,
// and returns their paths relative to the root, sorted. Directories are left
// alone even if their names look like bondstrap's.
func removeOwned(r *os.Root, drop func(name string) bool) ([]string, error) {
	d, err := r.Open(Dir)
	if err != nil {
		return nil, err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !owned(name) || !drop(name) {
			continue
		}
		rel := path.Join(Dir, name)
		if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, rel)
	}
	slices.Sort(removed)
	return removed, nil
}

// syncDir fsyncs a directory so that renames and removals in it survive a
// crash.
func syncDir(r *os.Root, dir string) error {
	d, err := r.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
