package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestKernelModel proves on Debian's kernel what the one parameter model and the
// rollback promise, in one boot:
//
//   - every bond parameter of spec.Params, in every mode the kernel accepts it
//     in, validates, is applied in one request and reads back through status
//     as configured (the MII and the ARP monitor in turn where the mode allows
//     both); changing mode converts the bond in place;
//   - a NIC that carries the host's address, IPv6 address, default route and a
//     static route (as after a PXE boot) and joins a bond that gets no DHCP
//     answer is put back exactly: `ip -j addr` and `ip -j route` as before, and
//     a host on another subnet reaches it again;
//   - a live bond apply converted to another mode, with its ports, primary,
//     options, address and routes, is put back exactly.
func TestKernelModel(t *testing.T) {
	nics := threeNICs()
	nics[2].Segment = 1
	v := boot(t, vm.Config{NICs: nics, Segments: []vm.Segment{{}, {}}, HostBinaries: []initrd.HostBinary{vm.IPRoute2}}, "")
	eth0, eth1 := v.Iface(0), v.Iface(1)

	t.Run("every-parameter", func(t *testing.T) {
		for _, c := range parameterCases() {
			t.Run(c.name, func(t *testing.T) {
				cfg := everyParameterConfig(c)
				if _, err := netplan.Parse("every.yaml", []byte(cfg)); err != nil {
					t.Fatalf("the generated config does not validate: %v\n%s", err, cfg)
				}
				writeConfig(t, v, cfg)
				mustApply(t, v)
				b, ok := status(t, v)["bond0"]
				if !ok {
					t.Fatal("no bond0 in status")
				}
				if b.Mode != c.mode {
					t.Errorf("mode %s, want %s", b.Mode, c.mode)
				}
				for key, want := range c.want {
					if got := b.Parameters[key]; got != want {
						t.Errorf("%s: the kernel holds %q, the config says %q", key, got, want)
					}
				}
				if got := memberNames(b); !slices.Equal(got, []string{eth0, eth1}) {
					t.Errorf("members %v", got)
				}
			})
		}
		v.MustRun(t, vm.IPRoute2Path+" link del bond0")
	})

	const pxe = `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100, primary: fast}
      dhcp4: true
bondstrap: {dhcp-timeout: 5s}
`
	t.Run("rollback-restores-the-pxe-network", func(t *testing.T) {
		ip := vm.IPRoute2Path
		v.MustRun(t, fmt.Sprintf(`%[1]s link set %[2]s up
%[1]s addr add 192.0.2.77/24 dev %[2]s
%[1]s -6 addr add 2001:db8::77/64 dev %[2]s nodad
%[1]s route add default via 192.0.2.1 dev %[2]s proto dhcp
%[1]s route add 203.0.113.0/24 via 192.0.2.254 dev %[2]s metric 20`, ip, eth0))
		waitNoTentative(t, v)
		reach := func() error { return pingFromOtherSubnet(t, v, "192.0.2.77") }
		if err := reach(); err != nil {
			t.Fatalf("before apply, the host on 198.51.100.0/24 cannot reach 192.0.2.77: %v", err)
		}
		before := ipState(t, v)
		writeConfig(t, v, pxe)
		r := apply(t, v)
		if r.Exit != 1 || !strings.Contains(r.Stderr, "no DHCPv4 lease on bond0") {
			t.Fatalf("apply exit %d, want 1 for no DHCP answer\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		waitNoTentative(t, v)
		after := ipState(t, v)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("not restored as found:\nbefore: %s\nafter:  %s", jsonText(before), jsonText(after))
		}
		if err := reach(); err != nil {
			t.Errorf("after the rollback, the host on another subnet cannot reach 192.0.2.77: %v", err)
		}
		v.MustRun(t, fmt.Sprintf("%[1]s route flush dev %[2]s; %[1]s addr flush dev %[2]s; %[1]s link set %[2]s down", ip, eth0))
	})

	t.Run("rollback-restores-a-live-bond", func(t *testing.T) {
		ip := vm.IPRoute2Path
		v.MustRun(t, fmt.Sprintf(`%[1]s link add bond0 address 52:54:00:12:34:01 type bond mode active-backup miimon 200 updelay 400 primary_reselect better num_grat_arp 3
%[1]s link set %[2]s master bond0
%[1]s link set %[3]s master bond0
%[1]s link set bond0 type bond primary %[3]s
%[1]s link set bond0 up
%[1]s addr add 192.0.2.9/24 dev bond0
%[1]s route add default via 192.0.2.1 dev bond0 proto static
%[1]s route add 203.0.113.0/24 via 192.0.2.254 dev bond0`, ip, eth0, eth1))
		waitNoTentative(t, v)
		before := ipState(t, v)
		details := func() string {
			return v.MustRun(t, ip+` -d -j link show bond0 | sed 's/"ifindex":[0-9]*,//'`)
		}
		bondBefore := details()
		writeConfig(t, v, strings.Replace(pxe, "parameters: {mode: active-backup, mii-monitor-interval: 100, primary: fast}",
			"parameters: {mode: 802.3ad, lacp-rate: fast, mii-monitor-interval: 100}\n      lacp: {timeout: 2s, on-failure: continue}", 1))
		r := apply(t, v)
		if r.Exit != 1 {
			t.Fatalf("apply exit %d, want 1\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		if !strings.Contains(r.Stdout, "mode active-backup → 802.3ad") && !strings.Contains(r.Stderr, "mode active-backup → 802.3ad") {
			t.Errorf("apply did not convert the live bond (the test would prove nothing):\n%s", tailLines(r.Stderr, 40))
		}
		waitNoTentative(t, v)
		if after := ipState(t, v); !reflect.DeepEqual(before, after) {
			t.Errorf("not restored as found:\nbefore: %s\nafter:  %s", jsonText(before), jsonText(after))
		}
		if after := details(); normalizeLink(after) != normalizeLink(bondBefore) {
			t.Errorf("bond0 not restored as found:\nbefore: %s\nafter:  %s", bondBefore, after)
		}
	})
}

// writeConfig replaces the guest's config file.
func writeConfig(t *testing.T, v *vm.VM, cfg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.WriteFile(ctx, configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ipState is what "as found" compares: every link, address and route, as
// iproute2 reports them in JSON, without what time changes (lifetimes,
// counters).
func ipState(t *testing.T, v *vm.VM) map[string]any {
	t.Helper()
	state := map[string]any{}
	for key, cmd := range map[string]string{
		"addr":   "addr show",
		"route4": "-4 route show table all",
		"route6": "-6 route show table all",
	} {
		var x any
		if err := json.Unmarshal([]byte(v.MustRun(t, vm.IPRoute2Path+" -j "+cmd)), &x); err != nil {
			t.Fatalf("ip -j %s: %v", cmd, err)
		}
		state[key] = scrub(x)
	}
	return state
}

// scrub drops the fields that time changes.
func scrub(x any) any {
	switch v := x.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			switch k {
			case "valid_life_time", "preferred_life_time", "expires", "stats64", "stats":
				continue
			}
			out[k] = scrub(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = scrub(e)
		}
		return out
	}
	return x
}

func jsonText(x any) string {
	b, _ := json.Marshal(x)
	return string(b)
}

// normalizeLink drops counters from `ip -d -j link` output.
func normalizeLink(s string) string {
	var x any
	if err := json.Unmarshal([]byte(s), &x); err != nil {
		return s
	}
	return jsonText(scrub(x))
}

// waitNoTentative waits for IPv6 duplicate address detection to end, so that
// two looks at the addresses compare flags that mean something.
func waitNoTentative(t *testing.T, v *vm.VM) {
	t.Helper()
	v.MustRun(t, `i=0; while `+vm.IPRoute2Path+` -6 addr | grep -q tentative; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`)
}

// pingFromOtherSubnet pings addr from the host's address on segment 1: only a
// guest with a route back (its default route) answers.
func pingFromOtherSubnet(t *testing.T, v *vm.VM, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := v.Net.Run(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", v.Net.HostAddr(1).String(), addr)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// parameterCase is one mode, with the monitor it runs, and the parameters
// given with what status must read back.
type parameterCase struct {
	name, mode string
	arp        bool
	params     map[string]string // YAML values
	want       map[string]string // status values
}

// parameterCases gives every parameter, in every mode that accepts it, a value
// that is not the kernel's default: each mode with the MII monitor, and the
// modes that allow it with the ARP monitor too.
func parameterCases() []parameterCase {
	mii := map[string]string{"mii-monitor-interval": "100", "up-delay": "200", "down-delay": "300", "peer-notify-delay": "100"}
	arp := map[string]string{"arp-interval": "250", "arp-ip-targets": `["192.0.2.1"]`, "ns-ip6-targets": `["2001:db8::1"]`,
		"arp-validate": "none", "arp-all-targets": "all", "arp-missed-max": "5"}
	other := map[string]string{
		"lacp-rate": "fast", "min-links": "1", "transmit-hash-policy": "vlan+srcmac", "ad-select": "bandwidth",
		"all-members-active": "true", "fail-over-mac-policy": "active", "gratuitous-arp": "3", "packets-per-member": "5",
		"primary-reselect-policy": "better", "resend-igmp": "4", "learn-packet-interval": "3",
		"ad-actor-system-priority": "100", "ad-user-port-key": "7", "ad-actor-system": "\"02:00:00:00:00:aa\"",
		"tlb-dynamic-lb": "false", "lacp-active": "true", "use-carrier": "false",
	}
	var out []parameterCase
	for _, m := range spec.Modes {
		for _, withARP := range []bool{false, true} {
			if withARP && !m.ARP {
				continue
			}
			c := parameterCase{name: m.Name, mode: m.Name, arp: withARP, params: map[string]string{}, want: map[string]string{}}
			monitor := mii
			if withARP {
				c.name += "-arp"
				monitor = arp
			}
			for _, p := range spec.Params {
				v, ok := monitor[p.Key]
				if !ok {
					v, ok = other[p.Key]
				}
				_, isMII := mii[p.Key]
				_, isARP := arp[p.Key]
				if !ok || !p.AcceptedIn(m.Name) || (isMII && withARP) || (isARP && !withARP) {
					continue
				}
				if p.Key == "fail-over-mac-policy" && m.Name != spec.ActiveBackup {
					continue // persisted by networkd only in active-backup
				}
				c.params[p.Key] = v
				s, err := p.Parse(yamlScalar(v))
				if err != nil {
					panic(fmt.Sprintf("%s: %v", p.Key, err))
				}
				c.want[p.Key] = s.String()
			}
			out = append(out, c)
		}
	}
	return out
}

// yamlScalar is what the YAML parser hands Param.Parse for a value written as
// in parameterCases.
func yamlScalar(v string) any {
	var x any
	dec := json.NewDecoder(strings.NewReader(strings.Trim(v, "\"")))
	dec.UseNumber()
	if strings.HasPrefix(v, "\"") || dec.Decode(&x) != nil {
		return strings.Trim(v, "\"")
	}
	return x
}

func everyParameterConfig(c parameterCase) string {
	var b strings.Builder
	b.WriteString(`network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      addresses: [192.0.2.50/24]
      parameters:
        mode: ` + c.mode + "\n")
	keys := make([]string, 0, len(c.params))
	for k := range c.params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "        %s: %s\n", k, c.params[k])
	}
	if c.mode == "802.3ad" {
		// The harness's segments are Linux bridges, which do not forward
		// LACPDUs: no partner will answer (TestLACP has one).
		b.WriteString("      lacp: {timeout: 2s, on-failure: continue}\n")
	}
	b.WriteString("bondstrap: {link-timeout: 20s}\n")
	return b.String()
}
