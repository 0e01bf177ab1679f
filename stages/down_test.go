package stages

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/detect/kernel/fake"
	"github.com/bondstrap/bondstrap/netplan"
)

// downCase is a corpus-like case applied on the model machine, ready for
// Down: the machine, its state before apply, and the run's options.
type downCase struct {
	k      *fake.Kernel
	before []string
	opts   Options
	tmp    string
	log    *bytes.Buffer
}

// newDownCase builds the model machine of a case directory (config.yaml,
// machine.json, optional options.json and faults.json, as the corpus has
// them) and the options of a run on it, with a resolver file that exists.
func newDownCase(t *testing.T, dir string) *downCase {
	t.Helper()
	var m fake.Machine
	readJSON(t, filepath.Join(dir, "machine.json"), &m, false)
	var co caseOptions
	readJSON(t, filepath.Join(dir, "options.json"), &co, true)
	var faults []caseFault
	readJSON(t, filepath.Join(dir, "faults.json"), &faults, true)
	k, err := fake.New(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		k.Fail(f.Prefix, errnos[f.Errno], f.Times)
	}
	tmp := t.TempDir()
	c := &downCase{k: k, before: k.State(), tmp: tmp, log: &bytes.Buffer{}}
	c.opts = Options{
		Root:        filepath.Join(tmp, "root"),
		RuntimeRoot: filepath.Join(tmp, "runtime"),
		ReportPath:  filepath.Join(tmp, "run", "report.json"),
		ResolvConf:  filepath.Join(tmp, "resolv.conf"),
		Logger:      slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		Kernel:      k,
		Inventory:   k.Inventory,
		DHCP:        fakeDHCP{k},
		Now:         clock(),
	}
	if co.InventoryError != "" {
		c.opts.Inventory = func(context.Context) (inventory.Inventory, error) {
			return inventory.Inventory{}, errors.New(co.InventoryError)
		}
	}
	if co.ReadOnlyRoot {
		if err := os.WriteFile(c.opts.Root, nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(c.opts.ResolvConf, []byte("nameserver 10.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// apply runs apply on the case and reads its report back from report.json,
// as `bondstrap down` does.
func (c *downCase) apply(t *testing.T, dir string) *Report {
	t.Helper()
	cfg, err := netplan.Parse("config.yaml", []byte(readFile(t, filepath.Join(dir, "config.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), cfg, c.opts); err != nil && !errors.Is(err, ErrDegraded) {
		t.Logf("apply: %v", err)
	}
	rep, err := ReadReport(c.opts.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// down runs Down on the case's machine with the clock stopped at the
// snapshot's time (no lifetime has run down).
func (c *downCase) down(t *testing.T, rep *Report, removeUnits bool) (*DownReport, error) {
	t.Helper()
	taken := time.Time{}
	if rep.Down != nil && rep.Down.Before != nil {
		taken = rep.Down.Before.Taken
	}
	return Down(context.Background(), rep, DownOptions{
		Kernel: c.k, Logger: c.opts.Logger, Out: c.log, Now: func() time.Time { return taken },
		RemoveUnits: removeUnits, RuntimeRoot: c.opts.RuntimeRoot, ReportPath: c.opts.ReportPath,
	})
}

func downCaseDirs(t *testing.T) []string {
	var dirs []string
	for _, pattern := range []string{"testdata/corpus/*/*", "testdata/down/*"} {
		ds, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if _, err := os.Stat(filepath.Join(d, "machine.json")); err == nil {
				dirs = append(dirs, d)
			}
		}
	}
	if len(dirs) < 10 {
		t.Fatalf("only %d cases", len(dirs))
	}
	return dirs
}

// Every case of the corpus, and the cases of testdata/down, applied and
// then torn down from the report it wrote, leaves the model machine as it
// was before apply: links, names, masters, MTUs, MACs, admin states, bond
// and bridge settings, LRO, IPv6 settings, addresses and routes. Among
// them: a plain bond with DHCP, a PXE address moved to the bond, a KVM host
// (bridge on an LACP bond, tagged VLAN, a renamed NIC), the bond0 the
// module made converted in place, a fallback's NIC, a standalone NIC with
// its own IPv6 settings, and a route apply took from a NIC it never
// touched. The resolver file and the units go back too.
func TestDownRestoresTheMachine(t *testing.T) {
	for _, dir := range downCaseDirs(t) {
		name := strings.TrimPrefix(dir, "testdata/")
		t.Run(name, func(t *testing.T) {
			c := newDownCase(t, dir)
			rep := c.apply(t, dir)
			built := c.k.State()
			if rep.Outcome != OutcomeFailed && slices.Equal(built, c.before) {
				t.Fatalf("apply (%s) changed nothing: the case proves nothing", rep.Outcome)
			}
			if rep.Down == nil {
				t.Fatal("the report has no down record")
			}
			dr, err := c.down(t, rep, true)
			t.Logf("log:\n%s", c.log)
			if err != nil {
				t.Fatalf("down: %v", err)
			}
			if after := c.k.State(); !slices.Equal(after, c.before) {
				t.Errorf("not as before apply:\nbefore:\n%s\nafter:\n%s", lines(c.before), lines(after))
			}
			if got := readFile(t, c.opts.ResolvConf); got != "nameserver 10.0.0.53\n" {
				t.Errorf("resolv.conf after down:\n%s", got)
			}
			if rep.Outcome != OutcomeFailed && dr.Outcome != OutcomeOK {
				t.Errorf("down ended %s", dr.Outcome)
			}
			expectNoUnits(t, c.tmp)
		})
	}
}

// expectNoUnits fails if a bondstrap unit or udev rule is left under dir.
func expectNoUnits(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "10-bondstrap") {
			t.Errorf("left after down: %s", p)
		}
		return nil
	})
}

// The KVM host comes down top first: the bridge, then the VLAN, then the
// bond (the reverse of apply), then the NIC gets its name back, down,
// before anything is restored.
func TestDownOrder(t *testing.T) {
	dir := "testdata/corpus/positive/kvm-host-bridge-on-lacp-bond-with-tagged-vlan"
	c := newDownCase(t, dir)
	rep := c.apply(t, dir)
	n := len(c.k.Transcript())
	dr, err := c.down(t, rep, false)
	if err != nil {
		t.Fatal(err)
	}
	tr := c.k.Transcript()[n:]
	at := func(line string) int {
		i := slices.Index(tr, line)
		if i < 0 {
			t.Fatalf("%q not in the transcript:\n%s", line, lines(tr))
		}
		return i
	}
	br, vlan, bond := at("link del br0"), at("link del bond0.10"), at("link del bond0")
	down, rename := at("link set mgmt0 down"), at("link set mgmt0 name eth2")
	if !(br < vlan && vlan < bond && bond < down && down < rename) {
		t.Errorf("out of order:\n%s", lines(tr))
	}
	if want := []string{"br0", "bond0.10", "bond0"}; !slices.Equal(dr.Deleted, want) {
		t.Errorf("deleted %v, want %v", dr.Deleted, want)
	}
	if want := []string{"mgmt0 → eth2"}; !slices.Equal(dr.Renamed, want) {
		t.Errorf("renamed %v, want %v", dr.Renamed, want)
	}
	if !slices.Contains(dr.Removed, "address 203.0.113.100/24 dev mgmt0") {
		t.Errorf("the management NIC's DHCP address is not among the removed: %v", dr.Removed)
	}
	// Without RemoveUnits the units stay, for the next boot.
	if _, err := os.Stat(filepath.Join(c.opts.Root, "etc/systemd/network/10-bondstrap-br0.netdev")); err != nil {
		t.Errorf("units removed without RemoveUnits: %v", err)
	}
}

// Addresses put back get what is left of their lifetimes.
func TestDownLifetimes(t *testing.T) {
	dir := "testdata/corpus/positive/pxe-address-on-member-moves-to-the-bond"
	c := newDownCase(t, dir)
	rep := c.apply(t, dir)
	later := rep.Down.Before.Taken.Add(100 * time.Second)
	if _, err := Down(context.Background(), rep, DownOptions{Kernel: c.k, Now: func() time.Time { return later }}); err != nil {
		t.Fatal(err)
	}
	if st := c.k.State(); !slices.Contains(st, "addr 192.0.2.77/24 dev eth0 valid_lft 2900s") {
		t.Errorf("the PXE address is not back with 3000s-100s left:\n%s", lines(st))
	}
}

// A second apply in the same boot finds the network built and changes
// nothing; its report still takes the machine back to before the first.
func TestDownAfterASecondApply(t *testing.T) {
	for _, dir := range []string{
		"testdata/corpus/positive/kvm-host-bridge-on-lacp-bond-with-tagged-vlan",
		"testdata/corpus/positive/pxe-address-on-member-moves-to-the-bond",
		"testdata/corpus/positive/module-made-bond0-converted-in-place",
		"testdata/down/standalone-nic-ipv6-settings",
	} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := newDownCase(t, dir)
			first := c.apply(t, dir)
			second := c.apply(t, dir)
			if second.Changed {
				t.Fatal("the second apply changed something: the test proves nothing")
			}
			if len(second.Down.Created) != len(first.Down.Created) {
				t.Errorf("created: first %v, second %v", first.Down.Created, second.Down.Created)
			}
			if _, err := c.down(t, second, true); err != nil {
				t.Fatal(err)
			}
			if after := c.k.State(); !slices.Equal(after, c.before) {
				t.Errorf("not as before the first apply:\nbefore:\n%s\nafter:\n%s", lines(c.before), lines(after))
			}
			if got := readFile(t, c.opts.ResolvConf); got != "nameserver 10.0.0.53\n" {
				t.Errorf("resolv.conf after down:\n%s", got)
			}
		})
	}
}

// Down marks the report torn down: a second down has nothing to do, and the
// next apply records the machine afresh.
func TestDownTwice(t *testing.T) {
	dir := "testdata/corpus/positive/active-backup-dhcp-by-pci-id"
	c := newDownCase(t, dir)
	c.apply(t, dir)
	rep, err := ReadReport(c.opts.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.down(t, rep, false); err != nil {
		t.Fatal(err)
	}
	again, err := ReadReport(c.opts.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	if again.Down.TornDown.IsZero() {
		t.Fatal("the report is not marked torn down")
	}
	n := len(c.k.Transcript())
	dr, err := c.down(t, again, false)
	if err != nil || dr.Outcome != OutcomeNothing || len(c.k.Transcript()) != n {
		t.Errorf("second down: %v, outcome %q, %d changes", err, dr.Outcome, len(c.k.Transcript())-n)
	}
	// Someone brings eth0 up after the down; apply again, down again: back
	// as the second apply found it, not as the first did.
	if _, err := c.k.SetUp(context.Background(), "eth0", true); err != nil {
		t.Fatal(err)
	}
	c.before = c.k.State()
	rep = c.apply(t, dir)
	if !rep.Down.TornDown.IsZero() || len(rep.Down.Created) != 1 {
		t.Errorf("the new run's record: torn down %v, created %v", rep.Down.TornDown, rep.Down.Created)
	}
	if _, err := c.down(t, rep, false); err != nil {
		t.Fatal(err)
	}
	if after := c.k.State(); !slices.Equal(after, c.before) {
		t.Errorf("not as before:\n%s", lines(after))
	}
}

// What down cannot stand behind, it refuses or leaves: a report without a
// record, one of another boot, a link that is no longer the one apply made,
// a resolver file someone rewrote.
func TestDownRefusals(t *testing.T) {
	dir := "testdata/corpus/positive/kvm-host-bridge-on-lacp-bond-with-tagged-vlan"
	ctx := context.Background()

	t.Run("no record", func(t *testing.T) {
		if _, err := Down(ctx, &Report{}, DownOptions{}); !errors.Is(err, ErrNoDownRecord) {
			t.Errorf("got %v", err)
		}
	})

	t.Run("another boot", func(t *testing.T) {
		c := newDownCase(t, dir)
		rep := c.apply(t, dir)
		orig := readBootID
		readBootID = func() string { return "another-boot" }
		defer func() { readBootID = orig }()
		n := len(c.k.Transcript())
		if _, err := c.down(t, rep, true); !errors.Is(err, ErrOtherBoot) {
			t.Errorf("got %v", err)
		}
		if len(c.k.Transcript()) != n {
			t.Error("down changed the machine")
		}
	})

	t.Run("foreign link and resolver file", func(t *testing.T) {
		c := newDownCase(t, dir)
		rep := c.apply(t, dir)
		ctx := context.Background()
		// Someone replaced br0 with a bridge of their own, and wrote
		// resolv.conf.
		if err := c.k.DeleteLink(ctx, "br0"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.opts.ResolvConf, []byte("nameserver 10.9.9.9\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dr, err := c.down(t, rep, false)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(dr.Deleted, "br0") || !slices.ContainsFunc(c.k.State(), func(l string) bool {
			return strings.HasPrefix(l, "link br0 ")
		}) {
			t.Errorf("down deleted a br0 it did not make: deleted %v", dr.Deleted)
		}
		if got := readFile(t, c.opts.ResolvConf); got != "nameserver 10.9.9.9\n" || !strings.Contains(dr.DNS, "left") {
			t.Errorf("resolv.conf %q, dns note %q", got, dr.DNS)
		}
	})
}

// A report read back keeps the record whole: the snapshot decodes, with
// its IPv6 settings, and the resolver file's content before apply.
func TestDownRecord(t *testing.T) {
	dir := "testdata/down/standalone-nic-ipv6-settings"
	c := newDownCase(t, dir)
	rep := c.apply(t, dir)
	rec := rep.Down
	if rec.BootID != readBootID() {
		t.Errorf("boot id %q, want %q", rec.BootID, readBootID())
	}
	if got := rec.Before.IPv6["eth2"]; got != kernel.DefaultIPv6 {
		t.Errorf("eth2's IPv6 settings before: %+v", got)
	}
	if !rec.Before.Has("eth2") || !slices.ContainsFunc(rec.Before.Addrs, func(a kernel.Addr) bool {
		return a.Link == "eth2" && a.Prefix.String() == "198.51.100.9/24" && a.Valid == 900*time.Second
	}) {
		t.Errorf("eth2's PXE address is not in the record: %+v", rec.Before.Addrs)
	}
	if want := []CreatedLink{{Name: "bond0", Kind: "bond", Index: rec.Created[0].Index}}; !slices.Equal(rec.Created, want) {
		t.Errorf("created %+v", rec.Created)
	}
	if rc := rec.ResolvConf; rc == nil || !rc.Existed || rc.Content != "nameserver 10.0.0.53\n" ||
		!strings.Contains(rc.Written, "nameserver 192.0.2.1") {
		t.Errorf("resolv.conf record %+v", rc)
	}
}

// A second run's record merges into the first's: the first run's links as
// it found them win, matched by index (a NIC it renamed is the same link);
// the links only the second touched are added, with lifetimes counted from
// the first snapshot's time; links a run made are never "found"; a made
// link that is gone is dropped; the resolver file is as the first found
// it, with what the second wrote.
func TestMergeDown(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	pfx := netip.MustParsePrefix
	prev := &DownState{
		BootID: "b",
		Before: &kernel.Snapshot{Taken: t0,
			Links: []kernel.Link{{Index: 2, Name: "eth0", MTU: 1500}, {Index: 4, Name: "eth2", MTU: 1500}},
			Addrs: []kernel.Addr{{Link: "eth2", Prefix: pfx("192.0.2.7/24"), Valid: 600 * time.Second, Preferred: 600 * time.Second}}},
		Created:    []CreatedLink{{Name: "bond0", Kind: "bond", Index: 10}, {Name: "bond7", Kind: "bond", Index: 12}},
		ResolvConf: &FileBefore{Path: "/etc/resolv.conf", Existed: true, Content: "A", Written: "B"},
	}
	cur := &DownState{
		BootID: "b",
		Before: &kernel.Snapshot{Taken: t0.Add(100 * time.Second),
			Links: []kernel.Link{{Index: 2, Name: "eth0", MTU: 9000}, {Index: 4, Name: "mgmt0", MTU: 1500},
				{Index: 3, Name: "eth1", MTU: 1500}, {Index: 10, Name: "bond0", Kind: "bond"}},
			Addrs: []kernel.Addr{{Link: "mgmt0", Prefix: pfx("203.0.113.9/24")},
				{Link: "eth1", Prefix: pfx("198.51.100.1/24"), Valid: 300 * time.Second, Preferred: 200 * time.Second},
				{Link: "bond0", Prefix: pfx("192.0.2.100/24")}},
			Routes: []kernel.Route{{Link: "eth1", Dst: pfx("0.0.0.0/0"), Gw: netip.MustParseAddr("198.51.100.254")},
				{Link: "mgmt0", Dst: pfx("10.0.0.0/8"), Gw: netip.MustParseAddr("203.0.113.1")}},
			LRO:  map[string]bool{"eth1": true, "mgmt0": true},
			IPv6: map[string]kernel.IPv6Config{"eth1": {AcceptRA: 0}, "bond0": {AcceptRA: 2}}},
		Created:    []CreatedLink{{Name: "br0", Kind: "bridge", Index: 11}},
		ResolvConf: &FileBefore{Path: "/etc/resolv.conf", Existed: true, Content: "B", Written: "C"},
	}
	links := []kernel.Link{{Index: 10, Name: "bond0", Kind: "bond"}, {Index: 11, Name: "br0", Kind: "bridge"}}
	got := mergeDown(prev, cur, links)

	want := &DownState{
		BootID: "b",
		Before: &kernel.Snapshot{Taken: t0,
			Links: []kernel.Link{{Index: 2, Name: "eth0", MTU: 1500}, {Index: 4, Name: "eth2", MTU: 1500},
				{Index: 3, Name: "eth1", MTU: 1500}},
			Addrs: []kernel.Addr{{Link: "eth2", Prefix: pfx("192.0.2.7/24"), Valid: 600 * time.Second, Preferred: 600 * time.Second},
				{Link: "eth1", Prefix: pfx("198.51.100.1/24"), Valid: 400 * time.Second, Preferred: 300 * time.Second}},
			Routes: []kernel.Route{{Link: "eth1", Dst: pfx("0.0.0.0/0"), Gw: netip.MustParseAddr("198.51.100.254")}},
			LRO:    map[string]bool{"eth1": true},
			IPv6:   map[string]kernel.IPv6Config{"eth1": {AcceptRA: 0}}},
		Created:    []CreatedLink{{Name: "bond0", Kind: "bond", Index: 10}, {Name: "br0", Kind: "bridge", Index: 11}},
		ResolvConf: &FileBefore{Path: "/etc/resolv.conf", Existed: true, Content: "A", Written: "C"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged:\ngot  %+v\n     %+v\nwant %+v\n     %+v", got, got.Before, want, want.Before)
	}
	if prev.Before.Links[0].MTU != 1500 || len(prev.Before.Links) != 2 {
		t.Error("the merge changed the earlier record")
	}
}
