package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/test/bench"
	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// LACPResult is 802.3ad against a real partner (a second guest's bond over
// two point-to-point links).
type LACPResult struct {
	// Negotiation is the time from the last port joining to the partner
	// verified on both (lacp-rate fast), in milliseconds, by run.
	NegotiationMS       []float64 `json:"negotiation_ms"`
	NegotiationMedianMS float64   `json:"negotiation_median_ms"`
	// Fallback is apply's whole run, in milliseconds, when the partner
	// never answers LACPDUs (lacp timeout 10 s): 802.3ad given up, the bond
	// rebuilt in active-backup, leased, persisted.
	FallbackMS       []float64 `json:"fallback_ms"`
	FallbackMedianMS float64   `json:"fallback_median_ms"`
	FallbackTimeout  string    `json:"fallback_timeout"`
}

func lacpConfig(timeout string) string {
	return `network:
  version: 2
  ethernets:
    lacp: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [lacp]
      parameters: {mode: 802.3ad, lacp-rate: fast, mii-monitor-interval: 100, transmit-hash-policy: layer3+4}
      dhcp4: true
      lacp: {timeout: ` + timeout + `}
bondstrap: {link-timeout: 20s, dhcp-timeout: 30s}
`
}

func measureLACP(ctx context.Context, bin string, runs int, log *slog.Logger, say func(string, ...any)) (*LACPResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "bstbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	wireA, peerA := vm.Wire(40200)
	wireB, peerB := vm.Wire(40202)
	dutNICs := []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()}
	dutNICs[0].UDP, dutNICs[1].UDP = wireA, wireB
	partnerNICs := []vm.NIC{vm.Virtio(10000), vm.Virtio(10000)}
	partnerNICs[0].UDP, partnerNICs[1].UDP = peerA, peerB
	partnerNICs[0].MAC, partnerNICs[1].MAC = "52:54:00:aa:00:01", "52:54:00:aa:00:02"
	vms, net, err := vm.StartPair(cctx, dir,
		vm.Config{NICs: dutNICs, Bondstrap: bin, Logger: log,
			Files: []initrd.File{{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte("# each case writes its own\n"), Mode: 0o644}}},
		vm.Config{NICs: partnerNICs, Logger: log})
	defer func() {
		for _, v := range vms {
			if v != nil {
				v.Close()
			}
		}
		if net != nil {
			net.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	dut, partner := vms[0], vms[1]
	partnerBond := func(mode string) error {
		_, err := guest(cctx, partner, vm.PartnerBondScript(partner.Iface(0), partner.Iface(1), mode, "fast"))
		return err
	}
	// apply runs bondstrap apply in the DUT and returns its exit status,
	// wall time and report.
	apply := func(config string) (int, float64, *lacpReport, error) {
		if err := dut.WriteFile(cctx, "/etc/bondstrap/bondstrap.yaml", []byte(config), 0o644); err != nil {
			return 0, 0, nil, err
		}
		// busybox's date has no %N: the guest's uptime, in hundredths.
		r, err := dut.Exec(cctx, `t0=$(cut -d' ' -f1 /proc/uptime); bondstrap apply -c /etc/bondstrap/bondstrap.yaml >/tmp/apply.out 2>&1
rc=$?; t1=$(cut -d' ' -f1 /proc/uptime)
echo $rc $(( (${t1%.*}${t1#*.} - ${t0%.*}${t0#*.}) * 10000 ))`)
		if err != nil {
			return 0, 0, nil, err
		}
		f := strings.Fields(r.Stdout)
		if len(f) != 2 {
			return 0, 0, nil, fmt.Errorf("apply: %q %s", r.Stdout, r.Stderr)
		}
		rc, _ := strconv.Atoi(f[0])
		us, _ := strconv.ParseInt(f[1], 10, 64)
		data, err := dut.ReadFile(cctx, "/run/bondstrap/report.json")
		if err != nil {
			return 0, 0, nil, err
		}
		var rep lacpReport
		if err := json.Unmarshal(data, &rep); err != nil {
			return 0, 0, nil, fmt.Errorf("report: %w", err)
		}
		return rc, float64(us) / 1000, &rep, nil
	}
	clean := func() error {
		_, err := guest(cctx, dut, fmt.Sprintf(`bondstrap down --remove-units >/dev/null 2>&1
[ -e /sys/class/net/bond0 ] && echo -bond0 > /sys/class/net/bonding_masters
for n in %s %s %s; do ip addr flush dev $n; ip link set $n down; done; true`, dut.Iface(0), dut.Iface(1), dut.Iface(2)))
		return err
	}

	res := &LACPResult{FallbackTimeout: "10s"}
	if err := partnerBond("802.3ad"); err != nil {
		return nil, err
	}
	for range runs {
		if err := clean(); err != nil {
			return nil, err
		}
		rc, _, rep, err := apply(lacpConfig("30s"))
		if err != nil {
			return nil, err
		}
		l := rep.lacp()
		if rc != 0 || l == nil || l.Outcome != "negotiated" {
			out, _ := guest(cctx, dut, "tail -n 20 /tmp/apply.out")
			return nil, fmt.Errorf("negotiation: exit %d, lacp %+v\n%s", rc, l, out)
		}
		res.NegotiationMS = append(res.NegotiationMS, float64(l.Took))
	}
	say("lacp negotiation: %v ms", res.NegotiationMS)
	if err := partnerBond("active-backup"); err != nil {
		return nil, err
	}
	for range runs {
		if err := clean(); err != nil {
			return nil, err
		}
		rc, ms, rep, err := apply(lacpConfig(res.FallbackTimeout))
		if err != nil {
			return nil, err
		}
		l := rep.lacp()
		if rc != 3 || l == nil || l.Action != "active-backup" {
			out, _ := guest(cctx, dut, "tail -n 20 /tmp/apply.out")
			return nil, fmt.Errorf("fallback: exit %d (want 3), lacp %+v\n%s", rc, l, out)
		}
		res.FallbackMS = append(res.FallbackMS, ms)
	}
	say("lacp fallback: %v ms", res.FallbackMS)
	res.NegotiationMedianMS = bench.Median(res.NegotiationMS)
	res.FallbackMedianMS = bench.Median(res.FallbackMS)
	if len(res.NegotiationMS) == 0 {
		return nil, errors.New("no LACP run")
	}
	return res, nil
}

// lacpReport is what bstbench reads of apply's report.
type lacpReport struct {
	Bonds []struct {
		LACP *lacpInfo `json:"lacp"`
	} `json:"bonds"`
}

// lacpInfo is a bond's LACP check in the report.
type lacpInfo struct {
	Outcome string `json:"outcome"`
	Took    int64  `json:"took_ms"`
	Action  string `json:"action"`
}

func (r *lacpReport) lacp() *lacpInfo {
	if len(r.Bonds) == 0 {
		return nil
	}
	return r.Bonds[0].LACP
}
