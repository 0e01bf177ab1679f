package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/test/bench"
	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// benchConfig is what bondstrap applies in the time-to-network rounds:
// the demo's active-backup bond of the two virtio NICs, chosen by PCI ID
// and speed, with DHCP.
const benchConfig = `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000", min-speed: 10000}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      dhcp4: true
`

// Methods of bringing the bond up, as the results name them.
const (
	methodBondstrap = "bondstrap"
	methodSeed      = "seed-script"
	methodNetworkd  = "systemd-networkd"
)

// NetworkResult is the time-to-network comparison, in each guest.
type NetworkResult struct {
	Guests []GuestResult `json:"guests"`
}

// GuestResult is one guest's rounds.
type GuestResult struct {
	Guest string `json:"guest"`
	// Samples are every round's times by method, in milliseconds.
	Samples map[string][]float64 `json:"samples_ms"`
	// Median by method, in milliseconds.
	Median map[string]float64 `json:"median_ms"`
	// Ratio is bondstrap's median over each other method's (targets: at
	// most 0.4 of the seed script, 0.5 of networkd).
	Ratio map[string]float64 `json:"bondstrap_ratio"`
	// PeakRSSKiB is apply's peak resident memory (VmHWM), the largest of
	// the rounds.
	PeakRSSKiB int64 `json:"bondstrap_peak_rss_kib"`
	// Stages are apply's stage times in the last round, in milliseconds.
	Stages map[string]int64 `json:"bondstrap_stages_ms"`
	// Resolution is the guest clock's, in milliseconds.
	Resolution float64 `json:"clock_resolution_ms"`
}

// seedScript is the method bondstrap replaces, as operators script it in an
// initramfs: sysfs bonding, a settle, busybox udhcpc. $1 and $2 are the
// members.
const seedScript = `#!/bin/sh
echo +bond0 > /sys/class/net/bonding_masters
echo active-backup > /sys/class/net/bond0/bonding/mode
echo 100 > /sys/class/net/bond0/bonding/miimon
for n in "$1" "$2"; do ip link set "$n" down; echo "+$n" > /sys/class/net/bond0/bonding/slaves; done
ip link set bond0 up
sleep 1
exec busybox udhcpc -i bond0 -n -q -t 5 -T 1 -s /usr/local/lib/bstbench/udhcpc.sh
`

func measureNetwork(ctx context.Context, bin string, boots int, log *slog.Logger, say func(string, ...any)) (*NetworkResult, error) {
	bb, err := measureBusybox(ctx, bin, boots, log, say)
	if err != nil {
		return nil, fmt.Errorf("the busybox guest: %w", err)
	}
	deb, err := measureDebian(ctx, bin, boots, log, say)
	if err != nil {
		return nil, fmt.Errorf("the Debian guest: %w", err)
	}
	return &NetworkResult{Guests: []GuestResult{*bb, *deb}}, nil
}

// measureBusybox times bondstrap and the seed script in the busybox guest
// the VM tests boot (the initramfs's userland: no udevd, no systemd), a
// new VM each round.
func measureBusybox(ctx context.Context, bin string, boots int, log *slog.Logger, say func(string, ...any)) (*GuestResult, error) {
	res := newGuestResult("busybox initramfs (the VM tests' guest: no udevd), Debian's kernel under TCG, 1 vCPU; virtio 10G ×2 + e1000; dnsmasq --no-ping")
	res.Resolution = 10 // /proc/uptime: busybox's date has no %N
	methods := []string{methodBondstrap, methodSeed}
	for round := range boots {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		v, err := vm.Start(bctx, vm.Config{
			NICs:      []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
			Bondstrap: bin,
			Files: []initrd.File{
				{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte(benchConfig), Mode: 0o644},
				{Path: "/usr/local/lib/bstbench/seed.sh", Data: []byte(seedScript), Mode: 0o755},
				{Path: "/usr/local/lib/bstbench/udhcpc.sh", Data: initrd.UDHCPCScript(), Mode: 0o755},
			},
			Logger: log,
		})
		if err != nil {
			cancel()
			return nil, err
		}
		err = timeRound(bctx, v, round, methods, true, res, say)
		v.Close()
		cancel()
		if err != nil {
			return nil, err
		}
	}
	res.finish()
	return res, nil
}

