package units

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
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
	res, err := Write(root, Persistent, files)
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
	res, err := Remove(root, Persistent)
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
	if res, err := Remove(root, Persistent); err != nil || len(res.Removed) != 0 {
		t.Fatalf("Remove on empty root: %+v, %v", res, err)
	}
	mustWrite(t, root, unitsOf("bond0", "aa", "bb"))
	res, err := Remove(root, Persistent)
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
		_, err := Write(root, Persistent, files)
		if !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: err = %v, want ErrBadName", name, err)
		}
		if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("name %q: root was created before the names were checked", name)
		}
	}
	if _, err := Write(t.TempDir(), Persistent, append(unitsOf("bond0"), unitsOf("bond0")[0])); !errors.Is(err, ErrBadName) {
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
			if _, err := Write(root, Persistent, unitsOf("bond0", "aa")); err == nil {
				t.Error("wrote through a symlink that leaves the root")
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("files appeared outside the root: %v", entries)
			}
			if _, err := Remove(root, Persistent); err == nil {
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
	// End to end: rendered files pass Write's name rules and land in the
	// directory of their kind.
	for _, tc := range goldenCases() {
		files, err := tc.render(t)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []Layout{Persistent, Runtime} {
			root := t.TempDir()
			res, err := Write(root, l, files)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if len(res.Written) != len(files) {
				t.Errorf("%s: %+v", tc.name, res)
			}
			for _, f := range files {
				p := l.Network + "/" + f.Name
				if f.Kind == Udev {
					p = l.Udev + "/" + f.Name
				}
				if !slices.Contains(res.Written, p) {
					t.Errorf("%s: %s not written to %s: %q", tc.name, f.Name, p, res.Written)
				}
				if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || !bytes.Equal(got, f.Content) {
					t.Errorf("%s: %s: %q, %v", tc.name, p, got, err)
				}
			}
		}
	}
}

// withRule returns files plus a udev rule for bond.
func withRule(files []File, bond, content string) []File {
	return append(slices.Clone(files), File{Kind: Udev, Name: Prefix + bond + ".rules", Content: []byte(content)})
}

func TestWriteLayoutBothDirs(t *testing.T) {
	for _, l := range []Layout{Persistent, Runtime} {
		t.Run(l.Network, func(t *testing.T) {
			root := t.TempDir()
			foreignRule := filepath.Join(root, l.Udev, "70-persistent-net.rules")
			if err := os.MkdirAll(filepath.Dir(foreignRule), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(foreignRule, []byte("# the admin's\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// A temporary file a crashed Write left in the udev directory.
			staleTemp := "." + Prefix + "bond0.rules" + tempMarker + "zz"
			if err := os.WriteFile(filepath.Join(root, l.Udev, staleTemp), []byte("half"), 0o644); err != nil {
				t.Fatal(err)
			}
			files := withRule(withRule(unitsOf("bond0", "aa"), "bond0", "ACTION==\"add\"\n"), "bond1", "ACTION==\"add\"\n")
			res, err := Write(root, l, files)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				l.Network + "/" + Prefix + "bond0-aa.network", l.Network + "/" + Prefix + "bond0.netdev",
				l.Network + "/" + Prefix + "bond0.network",
				l.Udev + "/" + Prefix + "bond0.rules", l.Udev + "/" + Prefix + "bond1.rules",
			}
			if !slices.Equal(res.Written, want) {
				t.Errorf("Written %q, want %q", res.Written, want)
			}
			if want := []string{l.Udev + "/" + staleTemp}; !slices.Equal(res.Removed, want) {
				t.Errorf("Removed %q, want %q", res.Removed, want)
			}
			// The other layout's directories stay empty.
			other := Runtime
			if l == Runtime {
				other = Persistent
			}
			for _, d := range []string{other.Network, other.Udev} {
				if _, err := os.Stat(filepath.Join(root, d)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists: %v", d, err)
				}
			}

			// bond1 is gone: its rule is stale, bond0 no longer needs one.
			res, err = Write(root, l, unitsOf("bond0", "aa"))
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{l.Udev + "/" + Prefix + "bond0.rules", l.Udev + "/" + Prefix + "bond1.rules"}; !slices.Equal(res.Removed, want) {
				t.Errorf("Removed %q, want %q", res.Removed, want)
			}
			if len(res.Written) != 0 || len(res.Unchanged) != 3 {
				t.Errorf("second write: %+v", res)
			}
			entries, err := os.ReadDir(filepath.Join(root, l.Udev))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != "70-persistent-net.rules" {
				t.Errorf("udev directory holds %v", entries)
			}
			if got, _ := os.ReadFile(foreignRule); string(got) != "# the admin's\n" {
				t.Errorf("foreign rule changed: %q", got)
			}
		})
	}
}

func TestAddKeepsAndWriteRemovesFallback(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, root, withRule(unitsOf("bond0", "aa"), "bond0", "x\n"))
	fallback, err := RenderFallback(i350a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fallback[0].Name, FallbackPrefix) {
		t.Fatalf("fallback unit %s", fallback[0].Name)
	}
	res, err := Add(root, Persistent, fallback)
	if err != nil {
		t.Fatal(err)
	}
	if want := rel(fallback[0].Name); !slices.Equal(res.Written, want) || len(res.Removed) != 0 {
		t.Errorf("Add: %+v", res)
	}
	// Add removed nothing: the bond's units and rule are there.
	if got := dirNames(t, root); len(got) != 4 {
		t.Errorf("after Add: %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, Persistent.Udev, Prefix+"bond0.rules")); err != nil {
		t.Error(err)
	}
	// The fallback unit is bondstrap's: a later Write without it removes it.
	res = mustWrite(t, root, unitsOf("bond0", "aa"))
	if want := []string{Persistent.Network + "/" + fallback[0].Name, Persistent.Udev + "/" + Prefix + "bond0.rules"}; !slices.Equal(res.Removed, want) {
		t.Errorf("Removed %q, want %q", res.Removed, want)
	}
	// And Remove removes it too.
	if _, err := Add(root, Persistent, fallback); err != nil {
		t.Fatal(err)
	}
	res, err = Remove(root, Persistent)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 4 || !slices.Contains(res.Removed, Persistent.Network+"/"+fallback[0].Name) {
		t.Errorf("Remove: %q", res.Removed)
	}
}

// snapshot records every file, directory and link under root, by path
// relative to root: content, link target, or "dir".
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[r] = "-> " + target
			return err
		case d.IsDir():
			out[r] = "dir"
		default:
			content, err := os.ReadFile(p)
			out[r] = string(content)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noTemps fails if a temporary file of Write is left anywhere under root.
func noTemps(t *testing.T, root string) {
	t.Helper()
	for p := range snapshot(t, root) {
		base := filepath.Base(p)
		for _, pattern := range []string{".10-bondstrap-*.tmp-*", ".05-bondstrap-*.tmp-*"} {
			if ok, _ := filepath.Match(pattern, base); ok {
				t.Errorf("temporary file %s left", p)
			}
		}
	}
}

// failingWrite sets up a root where Write of the new set fails after it has
// staged some of it.
type failingWrite struct {
	name string
	// old is the set on disk before; new the set that fails.
	old, new []File
	// breakRoot makes staging of new fail part-way; it returns a function
	// that undoes what must be undone before the checks (or nil).
	breakRoot func(t *testing.T, root string) func()
}

func TestWriteAtomicOnFailure(t *testing.T) {
	old := withRule(unitsOf("bond0", "aa", "bb"), "bond0", "old rule\n")
	changed := func(rule string) []File {
		files := unitsOf("bond0", "aa", "cc") // bb left, cc new
		for i := range files {
			files[i].Content = append(files[i].Content, "# changed\n"...)
		}
		return withRule(files, "bond0", rule)
	}
	cases := []failingWrite{
		{
			// The udev directory cannot be created: the network files,
			// which sort first, are staged before the rule fails.
			name: "udev dir is a file",
			old:  unitsOf("bond0", "aa", "bb"),
			new:  changed("new rule\n"),
			breakRoot: func(t *testing.T, root string) func() {
				p := filepath.Join(root, Persistent.Udev)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("not a directory\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return nil
			},
		},
		{
			// A full disk: writing the last file's content fails (EFBIG
			// under RLIMIT_FSIZE, as ENOSPC would) after the network
			// files were staged.
			name: "disk full at the last file",
			old:  old,
			new:  changed(strings.Repeat("# a long rule\n", 1<<20/8)),
			breakRoot: func(t *testing.T, _ string) func() {
				var lim syscall.Rlimit
				if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
					t.Skip(err)
				}
				small := lim
				// Above what the test binary's own log needs.
				small.Cur = 1 << 20
				if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
					t.Skip(err)
				}
				return func() {
					if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			// The rules directory is a symbolic link out of the root,
			// which os.Root refuses to follow.
			name: "udev dir leaves the root",
			old:  unitsOf("bond0", "aa", "bb"),
			new:  changed("new rule\n"),
			breakRoot: func(t *testing.T, root string) func() {
				if err := os.MkdirAll(filepath.Join(root, "etc/udev"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/", filepath.Join(root, Persistent.Udev)); err != nil {
					t.Fatal(err)
				}
				return nil
			},
		},
		{
			// A directory where the rule goes: only the rename would
			// fail, after the network files were renamed, unless Write
			// finds it while staging.
			name: "directory in the rule's place",
			old:  old,
			new:  withRule(changed("new rule\n"), "bond1", "new rule\n"),
			breakRoot: func(t *testing.T, root string) func() {
				if err := os.Mkdir(filepath.Join(root, Persistent.Udev, Prefix+"bond1.rules"), 0o755); err != nil {
					t.Fatal(err)
				}
				return nil
			},
		},
		{
			// A root mounted read-only where the rules go.
			name: "udev dir read-only",
			old:  old,
			new:  changed("new rule\n"),
			breakRoot: func(t *testing.T, root string) func() {
				if os.Geteuid() == 0 {
					t.Skip("root writes to read-only directories")
				}
				p := filepath.Join(root, Persistent.Udev)
				if err := os.Chmod(p, 0o555); err != nil {
					t.Fatal(err)
				}
				return func() { os.Chmod(p, 0o755) }
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mustWrite(t, root, tc.old)
			before := snapshot(t, root)
			undo := tc.breakRoot(t, root)
			broken := snapshot(t, root)
			res, err := Write(root, Persistent, tc.new)
			if undo != nil {
				undo()
			}
			if err == nil {
				t.Fatalf("Write succeeded: %+v", res)
			}
			t.Logf("error (as expected): %v", err)
			if len(res.Written)+len(res.Removed) != 0 {
				t.Errorf("failed Write reports changes: %+v", res)
			}
			after := snapshot(t, root)
			if !maps.Equal(after, broken) {
				t.Errorf("the failed Write changed the root:\nbefore %q\nafter  %q", broken, after)
			}
			for _, f := range tc.old {
				dir := Persistent.Network
				if f.Kind == Udev {
					dir = Persistent.Udev
				}
				if got := after[filepath.Join(dir, f.Name)]; got != string(f.Content) || before[filepath.Join(dir, f.Name)] != got {
					t.Errorf("old %s is now %q", f.Name, got)
				}
			}
			noTemps(t, root)
		})
	}
}

func TestWriteRefusesWrongKind(t *testing.T) {
	for _, f := range []File{
		{Kind: Udev, Name: Prefix + "bond0.network"},
		{Kind: Udev, Name: Prefix + "bond0.netdev"},
		{Kind: Network, Name: Prefix + "bond0.rules"},
		{Kind: Udev, Name: "99-bondstrap-bond0.rules"},
		{Kind: Udev, Name: Prefix + ".rules"},
		{Kind: Network, Name: FallbackPrefix + ".network"},
		{Kind: Udev, Name: "." + Prefix + "bond0.rules" + tempMarker + "1"},
	} {
		root := filepath.Join(t.TempDir(), "root")
		if _, err := Write(root, Persistent, append(unitsOf("bond0"), f)); !errors.Is(err, ErrBadName) {
			t.Errorf("kind %d name %q: err = %v, want ErrBadName", f.Kind, f.Name, err)
		}
		if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("kind %d name %q: root was created", f.Kind, f.Name)
		}
	}
	// The same base name in both directories is fine (they differ).
	root := t.TempDir()
	if _, err := Write(root, Persistent, []File{{Kind: Network, Name: FallbackPrefix + "x.network", Content: []byte("x")},
		{Kind: Udev, Name: FallbackPrefix + "x.rules", Content: []byte("y")}}); err != nil {
		t.Errorf("fallback-prefixed names: %v", err)
	}
}

// TestNoCryptoRand keeps crypto/rand out of the package: it blocks in early
// boot until the kernel's entropy pool is seeded, and temporary names need
// no secret.
func TestNoCryptoRand(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"crypto/rand"` {
				t.Errorf("%s imports crypto/rand", p)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files")
	}
}
