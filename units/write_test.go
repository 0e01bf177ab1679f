package units

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unitsOf is a small valid set of units: a bond and two members.
func unitsOf(bond string, members ...string) []File {
	files := []File{
		{Name: Prefix + bond + ".netdev", Content: []byte("[NetDev]\nName=" + bond + "\nKind=bond\n")},
		{Name: Prefix + bond + ".network", Content: []byte("[Match]\nName=" + bond + "\n")},
	}
	for _, m := range members {
		files = append(files, File{Name: Prefix + bond + "-" + m + ".network",
			Content: []byte("[Match]\nPermanentMACAddress=" + m + "\n\n[Network]\nBond=" + bond + "\n")})
	}
	return files
}

func rel(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = Dir + "/" + n
	}
	slices.Sort(out)
	return out
}

func mustWrite(t *testing.T, root string, files []File) WriteResult {
	t.Helper()
	res, err := Write(root, files)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// dirNames lists Dir under root.
func dirNames(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, Dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteCreatesWithModes(t *testing.T) {
	// A strict umask must not narrow the modes.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	root := filepath.Join(t.TempDir(), "target")
	files := unitsOf("bond0", "aa", "bb")
	res := mustWrite(t, root, files)
	if want := rel(Prefix+"bond0.netdev", Prefix+"bond0.network", Prefix+"bond0-aa.network", Prefix+"bond0-bb.network"); !slices.Equal(res.Written, want) {
		t.Errorf("Written %q, want %q", res.Written, want)
	}
	if len(res.Unchanged)+len(res.Removed) != 0 {
		t.Errorf("unexpected %+v", res)
	}
	for _, d := range []string{"etc", "etc/systemd", Dir} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v, want 0755", d, fi.Mode().Perm())
		}
	}
	for _, f := range files {
		p := filepath.Join(root, Dir, f.Name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want regular 0644", f.Name, fi.Mode())
		}
		got, _ := os.ReadFile(p)
		if string(got) != string(f.Content) {
			t.Errorf("%s content %q", f.Name, got)
		}
	}
	// No temporary file is left behind.
	if names := dirNames(t, root); len(names) != len(files) {
		t.Errorf("directory holds %q", names)
	}
}

