package units

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
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

// Write makes the directories of layout l under root hold exactly files
// among bondstrap's own files: it writes each file that is missing or
// differs, leaves identical files alone (not even their mtime changes), and
// removes the bondstrap files (Prefix*) that files does not list, such as the
// unit of a member that is no longer in the plan. Files not owned by
// bondstrap are never touched.
//
// The set changes as a whole or not at all, as far as a file system allows:
// every new content goes to a temporary file in its directory and is synced
// first, and only when all are written are they renamed over the old files
// (then stale files are removed and the directories synced). A full disk or
// a read-only root fails the call with the old files intact and no
// temporary file left.
//
// Every name must be a base name that starts with Prefix and ends in .netdev
// or .network (.link for Link files, .rules for udev rules); a bad name
// fails the whole call before anything is written. All access goes through
// an os.Root, so neither a name nor a symbolic link under root can lead
// outside it. Missing directories (root included) are created 0755; files
// are 0644.
func Write(root string, l Layout, files []File) (WriteResult, error) {
	return write(root, l, files, true)
}

// Add writes files as Write does, but removes nothing: the fallback adds its
// unit for this boot beside what is there.
func Add(root string, l Layout, files []File) (WriteResult, error) {
	return write(root, l, files, false)
}

func write(root string, l Layout, files []File, removeStale bool) (WriteResult, error) {
	var res WriteResult
	type target struct {
		kind    Kind
		name    string
		rel     string
		content []byte
	}
	want := make(map[Kind]map[string]bool)
	var targets []target
	for _, f := range files {
		if err := checkFileName(root, l, f.Kind, f.Name); err != nil {
			return res, err
		}
		if want[f.Kind][f.Name] {
			return res, fmt.Errorf("write units: %w: %s given twice", ErrBadName, f.Name)
		}
		if want[f.Kind] == nil {
			want[f.Kind] = make(map[string]bool)
		}
		want[f.Kind][f.Name] = true
		targets = append(targets, target{f.Kind, f.Name, path.Join(l.dir(f.Kind), f.Name), f.Content})
	}
	slices.SortFunc(targets, func(a, b target) int { return strings.Compare(a.rel, b.rel) })

	if err := os.MkdirAll(root, dirMode); err != nil {
		return res, fmt.Errorf("write units: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return res, fmt.Errorf("write units: %w", err)
	}
	defer r.Close()

	// Stage: every changed file as a synced temporary file.
	type staged struct{ tmp, rel string }
	var temps []staged
	cleanup := func() {
		for _, t := range temps {
			r.Remove(t.tmp)
		}
	}
	for _, t := range targets {
		same, err := sameFile(r, t.rel, t.content)
		if err != nil {
			cleanup()
			return WriteResult{}, fmt.Errorf("write units: %w", err)
		}
		if same {
			res.Unchanged = append(res.Unchanged, t.rel)
			continue
		}
		if err := mkdirAll(r, path.Dir(t.rel)); err != nil {
			cleanup()
			return WriteResult{}, fmt.Errorf("write units: %w", err)
		}
		tmp, err := writeTemp(r, t.rel, t.content)
		if err != nil {
			cleanup()
			return WriteResult{}, fmt.Errorf("write units: %s: %w", t.rel, err)
		}
		temps = append(temps, staged{tmp, t.rel})
	}
	// Commit: renames, which need no space.
	for i, t := range temps {
		if err := r.Rename(t.tmp, t.rel); err != nil {
			temps = temps[i:]
			cleanup()
			return res, fmt.Errorf("write units: %w", err)
		}
		res.Written = append(res.Written, t.rel)
	}
	dirs := map[string]bool{}
	for _, t := range temps {
		dirs[path.Dir(t.rel)] = true
	}
	for _, k := range kinds {
		if !removeStale {
			break
		}
		dir := l.dir(k)
		removed, err := removeOwned(r, k, dir, func(name string) bool { return !want[k][name] })
		res.Removed = append(res.Removed, removed...)
		if err != nil {
			return res, fmt.Errorf("write units: %w", err)
		}
		if len(removed) > 0 {
			dirs[dir] = true
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if err := syncDir(r, dir); err != nil {
			return res, fmt.Errorf("write units: %w", err)
		}
	}
	return res, nil
}

// Remove deletes every file bondstrap owns in the directories of l under
// root (its units, rules and any temporary file a crashed Write left), as a
// rollback does. A missing directory is not an error. Files not owned by
// bondstrap are never touched.
func Remove(root string, l Layout) (WriteResult, error) {
	var res WriteResult
	r, err := os.OpenRoot(root)
	if err != nil {
		return res, fmt.Errorf("remove units: %w", err)
	}
	defer r.Close()
	for _, k := range kinds {
		removed, err := removeOwned(r, k, l.dir(k), func(string) bool { return true })
		res.Removed = append(res.Removed, removed...)
		if err != nil {
			return res, fmt.Errorf("remove units: %w", err)
		}
		if len(removed) > 0 {
			if err := syncDir(r, l.dir(k)); err != nil {
				return res, fmt.Errorf("remove units: %w", err)
			}
		}
	}
	return res, nil
}

// checkFileName accepts only a plain base name that bondstrap owns, and
// checks that joined under root it stays inside root.
func checkFileName(root string, l Layout, k Kind, name string) error {
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
	case isTemp(name) || !owned(k, name):
		return bad("is not a bondstrap file (" + Prefix + "*.netdev, *.network, *.link or *.rules) of its kind")
	}
	full := filepath.Join(root, l.dir(k), name)
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
// content. A symbolic link never counts as the same: Write replaces it. A
// directory is an error, found before anything is renamed: no rename can
// replace it.
func sameFile(r *os.Root, rel string, content []byte) (bool, error) {
	fi, err := r.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		return false, fmt.Errorf("%s is a directory", rel)
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

// writeTemp writes content to a new temporary file beside rel, synced, and
// returns its path; on error nothing is left. The leading dot and the suffix
// keep networkd and udev from reading it.
func writeTemp(r *os.Root, rel string, content []byte) (_ string, err error) {
	// math/rand: a name needs no secret, and crypto/rand blocks early in
	// boot until the kernel's pool is seeded.
	tmp := path.Join(path.Dir(rel), "."+path.Base(rel)+tempMarker+strconv.FormatUint(rand.Uint64(), 36))
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return "", err
	}
	// Not the named result, which each failing return sets to "".
	defer func() {
		if err != nil {
			f.Close()
			r.Remove(tmp)
		}
	}()
	// The umask may have narrowed the mode given to OpenFile.
	if err := f.Chmod(fileMode); err != nil {
		return "", err
	}
	if _, err := f.Write(content); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return tmp, nil
}

// removeOwned deletes the files of kind k in dir that bondstrap owns and
// drop selects, and returns their paths relative to the root, sorted. A
// missing dir holds nothing. Directories are left alone even if their names
// look like bondstrap's.
func removeOwned(r *os.Root, k Kind, dir string, drop func(name string) bool) ([]string, error) {
	d, err := r.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
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
		if e.IsDir() || !owned(k, name) || !drop(name) {
			continue
		}
		rel := path.Join(dir, name)
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