// measureDebian times the three methods in one Debian guest (systemd,
// udevd), rebooted between rounds.
func measureDebian(ctx context.Context, bin string, boots int, log *slog.Logger, say func(string, ...any)) (*GuestResult, error) {
	root, err := vm.PrepareRoot(ctx, func(s string) { say("%s", s) })
	if err != nil {
		return nil, err
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bstbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// networkd off, as Debian installs it: it starts when it is timed.
	disk, err := vm.NewRootDiskRemoving(ctx, root, dir, []initrd.File{
		{Path: "/usr/bin/bondstrap", Data: binData, Mode: 0o755},
		{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte(benchConfig), Mode: 0o644},
		{Path: "/usr/local/lib/bstbench/seed.sh", Data: []byte(seedScript), Mode: 0o755},
		{Path: "/usr/local/lib/bstbench/udhcpc.sh", Data: initrd.UDHCPCScript(), Mode: 0o755},
	}, nil, vm.NetworkdEnableLinks)
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, time.Duration(boots)*4*time.Minute)
	defer cancel()
	v, err := vm.Start(bctx, vm.Config{
		NICs:     []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		Segments: []vm.Segment{{DHCP: &vm.DHCP{}}},
		MemoryMB: 1024,
		Root:     disk,
		Logger:   log,
	})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	res := newGuestResult("Debian 12 root with systemd and udevd, Debian's kernel under TCG, 1 vCPU; virtio 10G ×2 + e1000; dnsmasq --no-ping")
	res.Resolution = 0.001
	methods := []string{methodBondstrap, methodSeed, methodNetworkd}
	for round := range boots {
		if round > 0 {
			if err := v.Reboot(bctx); err != nil {
				return nil, err
			}
		}
		if err := waitSystem(bctx, v); err != nil {
			return nil, fmt.Errorf("round %d: %w", round+1, err)
		}
		if err := timeRound(bctx, v, round, methods, false, res, say); err != nil {
			return nil, err
		}
	}
	res.finish()
	return res, nil
}

func newGuestResult(guest string) *GuestResult {
	return &GuestResult{Guest: guest, Samples: map[string][]float64{}, Median: map[string]float64{}, Ratio: map[string]float64{}}
}

func (r *GuestResult) finish() {
	for m, s := range r.Samples {
		r.Median[m] = bench.Median(s)
	}
	for m, med := range r.Median {
		if m != methodBondstrap && med > 0 {
			r.Ratio[m] = r.Median[methodBondstrap] / med
		}
	}
}

// timeRound runs one round in a freshly booted guest: an untimed warm-up,
// then each method, the order rotated by round.
func timeRound(ctx context.Context, v *vm.VM, round int, methods []string, busybox bool, res *GuestResult, say func(string, ...any)) error {
	// Untimed: bondstrap writes the units networkd is timed with (to /run:
	// the next boot starts clean), and every program is read from the disk
	// once, so no method pays for a cold page cache.
	warm := "bondstrap apply -c /etc/bondstrap/bondstrap.yaml --runtime >/dev/null 2>&1 && bondstrap down >/dev/null 2>&1 && busybox true"
	if !busybox {
		warm += " && systemctl cat systemd-networkd.service >/dev/null && ip -V >/dev/null"
	}
	if _, err := guest(ctx, v, warm); err != nil {
		return fmt.Errorf("round %d: warm-up: %w", round+1, err)
	}
	order := slices.Clone(methods)
	for range round {
		order = append(order[1:], order[0])
	}
	var took []string
	for _, m := range order {
		ms, err := timeMethod(ctx, v, m, busybox, res)
		if err != nil {
			return fmt.Errorf("round %d, %s: %w", round+1, m, err)
		}
		res.Samples[m] = append(res.Samples[m], ms)
		took = append(took, fmt.Sprintf("%s %.0f ms", m, ms))
	}
	say("%s: round %d: %s", strings.SplitN(res.Guest, " ", 2)[0], round+1, strings.Join(took, ", "))
	return nil
}

