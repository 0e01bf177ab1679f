//go:build linux

package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// applyLab has three NICs: nic0 and nic1 down with link waiting behind them,
// nic2 up (MTU 1400) with no link. The rules take NICs named nic* at 1 Gb/s
// or more, so nic2 is brought up... no: it is already up; it is a candidate
// that never gets link, and select leaves it out.
func applyLab(t *testing.T) (*lab, map[string]string) {
	l := newLab(t)
	l.veth("nic0", "peer0", false)
	l.veth("nic1", "peer1", false)
	nic2 := l.veth("nic2", "peer2", true)
	if err := l.h.LinkSetMTU(nic2, 1400); err != nil {
		t.Fatal(err)
	}
	if err := l.h.LinkSetUp(nic2); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, n := range []string{"nic0", "nic1", "nic2"} {
		before[n] = l.linkState(n)
	}
	return l, before
}

const applyYAML = `
network:
  version: 2
  ethernets:
    fast:
      match: {name: "nic*", min-speed: 1000}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100, primary: fast}
      dhcp4: true
bondstrap:
  link-timeout: 2s
  dhcp-timeout: 10s
`

// runApply runs Apply on cfg in the lab's client namespace, with its root,
// report and resolver file in a temporary directory, and logs the summary it
// printed.
func runApply(t *testing.T, l *lab, cfg *netplan.Config) (*Report, Options, *bytes.Buffer, error) {
	dir := t.TempDir()
	out := &bytes.Buffer{}
	opts := Options{
		Root:        filepath.Join(dir, "root"),
		RuntimeRoot: filepath.Join(dir, "runtime"),
		ReportPath:  filepath.Join(dir, "run", "report.json"),
		ResolvConf:  filepath.Join(dir, "resolv.conf"),
		Logger:      testLogger(t),
		Out:         out,
		Kernel:      l.k,
		Inventory:   l.vethInventory("nic0", "nic1", "nic2"),
	}
	var rep *Report
	var err error
	in(t, l.client, func() { rep, err = Apply(context.Background(), cfg, opts) })
	t.Logf("summary:\n%s", out)
	return rep, opts, out, err
}

// This host's kernel has no bonding driver: apply must fail in the bond
// stage, say so, write no units, and leave every NIC as it found it.
func TestApplyWithoutBondingDriver(t *testing.T) {
	l, before := applyLab(t)
	cfg := loadConfig(t, applyYAML)
	rep, opts, out, err := runApply(t, l, cfg)

	var se *StageError
	if !errors.As(err, &se) || se.Stage != "bond" {
		t.Fatalf("err = %v, want a StageError of stage bond", err)
	}
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("err = %v, want it to wrap EOPNOTSUPP", err)
	}
	if !strings.HasPrefix(err.Error(), "stage bond failed: ") {
		t.Errorf("message %q", err)
	}
	for n, b := range before {
		if after := l.linkState(n); after != b {
			t.Errorf("%s: after %s, before %s", n, after, b)
		}
	}
	if _, err := l.h.LinkByName("bond0"); err == nil {
		t.Error("bond0 exists after a failed run")
	}
	if _, err := os.Stat(opts.Root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root %s was created: %v", opts.Root, err)
	}

	if rep.Outcome != OutcomeFailed || rep.FailedStage != "bond" || rep.Changed {
		t.Errorf("report outcome %q stage %q changed %t", rep.Outcome, rep.FailedStage, rep.Changed)
	}
	if len(rep.NoLink) != 1 || rep.NoLink[0] != "nic2" {
		t.Errorf("no_link %v, want [nic2]", rep.NoLink)
	}
	if rep.Plan == nil || len(rep.Plan.Bonds) != 1 || strings.Join(rep.Plan.Bonds[0].Members, ",") != "nic0,nic1" {
		t.Errorf("plan %+v", rep.Plan)
	}
	var onDisk map[string]any
	data, err := os.ReadFile(opts.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk["outcome"] != "failed" || onDisk["failed_stage"] != "bond" {
		t.Errorf("report.json outcome %v stage %v", onDisk["outcome"], onDisk["failed_stage"])
	}
	var stages []string
	for _, s := range rep.Stages {
		stages = append(stages, s.Name+":"+s.Outcome)
	}
	want := "detect:ok select:ok ethernets:ok bond:failed lacp:skipped stack:skipped address:skipped persist:skipped teardown:ok report:ok"
	if got := strings.Join(stages, " "); got != want {
		t.Errorf("stages %s\nwant   %s", got, want)
	}
	if !strings.Contains(out.String(), "FAILED") {
		t.Errorf("summary does not say FAILED:\n%s", out)
	}
}

