package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect"
)

func TestPrintStatus(t *testing.T) {
	bonds := []detect.BondStatus{{
		Name: "bond0", Mode: "active-backup", MIIStatus: "up", OperState: "up", MAC: "52:54:00:12:34:01", MTU: 1500,
		ActiveMember: "eth1", Primary: "eth0",
		Parameters: map[string]string{"primary-reselect-policy": "always", "mii-monitor-interval": "100ms", "transmit-hash-policy": "layer2"},
		Addresses:  []string{"192.0.2.173/24"},
		Counters:   detect.Counters{RxPackets: 4, TxPackets: 8},
		Members: []detect.MemberStatus{
			{Name: "eth0", State: "backup", MIIStatus: "down", SpeedMbps: 10000, Duplex: "full", LinkFailureCount: 1, PermanentMAC: "52:54:00:12:34:01"},
			{Name: "eth1", State: "active", MIIStatus: "up", SpeedMbps: 10000, Duplex: "full", PermanentMAC: "52:54:00:12:34:02"},
		},
	}, {
		Name: "bond1", Mode: "802.3ad", MIIStatus: "up",
		Parameters: map[string]string{"lacp-rate": "fast", "ad-select": "stable", "transmit-hash-policy": "layer3+4",
			"packets-per-member": "1"},
		AD: &detect.ADInfo{AggregatorID: 1, NumPorts: 2, ActorKey: 15, PartnerKey: 1, PartnerMAC: "00:00:00:00:00:00"},
		Members: []detect.MemberStatus{
			{Name: "eth2", State: "active", MIIStatus: "up", SpeedMbps: 25000, Duplex: "full", AggregatorID: 1,
				ActorPortState: detect.LACPActivity | detect.LACPAggregation, InActiveAggregator: true,
				ActorChurn: "no-churn", PartnerChurn: "no-churn"},
			{Name: "eth3", State: "backup", MIIStatus: "up", SpeedMbps: 25000, Duplex: "full", AggregatorID: 2,
				ActorPortState: detect.LACPActivity | detect.LACPAggregation | detect.LACPDefaulted,
				ActorChurn:     "churned", PartnerChurn: "churned"},
		},
	}}
	stp := false
	stack := []detect.StackStatus{
		{Name: "bond1.100", Kind: "vlan", VLANID: 100, Lower: []string{"bond1"}, OperState: "up", Carrier: true,
			MAC: "52:54:00:12:34:03", MTU: 1500, Addresses: []string{"198.51.100.7/24"}},
		{Name: "br0", Kind: "bridge", STP: &stp, Lower: []string{"bond0"}, OperState: "down", MAC: "52:54:00:12:34:01", MTU: 1500},
	}
	var out bytes.Buffer
	if err := printStatus(&out, detect.Status{Bonds: bonds, Stack: stack}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"bond0  mode active-backup  mii up",
		"active member eth1  primary eth0",
		"mii-monitor-interval 100ms  primary-reselect-policy always",
		"addresses 192.0.2.173/24",
		"rx 4 pkts",
		"eth0    backup  down  10G    full    1",
		"bond1  mode 802.3ad",
		"lacp-rate fast  transmit-hash-policy layer3+4  ad-select stable",
		"aggregator 1  ports 2  actor key 15  partner key 1  partner mac 00:00:00:00:00:00",
		"activity,aggregation",
		"partner mac 00:00:00:00:00:00 (no LACP partner)",
		"NOT IN THE ACTIVE AGGREGATOR: eth3",
		"no-churn/no-churn",
		"2 (not active)",
		"churned/churned",
		"bond1.100 (vlan 100)  bond1  up",
		"198.51.100.7/24",
		"br0 (bridge)",
		"down, no carrier",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
	// The hash policy means nothing in active-backup, packets-per-member
	// nothing outside balance-rr: not shown there.
	if bond0 := s[:strings.Index(s, "bond1")]; strings.Contains(bond0, "transmit-hash-policy") {
		t.Errorf("active-backup shows a transmit hash policy:\n%s", bond0)
	}
	if strings.Contains(s, "packets-per-member") {
		t.Errorf("802.3ad shows packets-per-member:\n%s", s)
	}
	out.Reset()
	if err := printStatus(&out, detect.Status{}); err != nil || out.String() != "no bonds\n" {
		t.Errorf("no bonds: %q, %v", out.String(), err)
	}
}