// timeMethod brings bond0 up by method m, returns the milliseconds from
// the exec to the lease and default route, and takes it down again.
func timeMethod(ctx context.Context, v *vm.VM, m string, busybox bool, res *GuestResult) (float64, error) {
	m0, m1 := v.Iface(0), v.Iface(1)
	// The clock is the guest's, read in the same shell as the method, in
	// microseconds: date's nanoseconds, or busybox's uptime in hundredths.
	clock := func(name string) string {
		if busybox {
			return fmt.Sprintf("%[1]s=$(cut -d' ' -f1 /proc/uptime); %[1]s=$(( ${%[1]s%%.*}${%[1]s#*.} * 10000 ))", name)
		}
		return fmt.Sprintf("%s=$(( $(date +%%s%%N) / 1000 ))", name)
	}
	var run, down string
	switch m {
	case methodBondstrap:
		run = "bondstrap apply -c /etc/bondstrap/bondstrap.yaml --runtime >/tmp/apply.out 2>/tmp/apply.err"
		down = "bondstrap down >/dev/null"
	case methodSeed:
		run = fmt.Sprintf("/usr/local/lib/bstbench/seed.sh %s %s >/tmp/seed.out 2>&1", m0, m1)
		down = "echo -bond0 > /sys/class/net/bonding_masters"
	case methodNetworkd:
		// networkd's own start to its lease: the units are bondstrap's, in
		// /run/systemd/network since the warm-up.
		run = "systemctl start systemd-networkd.service && " +
			"timeout 60 sh -c 'until ip -4 route | grep -q \"^default .*dev bond0\"; do sleep 0.01; done'"
		down = "systemctl stop systemd-networkd.service systemd-networkd.socket; ip link del bond0"
	}
	script := fmt.Sprintf(`%s
%s || exit 1
%s
ip -4 route | grep -q "^default .*dev bond0" || { echo "no default route on bond0"; exit 1; }
echo $(( t1 - t0 ))`, clock("t0"), run, clock("t1"))
	out, err := guest(ctx, v, script)
	if err != nil {
		detail, _ := guest(ctx, v, "tail -n 20 /tmp/apply.err /tmp/seed.out 2>/dev/null; journalctl -b -u systemd-networkd -n 40 --no-pager -o short-monotonic 2>/dev/null; true")
		return 0, fmt.Errorf("%w\n%s", err, detail)
	}
	us, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("elapsed time %q: %w", out, err)
	}
	if m == methodBondstrap {
		data, err := v.ReadFile(ctx, "/run/bondstrap/report.json")
		if err != nil {
			return 0, err
		}
		var rep struct {
			PeakRSSKiB int64 `json:"peak_rss_kib"`
			Stages     []struct {
				Name     string `json:"name"`
				Duration int64  `json:"duration_ms"`
			} `json:"stages"`
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			return 0, fmt.Errorf("report: %w", err)
		}
		res.PeakRSSKiB = max(res.PeakRSSKiB, rep.PeakRSSKiB)
		res.Stages = map[string]int64{}
		for _, s := range rep.Stages {
			res.Stages[s.Name] = s.Duration
		}
	}
	if _, err := guest(ctx, v, fmt.Sprintf(`%s
for n in %s %s; do ip addr flush dev $n; ip link set $n down; done
ip route del default 2>/dev/null; true`, down, m0, m1)); err != nil {
		return 0, fmt.Errorf("taking %s's bond down: %w", m, err)
	}
	return float64(us) / 1000, nil
}

// waitSystem waits for the guest's systemd to finish booting.
func waitSystem(ctx context.Context, v *vm.VM) error {
	out, err := guest(ctx, v, "systemctl is-system-running --wait || systemctl --failed --no-legend --no-pager")
	if err != nil {
		return fmt.Errorf("boot did not finish: %w: %s", err, out)
	}
	return nil
}

// guest runs script in the guest; a non-zero exit is an error with its
// output.
func guest(ctx context.Context, v *vm.VM, script string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r, err := v.Exec(cctx, script)
	if err != nil {
		return "", err
	}
	if r.Exit != 0 {
		return r.Stdout, fmt.Errorf("exit %d: %s%s", r.Exit, r.Stdout, r.Stderr)
	}
	return r.Stdout, nil
}
