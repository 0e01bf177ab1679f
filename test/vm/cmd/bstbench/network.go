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

// NetworkResult is the time-to-network comparison.
type NetworkResult struct {
	Guest string `json:"guest"`
	// Samples are every round's times by method, in milliseconds.
	Samples map[string][]float64 `json:"samples_ms"`
	// Median by method, in milliseconds.
	Median map[string]float64 `json:"median_ms"`
	// BondstrapVsSeed and BondstrapVsNetworkd are bondstrap's median over
	// theirs (targets: at most 0.4 and 0.5).
	BondstrapVsSeed     float64 `json:"bondstrap_vs_seed"`
	BondstrapVsNetworkd float64 `json:"bondstrap_vs_networkd"`
	// PeakRSSKiB is apply's peak resident memory (VmHWM), the largest of
	// the rounds.
	PeakRSSKiB int64 `json:"bondstrap_peak_rss_kib"`
	// Stages are apply's stage times in the last round, in milliseconds.
	Stages map[string]int64 `json:"bondstrap_stages_ms"`
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
	res := &NetworkResult{
		Guest:   "Debian 12 root with systemd, Debian's kernel under TCG, 1 vCPU; virtio 10G ×2 + e1000; dnsmasq --no-ping",
		Samples: map[string][]float64{},
		Median:  map[string]float64{},
	}
	m0, m1 := v.Iface(0), v.Iface(1)
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
		// Untimed: bondstrap writes the units networkd is timed with (to
		// /run: the next boot starts clean), and every program is read
		// from the disk once, so no method pays for a cold page cache.
		if _, err := guest(bctx, v, "bondstrap apply -c /etc/bondstrap/bondstrap.yaml --runtime >/dev/null 2>&1 && bondstrap down >/dev/null 2>&1 && "+
			"busybox true && systemctl cat systemd-networkd.service >/dev/null && ip -V >/dev/null"); err != nil {
			return nil, fmt.Errorf("round %d: warm-up: %w", round+1, err)
		}
		order := slices.Clone(methods)
		for range round {
			order = append(order[1:], order[0])
		}
		for _, m := range order {
			ms, err := timeMethod(bctx, v, m, m0, m1, res)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, m, err)
			}
			res.Samples[m] = append(res.Samples[m], ms)
		}
		say("round %d: %s: bondstrap %.0f ms, seed script %.0f ms, networkd %.0f ms", round+1, strings.Join(order, ", "),
			last(res.Samples[methodBondstrap]), last(res.Samples[methodSeed]), last(res.Samples[methodNetworkd]))
	}
	for m, s := range res.Samples {
		res.Median[m] = median(s)
	}
	res.BondstrapVsSeed = res.Median[methodBondstrap] / res.Median[methodSeed]
	res.BondstrapVsNetworkd = res.Median[methodBondstrap] / res.Median[methodNetworkd]
	return res, nil
}

// timeMethod brings bond0 up by method m, returns the milliseconds from
// the exec to the lease and default route, and takes it down again.
func timeMethod(ctx context.Context, v *vm.VM, m, m0, m1 string, res *NetworkResult) (float64, error) {
	// The clock is the guest's, read in the same shell as the method.
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
			"timeout 60 sh -c 'until ip -4 route show default dev bond0 2>/dev/null | grep -q .; do sleep 0.01; done'"
		down = "systemctl stop systemd-networkd.service systemd-networkd.socket; ip link del bond0"
	}
	script := fmt.Sprintf(`t0=$(date +%%s%%N)
%s || exit 1
t1=$(date +%%s%%N)
ip -4 route show default dev bond0 | grep -q . || { echo "no default route on bond0"; exit 1; }
echo $(( (t1 - t0) / 1000 ))`, run)
	out, err := guest(ctx, v, script)
	if err != nil {
		detail, _ := guest(ctx, v, "tail -n 20 /tmp/apply.err /tmp/seed.out 2>/dev/null; journalctl -b -u systemd-networkd -n 80 --no-pager -o short-monotonic; networkctl status -a --no-pager | head -n 60; ls -l /run/systemd/network /run/udev/rules.d")
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
ip -4 route flush default 2>/dev/null; true`, down, m0, m1)); err != nil {
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

func median(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func last(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}
