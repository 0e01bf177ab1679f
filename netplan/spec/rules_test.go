package spec

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		mode string
		ss   []kv
		// want is "key: message fragment" of every problem, in order; none
		// for a bond the kernel accepts.
		want []string
	}{
		{name: "nothing", mode: BalanceRR},
		{name: "ARP and MII monitors together", mode: ActiveBackup,
			ss:   []kv{{"mii-monitor-interval", "100"}, {"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}},
			want: []string{"arp-interval: both set"}},
		{name: "ARP monitor and MII monitor 0", mode: ActiveBackup,
			ss: []kv{{"mii-monitor-interval", "0"}, {"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}}},
		{name: "ARP monitor without targets", mode: BalanceXOR,
			ss:   []kv{{"arp-interval", "100"}},
			want: []string{"arp-interval: needs arp-ip-targets"}},
		{name: "ARP monitor with an empty target list", mode: BalanceXOR,
			ss:   []kv{{"arp-interval", "100"}, {"arp-ip-targets", ""}, {"ns-ip6-targets", ""}},
			want: []string{"arp-interval: needs arp-ip-targets"}},
		{name: "ARP monitor with NS targets only", mode: BalanceXOR,
			ss: []kv{{"arp-interval", "100"}, {"ns-ip6-targets", "2001:db8::1"}}},
		{name: "ARP monitor off needs no targets", mode: BalanceXOR,
			ss: []kv{{"arp-interval", "0"}}},
		{name: "arp-validate with the MII monitor", mode: ActiveBackup,
			ss:   []kv{{"mii-monitor-interval", "100"}, {"arp-validate", "active"}},
			want: []string{"arp-validate: refuses together with mii-monitor-interval"}},
		{name: "arp-validate filter with the MII monitor", mode: BalanceRR,
			ss:   []kv{{"mii-monitor-interval", "1s"}, {"arp-validate", "filter"}},
			want: []string{"arp-validate: is filter"}},
		{name: "arp-validate none with the MII monitor", mode: ActiveBackup,
			ss: []kv{{"mii-monitor-interval", "100"}, {"arp-validate", "none"}}},
		{name: "arp-validate with the ARP monitor", mode: ActiveBackup,
			ss: []kv{{"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}, {"arp-validate", "all"}}},
		// The delays need the MII monitor, which is off by default in the
		// modes without a forced one.
		{name: "up-delay in active-backup without MII monitor", mode: ActiveBackup,
			ss:   []kv{{"up-delay", "200"}},
			want: []string{"up-delay: off by default in mode active-backup: set mii-monitor-interval"}},
		{name: "up-delay 0 needs it too", mode: BalanceXOR,
			ss:   []kv{{"up-delay", "0"}},
			want: []string{"up-delay: off by default in mode balance-xor"}},
		{name: "down-delay with MII monitor 0", mode: LACP,
			ss:   []kv{{"mii-monitor-interval", "0"}, {"down-delay", "200"}},
			want: []string{"down-delay: mii-monitor-interval 0 turns off"}},
		{name: "peer-notify-delay with the ARP monitor", mode: ActiveBackup,
			ss:   []kv{{"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}, {"peer-notify-delay", "100"}},
			want: []string{"peer-notify-delay: arp-interval turns"}},
		{name: "every delay without MII monitor", mode: Broadcast,
			ss: []kv{{"up-delay", "1"}, {"down-delay", "1"}, {"peer-notify-delay", "1"}},
			want: []string{"up-delay: needs the MII monitor", "down-delay: needs the MII monitor",
				"peer-notify-delay: needs the MII monitor"}},
		{name: "delays in 802.3ad: the kernel forces the MII monitor on", mode: LACP,
			ss: []kv{{"up-delay", "200"}, {"down-delay", "200"}, {"peer-notify-delay", "200"}}},
		{name: "delays in balance-alb: forced on too", mode: BalanceALB,
			ss: []kv{{"up-delay", "200"}}},
		{name: "delays with the MII monitor", mode: ActiveBackup,
			ss: []kv{{"mii-monitor-interval", "100"}, {"up-delay", "200"}, {"down-delay", "200"}, {"peer-notify-delay", "200"}}},
		{name: "mode restriction", mode: ActiveBackup,
			ss:   []kv{{"lacp-rate", "fast"}, {"packets-per-member", "2"}},
			want: []string{"lacp-rate: not supported in mode active-backup: the kernel accepts it only in 802.3ad", "packets-per-member: only in balance-rr"}},
		{name: "ARP monitor outside the ARP modes", mode: BalanceTLB,
			ss:   []kv{{"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}},
			want: []string{"arp-interval: not supported in mode balance-tlb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := settings(t, tt.ss...).Check(tt.mode)
			if len(problems) != len(tt.want) {
				t.Fatalf("problems %v, want %d: %v", problems, len(tt.want), tt.want)
			}
			for i, p := range problems {
				key, msg, _ := strings.Cut(tt.want[i], ": ")
				if p.Key != key || !strings.Contains(p.Msg, msg) {
					t.Errorf("problem %d = %s: %s; want %s: …%s…", i, p.Key, p.Msg, key, msg)
				}
			}
		})
	}
}

// Each parameter with a mode restriction is refused in every other mode, and
// accepted in its own.
func TestCheckModes(t *testing.T) {
	for _, p := range Params {
		for _, m := range Modes {
			s := mustParse(t, p.Key, samples[p.Key].text)
			var refused bool
			for _, pr := range (Settings{s}).Check(m.Name) {
				if pr.Key == p.Key && strings.Contains(pr.Msg, "not supported in mode "+m.Name) {
					refused = true
				}
			}
			if refused == p.AcceptedIn(m.Name) {
				t.Errorf("%s in %s: refused %t, accepted %t", p.Key, m.Name, refused, p.AcceptedIn(m.Name))
			}
		}
	}
	// The kernel's unsuppmodes, as bond_options.c has them.
	for key, modes := range map[string][]string{
		"lacp-rate":                {LACP},
		"ad-actor-system-priority": {LACP},
		"ad-user-port-key":         {LACP},
		"ad-actor-system":          {LACP},
		"lacp-active":              {LACP},
		"packets-per-member":       {BalanceRR},
		"tlb-dynamic-lb":           {BalanceTLB, BalanceALB},
		"arp-interval":             {BalanceRR, ActiveBackup, BalanceXOR, Broadcast},
		"arp-validate":             {BalanceRR, ActiveBackup, BalanceXOR, Broadcast},
		"arp-missed-max":           {BalanceRR, ActiveBackup, BalanceXOR, Broadcast},
		"arp-ip-targets":           nil,
		"ns-ip6-targets":           nil,
		"ad-select":                nil,
		"fail-over-mac-policy":     nil,
		"transmit-hash-policy":     nil,
		"use-carrier":              nil,
	} {
		if got := param(t, key).Modes; fmt.Sprint(got) != fmt.Sprint(modes) {
			t.Errorf("%s: modes %v, want %v", key, got, modes)
		}
	}
}