func TestWriteTwiceChangesNothing(t *testing.T) {
	root := t.TempDir()
	files := unitsOf("bond0", "aa", "bb")
	mustWrite(t, root, files)
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, p := range append([]string{Dir}, rel(Prefix+"bond0.netdev", Prefix+"bond0.network", Prefix+"bond0-aa.network", Prefix+"bond0-bb.network")...) {
		if err := os.Chtimes(filepath.Join(root, p), past, past); err != nil {
			t.Fatal(err)
		}
	}
	res := mustWrite(t, root, files)
	if len(res.Written) != 0 || len(res.Removed) != 0 || len(res.Unchanged) != len(files) {
		t.Errorf("second write: %+v", res)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(root, Dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(past) {
			t.Errorf("%s mtime changed to %v", f.Name, fi.ModTime())
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, Dir)); !fi.ModTime().Equal(past) {
		t.Errorf("directory changed: mtime %v", fi.ModTime())
	}
}

func TestWriteReplacesChangedAndFixesMode(t *testing.T) {
	root := t.TempDir()
	files := unitsOf("bond0", "aa")
	mustWrite(t, root, files)
	netdev := filepath.Join(root, Dir, files[0].Name)
	network := filepath.Join(root, Dir, files[1].Name)
	if err := os.WriteFile(netdev, []byte("[NetDev]\nName=edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(network, 0o600); err != nil {
		t.Fatal(err)
	}
	res := mustWrite(t, root, files)
	if want := rel(files[0].Name, files[1].Name); !slices.Equal(res.Written, want) {
		t.Errorf("Written %q, want %q", res.Written, want)
	}
	if want := rel(files[2].Name); !slices.Equal(res.Unchanged, want) {
		t.Errorf("Unchanged %q, want %q", res.Unchanged, want)
	}
	if got, _ := os.ReadFile(netdev); string(got) != string(files[0].Content) {
		t.Errorf("netdev not restored: %q", got)
	}
	if fi, _ := os.Stat(network); fi.Mode().Perm() != 0o644 {
		t.Errorf("network mode %v", fi.Mode().Perm())
	}
}

func TestWriteRemovesStaleMembers(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, root, append(unitsOf("bond0", "aa", "bb"), unitsOf("bond1", "cc")...))
	// A leftover from a crashed write is bondstrap's too.
	tmp := "." + Prefix + "bond0.netdev" + tempMarker + "0123"
	if err := os.WriteFile(filepath.Join(root, Dir, tmp), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The plan changed: member bb is gone, dd is new, bond1 is gone.
	files := unitsOf("bond0", "aa", "dd")
	res := mustWrite(t, root, files)
	if want := rel(Prefix + "bond0-dd.network"); !slices.Equal(res.Written, want) {
		t.Errorf("Written %q, want %q", res.Written, want)
	}
	want := rel(tmp, Prefix+"bond0-bb.network", Prefix+"bond1.netdev", Prefix+"bond1.network", Prefix+"bond1-cc.network")
	if !slices.Equal(res.Removed, want) {
		t.Errorf("Removed %q, want %q", res.Removed, want)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	if got := dirNames(t, root); !slices.Equal(got, names) {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

// foreign creates files and a directory that bondstrap does not own, some of
// them with names close to its own, and returns a check that they are intact.
func foreign(t *testing.T, root string) func() {
	t.Helper()
	dir := filepath.Join(root, Dir)
	if err := os.MkdirAll(filepath.Join(dir, Prefix+"dir.network"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"80-dhcp.network":           "[Match]\nName=en*\n",
		"99-default.link":           "[Link]\n",
		Prefix + "notes.txt":        "mine, not bondstrap's\n",
		"10-bondstrapper.network":   "[Match]\nName=x\n",
		"20-bondstrap-bond0.netdev": "[NetDev]\n",
		Prefix + "dir.network/keep": "inside a directory\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for name, content := range files {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != content {
				t.Errorf("foreign file %s: %q, %v", name, got, err)
			}
		}
	}
}

func TestForeignFilesUntouched(t *testing.T) {
	root := t.TempDir()
	intact := foreign(t, root)
	mustWrite(t, root, unitsOf("bond0", "aa"))
	intact()
	mustWrite(t, root, unitsOf("bond1", "bb"))
	intact()
	mustWrite(t, root, nil)
	intact()
	mustWrite(t, root, unitsOf("bond0", "aa"))
	res, err := Remove(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := rel(Prefix+"bond0.netdev", Prefix+"bond0.network", Prefix+"bond0-aa.network"); !slices.Equal(res.Removed, want) {
		t.Errorf("Removed %q, want %q", res.Removed, want)
	}
	intact()
}

func TestRemove(t *testing.T) {
	root := t.TempDir()
	// Nothing written yet: not an error.
	if res, err := Remove(root); err != nil || len(res.Removed) != 0 {
		t.Fatalf("Remove on empty root: %+v, %v", res, err)
	}
	mustWrite(t, root, unitsOf("bond0", "aa", "bb"))
	res, err := Remove(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 4 {
		t.Errorf("Removed %q", res.Removed)
	}
	if names := dirNames(t, root); len(names) != 0 {
		t.Errorf("left %q", names)
	}
}

func TestWriteRefusesBadNames(t *testing.T) {
	for _, name := range []string{
		"", ".", "..", "../" + Prefix + "x.network", Prefix + "a/b.network", Prefix + "..network",
		Prefix + "x..network", "/etc/passwd", "80-foo.network", Prefix + "x.conf", Prefix + ".network",
		"." + Prefix + "x.network" + tempMarker + "1", Prefix + "x\n.network", Prefix + `a\b.network`,
	} {
		root := filepath.Join(t.TempDir(), "root")
		files := append(unitsOf("bond0"), File{Name: name, Content: []byte("x")})
		_, err := Write(root, files)
		if !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: err = %v, want ErrBadName", name, err)
		}
		if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("name %q: root was created before the names were checked", name)
		}
	}
	if _, err := Write(t.TempDir(), append(unitsOf("bond0"), unitsOf("bond0")[0])); !errors.Is(err, ErrBadName) {
		t.Errorf("duplicate name: err = %v", err)
	}
}

func TestWriteStaysInsideRoot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(outside string) string
	}{
		{"absolute symlink", func(outside string) string { return outside }},
		{"relative symlink out", func(outside string) string { return "../outside" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			outside := filepath.Join(base, "outside")
			for _, d := range []string{root, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(tc.target(outside), filepath.Join(root, "etc")); err != nil {
				t.Fatal(err)
			}
			if _, err := Write(root, unitsOf("bond0", "aa")); err == nil {
				t.Error("wrote through a symlink that leaves the root")
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("files appeared outside the root: %v", entries)
			}
			if _, err := Remove(root); err == nil {
				t.Error("Remove followed a symlink that leaves the root")
			}
		})
	}
}

func TestWriteReplacesSymlinkedUnit(t *testing.T) {
	root := t.TempDir()
	files := unitsOf("bond0")
	if err := os.MkdirAll(filepath.Join(root, Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "elsewhere")
	if err := os.WriteFile(target, files[0].Content, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, Dir, files[0].Name)
	if err := os.Symlink("../../../elsewhere", link); err != nil {
		t.Fatal(err)
	}
	res := mustWrite(t, root, files)
	if !slices.Contains(res.Written, Dir+"/"+files[0].Name) {
		t.Errorf("symlink with the same content counted as unchanged: %+v", res)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("unit is not a regular file: %v, %v", fi, err)
	}
	if got, _ := os.ReadFile(target); string(got) != string(files[0].Content) {
		t.Errorf("symlink target modified: %q", got)
	}
}

func TestWriteRenderedUnits(t *testing.T) {
	// End to end: rendered files pass Write's name rules.
	for _, tc := range goldenCases() {
		files, err := tc.render()
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		res := mustWrite(t, root, files)
		if len(res.Written) != len(files) {
			t.Errorf("%s: %+v", tc.name, res)
		}
		for _, w := range res.Written {
			if !strings.HasPrefix(w, Dir+"/"+Prefix) {
				t.Errorf("%s: wrote %s", tc.name, w)
			}
		}
	}
}