// With on-failure: fallback-dhcp the same failure ends with an address by
// DHCP on the first member with link, its unit written for this boot (under
// /run: the next boot tries the bond again), and a degraded run.
func TestApplyFallbackDHCP(t *testing.T) {
	l, before := applyLab(t)
	l.serverAddr("peer0", "198.51.100.1/24")
	d := l.startDNSMasq("peer0",
		"--dhcp-option=option:router,198.51.100.1",
		"--dhcp-option=option:dns-server,198.51.100.53")
	cfg := loadConfig(t, applyYAML+"  on-failure: fallback-dhcp\n")
	rep, opts, out, err := runApply(t, l, cfg)
	if !errors.Is(err, ErrDegraded) {
		t.Fatalf("err = %v, want a degraded run", err)
	}
	if rep.Outcome != OutcomeDegraded || !rep.FallbackUsed || rep.Fallback == nil || rep.Fallback.NIC != "nic0" {
		t.Fatalf("report outcome %q fallback %+v", rep.Outcome, rep.Fallback)
	}
	if !strings.Contains(rep.Error, "stage bond failed") {
		t.Errorf("report error %q", rep.Error)
	}
	nic0, _ := l.h.LinkByName("nic0")
	addrs, _ := l.h.AddrList(nic0, netlink.FAMILY_V4)
	if len(addrs) != 1 {
		t.Fatalf("nic0 addresses %v", addrs)
	}
	fields := d.lease(t, addrs[0].IP.String())
	if fields[4] != "01:"+nic0.Attrs().HardwareAddr.String() {
		t.Errorf("lease %v: client id is not 01+MAC of nic0", fields)
	}
	assertDefaultRoute(t, l, nic0, "198.51.100.1")
	for _, n := range []string{"nic1", "nic2"} {
		if after := l.linkState(n); after != before[n] {
			t.Errorf("%s: after %s, before %s", n, after, before[n])
		}
	}
	if len(rep.Fallback.Units) != 1 || !strings.HasPrefix(rep.Fallback.Units[0], "run/systemd/network/05-bondstrap-fallback-") {
		t.Fatalf("fallback units %v, want one under run/systemd/network", rep.Fallback.Units)
	}
	for _, p := range rep.Fallback.Units {
		if _, err := os.Stat(filepath.Join(opts.RuntimeRoot, p)); err != nil {
			t.Error(err)
		}
	}
	if rep.Units != nil || rep.Networkd != "enabled" {
		t.Errorf("persisted units %+v, networkd %q: want none persisted, networkd enabled for this boot", rep.Units, rep.Networkd)
	}
	if _, err := os.Stat(filepath.Join(opts.RuntimeRoot, "run/systemd/system/multi-user.target.wants/systemd-networkd.service")); err != nil {
		t.Errorf("systemd-networkd not enabled for this boot: %v", err)
	}
	if !strings.Contains(out.String(), "DEGRADED") {
		t.Errorf("summary does not say DEGRADED:\n%s", out)
	}
}

// When the first NIC with link gets no lease (no DHCP server on its segment),
// the fallback goes on to the next within the same dhcp-timeout, and puts
// the first back as it found it.
func TestApplyFallbackTriesNextNIC(t *testing.T) {
	l, before := applyLab(t)
	l.serverAddr("peer1", "198.51.100.1/24")
	d := l.startDNSMasq("peer1", "--dhcp-option=option:router,198.51.100.1")
	cfg := loadConfig(t, applyYAML+"  on-failure: fallback-dhcp\n")
	rep, _, _, err := runApply(t, l, cfg)
	if !errors.Is(err, ErrDegraded) {
		t.Fatalf("err = %v, want a degraded run", err)
	}
	if rep.Fallback == nil || rep.Fallback.NIC != "nic1" || strings.Join(rep.Fallback.Tried, ",") != "nic0,nic1" {
		t.Fatalf("fallback %+v, want tried nic0,nic1 and a lease on nic1", rep.Fallback)
	}
	nic1, _ := l.h.LinkByName("nic1")
	addrs, _ := l.h.AddrList(nic1, netlink.FAMILY_V4)
	if len(addrs) != 1 {
		t.Fatalf("nic1 addresses %v", addrs)
	}
	d.lease(t, addrs[0].IP.String())
	assertDefaultRoute(t, l, nic1, "198.51.100.1")
	for _, n := range []string{"nic0", "nic2"} {
		if after := l.linkState(n); after != before[n] {
			t.Errorf("%s: after %s, before %s", n, after, before[n])
		}
	}
}
