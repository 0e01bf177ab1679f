package initrd

import (
	"bytes"
	"io/fs"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// readNewc parses a newc archive into path → entry (mode bits as in the header).
func readNewc(t *testing.T, b []byte) map[string]struct {
	mode uint64
	data string
} {
	t.Helper()
	out := map[string]struct {
		mode uint64
		data string
	}{}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+nameSize-1])
		off = align(off + 110 + nameSize)
		data := string(b[off : off+size])
		off = align(off + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("trailer at %d of %d bytes", off, len(b))
			}
			return out
		}
		out[name] = struct {
			mode uint64
			data string
		}{uint64(mode), data}
	}
}

func TestArchiveNewc(t *testing.T) {
	var a Archive
	a.AddFile("/usr/share/x/file", []byte("hello"), 0o640)
	a.AddSymlink("bin/sh", "/bin/busybox")
	a.AddDir("tmp", 0o1777)
	a.AddCharDevice("dev/console", 0o600, 5, 1)
	var buf bytes.Buffer
	if err := a.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got := readNewc(t, buf.Bytes())
	want := map[string]uint64{
		"usr": 0o40755, "usr/share": 0o40755, "usr/share/x": 0o40755,
		"usr/share/x/file": 0o100640, "bin": 0o40755, "bin/sh": 0o120777,
		"tmp": 0o40000 | uint64(fs.FileMode(0o1777).Perm()), "dev": 0o40755, "dev/console": 0o20600,
	}
	for name, mode := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if e.mode != mode {
			t.Errorf("%s: mode %o, want %o", name, e.mode, mode)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d", len(got), len(want))
	}
	if got["usr/share/x/file"].data != "hello" || got["bin/sh"].data != "/bin/busybox" {
		t.Errorf("contents: %+v", got)
	}

	// Cross-check with GNU cpio where it is installed.
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		if n := len(strings.Fields(string(out))); n != len(want) {
			t.Errorf("cpio -t lists %d entries:\n%s", n, out)
		}
	}
}
