package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel/fake"
	"github.com/bondstrap/bondstrap/netplan"
)

var update = flag.Bool("update", false, "rewrite the expected files of the corpus under testdata/corpus")

// The declarative corpus, in Ignition's manner: each case is a directory
// under testdata/corpus/positive or testdata/corpus/negative with
//
//	config.yaml    the config
//	machine.json   the model machine (fake.Machine): NICs, their cables, DHCP
//	               servers, what is configured before the run
//	faults.json    optional: changes the model refuses ([{prefix, errno, times}])
//	options.json   optional: {"inventory_error": "...", "read_only_root": true,
//	               "no_networkd": true}
//
// and what the run must produce, which -update rewrites:
//
//	error.txt      a config that does not validate: the error, key paths and all
//	result.txt     outcome, exit status, failed stage, error, the plan
//	transcript.txt every change to the kernel, in order
//	state.txt      the machine after the run
//	files/         every file written under the root and /run
//
// One runner runs every case against the model kernel (kernel/fake) in
// `go test -short`. Every case that fails must leave the machine exactly as
// found (state after = state before); every positive case, run again, must
// change nothing.
func TestCorpus(t *testing.T) {
	for _, kind := range []string{"positive", "negative"} {
		dirs, err := filepath.Glob(filepath.Join("testdata", "corpus", kind, "*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(dirs) == 0 {
			t.Fatalf("no %s cases", kind)
		}
		for _, dir := range dirs {
			t.Run(kind+"/"+filepath.Base(dir), func(t *testing.T) {
				runCase(t, dir, kind == "positive")
			})
		}
	}
}

type caseOptions struct {
	InventoryError string `json:"inventory_error"`
	ReadOnlyRoot   bool   `json:"read_only_root"`
	// NoNetworkd: the root has no systemd-networkd; by default it has its
	// units, not enabled (Debian's default).
	NoNetworkd bool `json:"no_networkd"`
}

type caseFault struct {
	Prefix string `json:"prefix"`
	Errno  string `json:"errno"`
	Times  int    `json:"times"`
}

var errnos = map[string]error{"EBUSY": syscall.EBUSY, "EPERM": syscall.EPERM, "EIO": syscall.EIO,
	"ENODEV": syscall.ENODEV, "EINVAL": syscall.EINVAL}

func runCase(t *testing.T, dir string, positive bool) {
	data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := netplan.Parse("config.yaml", data)
	if err != nil {
		if positive {
			t.Fatalf("a positive case does not validate: %v", err)
		}
		expect(t, dir, "error.txt", err.Error()+"\n")
		return
	}
	if _, err := os.Stat(filepath.Join(dir, "error.txt")); err == nil {
		t.Fatalf("the config validates, but error.txt expects: %s", readFile(t, filepath.Join(dir, "error.txt")))
	}

	var m fake.Machine
	readJSON(t, filepath.Join(dir, "machine.json"), &m, false)
	var opts caseOptions
	readJSON(t, filepath.Join(dir, "options.json"), &opts, true)
	var faults []caseFault
	readJSON(t, filepath.Join(dir, "faults.json"), &faults, true)

	k, err := fake.New(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		errno, ok := errnos[f.Errno]
		if !ok {
			t.Fatalf("faults.json: unknown errno %q", f.Errno)
		}
		k.Fail(f.Prefix, errno, f.Times)
	}
	before := k.State()

	tmp := t.TempDir()
	if !opts.NoNetworkd && !opts.ReadOnlyRoot {
		for _, u := range []string{"systemd-networkd.service", "systemd-networkd.socket", "systemd-networkd-wait-online.service"} {
			p := filepath.Join(tmp, "root", "lib/systemd/system", u)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("[Unit]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func() (*Report, string, error) {
		var log bytes.Buffer
		o := Options{
			Root:        filepath.Join(tmp, "root"),
			RuntimeRoot: filepath.Join(tmp, "runtime"),
			ReportPath:  filepath.Join(tmp, "report.json"),
			ResolvConf:  filepath.Join(tmp, "resolv.conf"),
			Logger:      slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{ReplaceAttr: dropTime})),
			Kernel:      k,
			Inventory:   k.Inventory,
			DHCP:        fakeDHCP{k},
			Now:         clock(),
		}
		if opts.InventoryError != "" {
			o.Inventory = func(context.Context) (inventory.Inventory, error) {
				return inventory.Inventory{}, errors.New(opts.InventoryError)
			}
		}
		if opts.ReadOnlyRoot {
			// A root that cannot take a directory: a file in its place.
			if err := os.WriteFile(o.Root, nil, 0o444); err != nil && !errors.Is(err, fs.ErrExist) {
				t.Fatal(err)
			}
		}
		rep, err := Apply(context.Background(), cfg, o)
		return rep, log.String(), err
	}
	rep, log, err := run()
	t.Logf("log:\n%s", log)

	expect(t, dir, "result.txt", strings.ReplaceAll(result(rep, err), tmp, "$TMP"))
	expect(t, dir, "transcript.txt", lines(k.Transcript()))
	after := k.State()
	expect(t, dir, "state.txt", lines(after))
	expectFiles(t, dir, tmp)

	switch {
	case rep.Outcome == OutcomeFailed:
		if !slices.Equal(before, after) {
			t.Errorf("a failed run left the machine changed:\nbefore:\n%s\nafter:\n%s", lines(before), lines(after))
		}
		if positive {
			t.Errorf("a positive case failed: %v", err)
		}
	case positive && rep.Outcome == OutcomeOK:
		rep2, log2, err2 := run()
		if err2 != nil || rep2.Changed {
			t.Errorf("second run: changed %t, err %v\n%s", rep2.Changed, err2, log2)
		}
	case positive:
		t.Errorf("a positive case ended %s: %v", rep.Outcome, err)
	}
}

// fakeDHCP asks the model's DHCP servers.
type fakeDHCP struct{ k *fake.Kernel }

func (d fakeDHCP) Lease(ctx context.Context, ifname string, mac net.HardwareAddr, _ *slog.Logger) (*Lease, error) {
	l, err := d.k.DHCP(ctx, ifname, mac)
	if errors.Is(err, fake.ErrNoServer) {
		// No answer: the real client would wait out its deadline.
		return nil, fmt.Errorf("%w on %s: no server answered (model)", ErrNoLease, ifname)
	}
	if err != nil {
		return nil, err
	}
	lease := &Lease{Addr: l.Addr, DNS: l.DNS, Search: l.Search, MTU: l.MTU, Lifetime: l.Lifetime, Server: l.Server}
	if l.Router.IsValid() {
		lease.Routers = append(lease.Routers, l.Router)
	}
	for _, r := range l.Routes {
		lease.Classless = append(lease.Classless, ClasslessRoute{Dst: r.Dst, Via: r.Via})
	}
	return lease, nil
}

// clock is a clock that moves 1 ms each time it is read, from a fixed start:
// runs are the same every time, timings included.
func clock() func() time.Time {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		now = now.Add(time.Millisecond)
		return now
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// result writes what a run ended with.
func result(rep *Report, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "outcome: %s\n", rep.Outcome)
	code := 0
	switch {
	case errors.Is(err, ErrDegraded):
		code = 3
	case err != nil:
		code = 1
	}
	fmt.Fprintf(&b, "exit: %d\n", code)
	if rep.FailedStage != "" {
		fmt.Fprintf(&b, "failed stage: %s\n", rep.FailedStage)
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %s\n", err)
	}
	if rep.Plan != nil {
		for _, bp := range rep.Plan.Bonds {
			fmt.Fprintf(&b, "bond %s mode %s mac %s members %v ids %v primary %q\n", bp.Name, bp.Mode, bp.MAC(),
				bp.Members, bp.MemberIDs, bp.Primary)
		}
	}
	if f := rep.Fallback; f != nil {
		fmt.Fprintf(&b, "fallback: tried %v, nic %q, error %q\n", f.Tried, f.NIC, f.Error)
	}
	if rep.Networkd != "" {
		fmt.Fprintf(&b, "networkd: %s\n", rep.Networkd)
	}
	if rep.PersistError != "" {
		fmt.Fprintf(&b, "persist error: %s\n", rep.PersistError)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func lines(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return strings.Join(l, "\n") + "\n"
}

// expect compares got with the case's file name, or writes it with -update.
func expect(t *testing.T, dir, name, got string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s--- got\n%s", name, want, got)
	}
}

// expectFiles compares every file written under the run's directories (the
// report and the logs excepted) with the case's files/.
func expectFiles(t *testing.T, dir, tmp string) {
	t.Helper()
	got := map[string]string{}
	filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "report.json" || strings.HasPrefix(p, filepath.Join(tmp, "root", "lib")) {
			return nil
		}
		rel, _ := filepath.Rel(tmp, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			got[rel] = "-> " + target + "\n"
			return nil
		}
		data, _ := os.ReadFile(p)
		got[rel] = string(data)
		return nil
	})
	want := map[string]string{}
	filesDir := filepath.Join(dir, "files")
	filepath.WalkDir(filesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(filesDir, p)
		data, _ := os.ReadFile(p)
		want[rel] = string(data)
		return nil
	})
	if *update {
		os.RemoveAll(filesDir)
		for rel, content := range got {
			p := filepath.Join(filesDir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for rel, w := range want {
		if g, ok := got[rel]; !ok {
			t.Errorf("files/%s was not written", rel)
		} else if g != w {
			t.Errorf("files/%s differs:\n--- want\n%s--- got\n%s", rel, w, g)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s was written, files/ does not expect it:\n%s", rel, got[rel])
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readJSON(t *testing.T, p string, v any, optional bool) {
	t.Helper()
	data, err := os.ReadFile(p)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}
