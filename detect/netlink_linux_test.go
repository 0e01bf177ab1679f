package detect

import (
	"log/slog"
	"net"
	"reflect"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

func TestBondStatusFromLink(t *testing.T) {
	mii, _ := spec.Lookup("mii-monitor-interval")
	hash, _ := spec.Lookup("transmit-hash-policy")
	l := kernel.Link{Name: "bond0", Index: 7, MTU: 9000, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		Bond: &kernel.Bond{Mode: "802.3ad", ActivePort: "ens1f0",
			Settings: spec.Settings{{Param: mii, N: 100}, {Param: hash, N: 1}},
			AD:       &kernel.ADInfo{AggregatorID: 2, NumPorts: 2, ActorKey: 15, PartnerKey: 33}}}
	bs := bondStatus(l)
	if bs.Name != "bond0" || bs.Mode != "802.3ad" || bs.MTU != 9000 || bs.MAC != "02:00:00:00:00:01" {
		t.Errorf("bond: %+v", bs)
	}
	if bs.ActiveMember != "ens1f0" || bs.Primary != "" {
		t.Errorf("active %q primary %q", bs.ActiveMember, bs.Primary)
	}
	want := map[string]string{"mii-monitor-interval": "100ms", "transmit-hash-policy": "layer3+4"}
	if !reflect.DeepEqual(bs.Parameters, want) {
		t.Errorf("parameters %v, want %v", bs.Parameters, want)
	}
	if bs.MIIStatus != "down" || bs.AD == nil || bs.AD.PartnerKey != 33 || bs.AD.PartnerMAC != "00:00:00:00:00:00" {
		t.Errorf("mii %q ad %+v", bs.MIIStatus, bs.AD)
	}
	if bs.Members == nil || bs.Addresses == nil {
		t.Error("members and addresses must be empty lists, not null, in JSON")
	}
}

func TestMemberStatus(t *testing.T) {
	l := kernel.Link{Name: "ens1f1", Index: 4, Port: &kernel.Port{MII: 1, LinkFailures: 3,
		PermMAC: net.HardwareAddr{0x3c, 0xfd, 0xfe, 0, 0, 2}, AggregatorID: 2, ActorState: 0x3d, PartnerState: 0x3d}}
	ms := memberStatus(l, nil)
	want := MemberStatus{Name: "ens1f1", Ifindex: 4, PermanentMAC: "3c:fd:fe:00:00:02", MIIStatus: "going-down",
		Duplex: "unknown", LinkFailureCount: 3, State: "backup", AggregatorID: 2, ActorPortState: 0x3d, PartnerPortState: 0x3d}
	if ms != want {
		t.Errorf("got  %+v\nwant %+v", ms, want)
	}
}

func TestIdentifyPCIOtherNamespace(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name                       string
		parentBus, parentDev, info string
		want                       string // address vendor:device
	}{
		{"virtio by bus_info", "virtio", "virtio2", "0000:00:03.0", "0000:00:03.0 1af4:1041"},
		{"pci by parent device", "pci", "0000:3b:00.0", "0000:3b:00.0", "0000:3b:00.0 8086:1572"},
		{"pci parent, old driver bus_info", "pci", "0000:3b:00.0", "", "0000:3b:00.0 8086:1572"},
		{"usb", "usb", "1-1:1.0", "usb-0000:00:14.0-1", " "},
		{"veth", "", "", "", " "},
		{"pci function not in sysfs", "pci", "0000:99:00.0", "", " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := inventory.NIC{Name: "x"}
			identifyPCI(log, fakeSys, &n, busDevice{}, errOtherNamespace, tt.parentBus, tt.parentDev, tt.info)
			if got := n.PCIAddress + " " + n.PCIID(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
