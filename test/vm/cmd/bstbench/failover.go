package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/test/bench"
	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// FailoverResult is one link-monitoring setup's loss across a cut of the
// active member.
type FailoverResult struct {
	Monitor string `json:"monitor"`
	// Lost are the pings lost (10 ms apart) in each run; LostMedian their
	// median, and MillisMedian that as time.
	Lost         []int   `json:"lost"`
	LostMedian   float64 `json:"lost_median"`
	MillisMedian float64 `json:"loss_ms_median"`
}

// failoverCases are the active-backup bonds failover is measured on: the
// host is 192.0.2.1 on the guest's segment.
var failoverCases = []struct{ name, params string }{
	{"miimon 100 ms", "{mode: active-backup, mii-monitor-interval: 100}"},
	{"miimon 50 ms", "{mode: active-backup, mii-monitor-interval: 50}"},
	{"ARP 100 ms", "{mode: active-backup, arp-interval: 100, arp-ip-targets: [192.0.2.1]}"},
}

const pingInterval = 10 * time.Millisecond

func measureFailover(ctx context.Context, bin string, runs int, log *slog.Logger, say func(string, ...any)) ([]FailoverResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	v, err := vm.Start(cctx, vm.Config{
		NICs:      []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		Bondstrap: bin,
		Files:     []initrd.File{{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte("# each case writes its own\n"), Mode: 0o644}},
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var out []FailoverResult
	for _, c := range failoverCases {
		cfg := fmt.Sprintf(`network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: %s
      dhcp4: true
`, c.params)
		if err := v.WriteFile(cctx, "/etc/bondstrap/bondstrap.yaml", []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		r := FailoverResult{Monitor: c.name}
		for range runs {
			lost, err := failoverOnce(cctx, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			r.Lost = append(r.Lost, lost)
		}
		fl := make([]float64, len(r.Lost))
		for i, l := range r.Lost {
			fl[i] = float64(l)
		}
		r.LostMedian = bench.Median(fl)
		r.MillisMedian = r.LostMedian * float64(pingInterval.Milliseconds())
		say("failover, %s: lost %v pings", c.name, r.Lost)
		out = append(out, r)
	}
	return out, nil
}

// failoverOnce applies the config, pings the bond from the host 10 ms
// apart, cuts the active member's link 1.5 s in, and returns the pings
// lost; then it puts the link back and takes the bond down.
func failoverOnce(ctx context.Context, v *vm.VM) (int, error) {
	if _, err := guest(ctx, v, "bondstrap apply -c /etc/bondstrap/bondstrap.yaml >/tmp/apply.out 2>&1 || { cat /tmp/apply.out; exit 1; }"); err != nil {
		return 0, err
	}
	out, err := guest(ctx, v, "bondstrap status -o json")
	if err != nil {
		return 0, err
	}
	var st detect.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	if len(st.Bonds) != 1 || len(st.Bonds[0].Addresses) == 0 {
		return 0, fmt.Errorf("no bond with an address: %s", out)
	}
	b := st.Bonds[0]
	cut := -1
	for i := range 2 {
		if v.Iface(i) == b.ActiveMember {
			cut = i
		}
	}
	if cut < 0 {
		return 0, fmt.Errorf("active member %q is neither virtio NIC", b.ActiveMember)
	}
	addr := netip.MustParsePrefix(b.Addresses[0]).Addr()
	type pinged struct {
		st  vm.PingStats
		err error
	}
	done := make(chan pinged, 1)
	go func() {
		st, err := v.Net.Ping(ctx, addr, 500, pingInterval)
		done <- pinged{st, err}
	}()
	select {
	case <-time.After(1500 * time.Millisecond):
	case p := <-done:
		return 0, fmt.Errorf("ping ended before the cut: %+v %v", p.st, p.err)
	}
	if err := v.SetLink(ctx, cut, false); err != nil {
		return 0, err
	}
	p := <-done
	if err := v.SetLink(ctx, cut, true); err != nil {
		return 0, err
	}
	if p.err != nil {
		return 0, p.err
	}
	if p.st.Received == 0 {
		return 0, fmt.Errorf("no ping answered: %s", p.st.Output)
	}
	if _, err := guest(ctx, v, fmt.Sprintf(`bondstrap down --remove-units >/dev/null
for n in %s %s; do ip addr flush dev $n; ip link set $n down; done`, v.Iface(0), v.Iface(1))); err != nil {
		return 0, err
	}
	return p.st.Lost(), nil
}
