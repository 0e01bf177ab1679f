package detect

import (
	"encoding/binary"
	"log/slog"
	"net"
	"reflect"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// bondMessage builds an RTM_NEWLINK body for an 802.3ad bond the way the
// kernel's bond_fill_info lays it out.
func bondMessage(withAD bool) []byte {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = 7
	b := msg.Serialize()
	b = append(b, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("bond0")).Serialize()...)
	b = append(b, nl.NewRtAttr(unix.IFLA_MTU, u32(9000)).Serialize()...)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.ZeroTerminated("bond"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BOND_MODE, []byte{4})
	data.AddRtAttr(nl.IFLA_BOND_MIIMON, u32(100))
	data.AddRtAttr(nl.IFLA_BOND_ACTIVE_SLAVE, u32(3))
	data.AddRtAttr(nl.IFLA_BOND_ARP_VALIDATE, u32(3))
	data.AddRtAttr(nl.IFLA_BOND_AD_LACP_RATE, []byte{1})
	data.AddRtAttr(nl.IFLA_BOND_XMIT_HASH_POLICY, []byte{1})
	if withAD {
		ad := data.AddRtAttr(nl.IFLA_BOND_AD_INFO, nil)
		ad.AddRtAttr(nl.IFLA_BOND_AD_INFO_AGGREGATOR, u16(2))
		ad.AddRtAttr(nl.IFLA_BOND_AD_INFO_NUM_PORTS, u16(2))
		ad.AddRtAttr(nl.IFLA_BOND_AD_INFO_ACTOR_KEY, u16(15))
		ad.AddRtAttr(nl.IFLA_BOND_AD_INFO_PARTNER_KEY, u16(33))
		ad.AddRtAttr(nl.IFLA_BOND_AD_INFO_PARTNER_MAC, []byte{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc})
	}
	return append(b, info.Serialize()...)
}

func TestParseADInfo(t *testing.T) {
	got, err := parseADInfo(bondMessage(true))
	if err != nil {
		t.Fatal(err)
	}
	want := &ADInfo{AggregatorID: 2, NumPorts: 2, ActorKey: 15, PartnerKey: 33, PartnerMAC: "52:54:00:aa:bb:cc"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, err := parseADInfo(bondMessage(false)); err != nil || got != nil {
		t.Errorf("no AD info: got %+v, %v; want nil, nil", got, err)
	}
	if _, err := parseADInfo([]byte{1, 2}); err == nil {
		t.Error("short message: no error")
	}
}

func TestBondStatusFromMessage(t *testing.T) {
	m := bondMessage(true)
	l, err := netlink.LinkDeserialize(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := l.(*netlink.Bond)
	if !ok {
		t.Fatalf("LinkDeserialize gave %T, want *netlink.Bond", l)
	}
	ad, _ := parseADInfo(m)
	bs := bondStatus(b, ad, map[int]string{3: "ens1f0", 7: "bond0"})
	if bs.Name != "bond0" || bs.Mode != "802.3ad" || bs.MIIMonMs != 100 || bs.MTU != 9000 {
		t.Errorf("bond: %+v", bs)
	}
	if bs.ActiveMember != "ens1f0" || bs.Primary != "" {
		t.Errorf("active %q primary %q", bs.ActiveMember, bs.Primary)
	}
	if bs.LACPRate != "fast" || bs.XmitHashPolicy != "layer3+4" || bs.ARPValidate != "all" {
		t.Errorf("lacp %q hash %q arp_validate %q", bs.LACPRate, bs.XmitHashPolicy, bs.ARPValidate)
	}
	if bs.MIIStatus != "down" || bs.AD == nil || bs.AD.PartnerKey != 33 {
		t.Errorf("mii %q ad %+v", bs.MIIStatus, bs.AD)
	}
	if bs.Members == nil || bs.Addresses == nil {
		t.Error("members and addresses must be empty lists, not null, in JSON")
	}
}

func TestMemberStatus(t *testing.T) {
	a := netlink.NewLinkAttrs()
	a.Name, a.Index = "ens1f1", 4
	a.Slave = &netlink.BondSlave{
		State: netlink.BondStateBackup, MiiStatus: netlink.BondLinkFail, LinkFailureCount: 3,
		PermHardwareAddr: net.HardwareAddr{0x3c, 0xfd, 0xfe, 0, 0, 2}, AggregatorId: 2,
		AdActorOperPortState: 0x3d, AdPartnerOperPortState: 0x3d,
	}
	ms := memberStatus(&a, nil)
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
