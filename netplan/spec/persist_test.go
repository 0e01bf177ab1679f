package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestPersist(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		ss       []kv
		networkd []KeyValue
		udev     []string // attr=value, in order
		problem  string   // key of the one problem
	}{{
		name: "every networkd key of an LACP bond",
		mode: LACP,
		ss: []kv{{"lacp-rate", "fast"}, {"mii-monitor-interval", "2s"}, {"min-links", "1"},
			{"transmit-hash-policy", "layer3+4"}, {"ad-select", "bandwidth"}, {"all-members-active", "true"},
			{"up-delay", "200"}, {"down-delay", "0"}, {"gratuitous-arp", "2"}, {"resend-igmp", "3"},
			{"primary-reselect-policy", "better"}, {"ad-actor-system-priority", "100"},
			{"ad-user-port-key", "5"}, {"ad-actor-system", "02:00:00:00:00:01"}},
		// In the kernel's order: the MII monitor before the delays.
		networkd: []KeyValue{
			{"MIIMonitorSec", "2s"}, {"UpDelaySec", "200ms"}, {"DownDelaySec", "0"},
			{"PrimaryReselectPolicy", "better"}, {"TransmitHashPolicy", "layer3+4"}, {"ResendIGMP", "3"},
			{"GratuitousARP", "2"}, {"AllSlavesActive", "true"}, {"MinLinks", "1"},
			{"LACPTransmitRate", "fast"}, {"AdSelect", "bandwidth"}, {"AdActorSystemPriority", "100"},
			{"AdUserPortKey", "5"}, {"AdActorSystem", "02:00:00:00:00:01"},
		},
	}, {
		name: "the ARP monitor",
		mode: BalanceXOR,
		ss: []kv{{"arp-interval", "1s"}, {"arp-ip-targets", "192.0.2.1,192.0.2.2"}, {"arp-validate", "backup"},
			{"arp-all-targets", "all"}, {"learn-packet-interval", "5"}},
		networkd: []KeyValue{{"ARPIntervalSec", "1s"}, {"ARPIPTargets", "192.0.2.1 192.0.2.2"},
			{"ARPValidate", "backup"}, {"ARPAllTargets", "all"}, {"LearnPacketIntervalSec", "5s"}},
	}, {
		name:     "vlan+srcmac: networkd knows no such policy",
		mode:     BalanceXOR,
		ss:       []kv{{"transmit-hash-policy", "vlan+srcmac"}},
		udev:     []string{"bonding/xmit_hash_policy=vlan+srcmac"},
		networkd: nil,
	}, {
		name:     "arp-validate filter: networkd knows no filter",
		mode:     ActiveBackup,
		ss:       []kv{{"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}, {"arp-validate", "filter"}},
		networkd: []KeyValue{{"ARPIntervalSec", "100ms"}, {"ARPIPTargets", "192.0.2.1"}},
		udev:     []string{"bonding/arp_validate=filter"},
	}, {
		name: "filter_active and filter_backup too",
		mode: BalanceRR,
		ss: []kv{{"arp-interval", "100"}, {"arp-ip-targets", "192.0.2.1"}, {"arp-validate", "filter_active"},
			{"arp-missed-max", "5"}},
		networkd: []KeyValue{{"ARPIntervalSec", "100ms"}, {"ARPIPTargets", "192.0.2.1"}},
		udev:     []string{"bonding/arp_validate=filter_active", "bonding/arp_missed_max=5"},
	}, {
		name:     "arp-missed-max: ARPMissedMax= needs systemd 256",
		mode:     BalanceXOR,
		ss:       []kv{{"arp-missed-max", "5"}},
		udev:     []string{"bonding/arp_missed_max=5"},
		networkd: nil,
	}, {
		name:     "peer-notify-delay: PeerNotifyDelaySec= needs systemd 256",
		mode:     ActiveBackup,
		ss:       []kv{{"mii-monitor-interval", "100"}, {"peer-notify-delay", "200"}},
		networkd: []KeyValue{{"MIIMonitorSec", "100ms"}},
		udev:     []string{"bonding/peer_notif_delay=200"},
	}, {
		name: "ns-ip6-targets: no networkd key, no sysfs file: ip sets them",
		mode: ActiveBackup,
		ss:   []kv{{"arp-interval", "100"}, {"ns-ip6-targets", "2001:db8::1,2001:db8::2"}},
		// networkd has the interval, udev runs ip for the targets.
		networkd: []KeyValue{{"ARPIntervalSec", "100ms"}},
		udev:     []string{"ip ns_ip6_target 2001:db8::1,2001:db8::2"},
	}, {
		name:     "learn-packet-interval without the ARP monitor: networkd would not send it",
		mode:     BalanceTLB,
		ss:       []kv{{"learn-packet-interval", "5"}},
		udev:     []string{"bonding/lp_interval=5"},
		networkd: nil,
	}, {
		name:     "arp-ip-targets without the ARP monitor",
		mode:     ActiveBackup,
		ss:       []kv{{"arp-ip-targets", "192.0.2.1"}},
		udev:     []string{"bonding/arp_ip_target=+192.0.2.1"},
		networkd: nil,
	}, {
		name:     "lacp-active: no networkd key",
		mode:     LACP,
		ss:       []kv{{"lacp-rate", "slow"}, {"lacp-active", "false"}},
		networkd: []KeyValue{{"LACPTransmitRate", "slow"}},
		udev:     []string{"bonding/lacp_active=0"},
	}, {
		name:     "use-carrier: no networkd key",
		mode:     LACP,
		ss:       []kv{{"use-carrier", "false"}},
		udev:     []string{"bonding/use_carrier=0"},
		networkd: nil,
	}, {
		name:     "ad-select in 802.3ad",
		mode:     LACP,
		ss:       []kv{{"ad-select", "count"}},
		networkd: []KeyValue{{"AdSelect", "count"}},
	}, {
		name:     "ad-select in active-backup: networkd sends AdSelect= only in 802.3ad",
		mode:     ActiveBackup,
		ss:       []kv{{"ad-select", "count"}},
		udev:     []string{"bonding/ad_select=count"},
		networkd: nil,
	}, {
		name:     "lacp-rate outside 802.3ad: networkd would not send it",
		mode:     BalanceRR,
		ss:       []kv{{"lacp-rate", "fast"}},
		udev:     []string{"bonding/lacp_rate=fast"},
		networkd: nil,
	}, {
		name:     "fail-over-mac-policy in active-backup",
		mode:     ActiveBackup,
		ss:       []kv{{"fail-over-mac-policy", "follow"}},
		networkd: []KeyValue{{"FailOverMACPolicy", "follow"}},
	}, {
		name:    "fail-over-mac-policy in balance-rr: networkd sends it only in active-backup, udev is too late",
		mode:    BalanceRR,
		ss:      []kv{{"fail-over-mac-policy", "active"}},
		problem: "fail-over-mac-policy",
	}, {
		name:    "fail-over-mac-policy in balance-alb",
		mode:    BalanceALB,
		ss:      []kv{{"fail-over-mac-policy", "follow"}, {"tlb-dynamic-lb", "false"}},
		problem: "fail-over-mac-policy",
		// The others are persisted all the same.
		networkd: []KeyValue{{"DynamicTransmitLoadBalancing", "false"}},
	}, {
		name:     "mii-monitor-interval 0 in 802.3ad: networkd does not send 0, the kernel would make it 100",
		mode:     LACP,
		ss:       []kv{{"mii-monitor-interval", "0"}},
		udev:     []string{"bonding/miimon=0"},
		networkd: nil,
	}, {
		name:     "mii-monitor-interval 0 in balance-tlb",
		mode:     BalanceTLB,
		ss:       []kv{{"mii-monitor-interval", "0"}},
		udev:     []string{"bonding/miimon=0"},
		networkd: nil,
	}, {
		name:     "mii-monitor-interval 0 in active-backup is the default",
		mode:     ActiveBackup,
		ss:       []kv{{"mii-monitor-interval", "0"}},
		networkd: []KeyValue{{"MIIMonitorSec", "0"}},
	}, {
		name:     "packets-per-member in balance-rr",
		mode:     BalanceRR,
		ss:       []kv{{"packets-per-member", "0"}},
		networkd: []KeyValue{{"PacketsPerSlave", "0"}},
	}, {
		name: "udev writes in the kernel's order",
		mode: BalanceXOR,
		ss:   []kv{{"arp-missed-max", "3"}, {"use-carrier", "false"}, {"transmit-hash-policy", "vlan+srcmac"}},
		udev: []string{"bonding/use_carrier=0", "bonding/xmit_hash_policy=vlan+srcmac", "bonding/arp_missed_max=3"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := settings(t, tt.ss...)
			got, problems := Persist(tt.mode, ss)
			if !slices.Equal(got.Networkd, tt.networkd) {
				t.Errorf("Networkd = %v\nwant       %v", got.Networkd, tt.networkd)
			}
			var udev []string
			for _, w := range got.Udev {
				if len(w.IP) > 0 {
					udev = append(udev, "ip "+strings.Join(w.IP, " "))
					if w.Setting.Param == nil || !w.Setting.Param.NoSysfs || w.IP[0] != w.Setting.Param.Kernel {
						t.Errorf("ip %v records setting %v", w.IP, w.Setting)
					}
					continue
				}
				udev = append(udev, w.Attr+"="+w.Value)
				if w.Setting.Param == nil || "bonding/"+w.Setting.Param.Kernel != w.Attr {
					t.Errorf("write %s=%s records setting %v", w.Attr, w.Value, w.Setting)
				}
			}
			if !slices.Equal(udev, tt.udev) {
				t.Errorf("Udev = %v\nwant   %v", udev, tt.udev)
			}
			switch {
			case tt.problem == "" && len(problems) > 0:
				t.Errorf("problems %v, want none", problems)
			case tt.problem != "" && (len(problems) != 1 || problems[0].Key != tt.problem):
				t.Errorf("problems %v, want one about %s", problems, tt.problem)
			case tt.problem != "" && !strings.Contains(problems[0].Msg, "cannot persist"):
				t.Errorf("problem %q does not say it cannot be persisted", problems[0].Msg)
			}
		})
	}
}

// Every setting of a bond is persisted exactly once: as one networkd key, as
// udev writes, or refused as a problem.
func TestPersistEverySetting(t *testing.T) {
	for _, p := range Params {
		for _, m := range Modes {
			if !p.AcceptedIn(m.Name) {
				continue
			}
			s := mustParse(t, p.Key, samples[p.Key].text)
			got, problems := Persist(m.Name, Settings{s})
			n := len(got.Networkd) + len(problems)
			if len(got.Udev) > 0 {
				n++
			}
			if n != 1 {
				t.Errorf("%s in %s: networkd %v, udev %v, problems %v: want exactly one way", p.Key, m.Name, got.Networkd, got.Udev, problems)
			}
			if len(got.Networkd) == 1 && got.Networkd[0].Key != p.Networkd {
				t.Errorf("%s in %s: networkd key %s, want %s", p.Key, m.Name, got.Networkd[0].Key, p.Networkd)
			}
			if len(problems) == 1 && !p.NoPorts {
				t.Errorf("%s in %s: refused %v, but udev could write it", p.Key, m.Name, problems)
			}
			if p.Networkd == "" || p.NetworkdSince > NetworkdVersion {
				if len(got.Networkd) > 0 {
					t.Errorf("%s in %s: networkd %d has no %s=", p.Key, m.Name, NetworkdVersion, p.Networkd)
				}
			}
		}
	}
}

func TestPersistProblemMessage(t *testing.T) {
	_, problems := Persist(BalanceRR, settings(t, kv{"fail-over-mac-policy", "active"}))
	if len(problems) != 1 {
		t.Fatalf("problems = %v", problems)
	}
	for _, want := range []string{"active", "fail_over_mac", "no ports", "only in mode " + ActiveBackup} {
		if !strings.Contains(problems[0].Msg, want) {
			t.Errorf("problem %q does not say %q", problems[0].Msg, want)
		}
	}
}
