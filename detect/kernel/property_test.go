package kernel

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// What validates builds a kernel request: for every bond of a config that
// parses, the RTM_NEWLINK bond data encodes, and decodes back to the same
// mode and settings. The good corpus and the fuzzer's configs both.
func TestGoodCorpusBuildsKernelRequests(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "netplan", "testdata", "good", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no good corpus: %v", err)
	}
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	n := 0
	for _, p := range append(paths, examples...) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := netplan.Parse(p, data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		n += checkRequests(t, cfg)
	}
	t.Logf("%d bond requests built and read back", n)
}

func FuzzBondRequest(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "netplan", "testdata", "good", "*.yaml"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := netplan.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		checkRequests(t, cfg)
	})
}

func checkRequests(t *testing.T, cfg *netplan.Config) int {
	t.Helper()
	n := 0
	for _, name := range cfg.BondNames() {
		b := cfg.Network.Bonds[name]
		mode := string(b.Mode())
		var ss spec.Settings
		if b.Parameters != nil {
			ss = b.Parameters.Settings
		}
		info, err := bondData(mode, ss)
		if err != nil {
			t.Fatalf("%s: %s: validated, but the kernel request does not build: %v", cfg.File, name, err)
		}
		infos, err := nl.ParseRouteAttr(info.Serialize()[unix.SizeofRtAttr:])
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range infos {
			if a.Attr.Type != nl.IFLA_INFO_DATA {
				continue
			}
			back, err := decodeBond(a.Value, nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", cfg.File, name, err)
			}
			if back.Mode != mode || len(back.Settings) != len(ss) {
				t.Fatalf("%s: %s: sent %s %v, read %s %v", cfg.File, name, mode, ss, back.Mode, back.Settings)
			}
			for _, s := range ss {
				if got, ok := back.Settings.Get(s.Param.Key); !ok || !got.Equal(s) {
					t.Fatalf("%s: %s: %s sent %s, read %s", cfg.File, name, s.Param.Key, s, got)
				}
			}
		}
		n++
	}
	return n
}
