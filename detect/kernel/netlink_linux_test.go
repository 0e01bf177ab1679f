package kernel

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// The attribute numbers spec keeps must be the kernel's.
func TestAttrNumbersAreTheKernels(t *testing.T) {
	want := map[uint16]int{
		spec.AttrMode: unix.IFLA_BOND_MODE, spec.AttrActiveSlave: unix.IFLA_BOND_ACTIVE_SLAVE,
		spec.AttrMIIMon: unix.IFLA_BOND_MIIMON, spec.AttrUpDelay: unix.IFLA_BOND_UPDELAY,
		spec.AttrDownDelay: unix.IFLA_BOND_DOWNDELAY, spec.AttrUseCarrier: unix.IFLA_BOND_USE_CARRIER,
		spec.AttrARPInterval: unix.IFLA_BOND_ARP_INTERVAL, spec.AttrARPIPTarget: unix.IFLA_BOND_ARP_IP_TARGET,
		spec.AttrARPValidate: unix.IFLA_BOND_ARP_VALIDATE, spec.AttrARPAllTargets: unix.IFLA_BOND_ARP_ALL_TARGETS,
		spec.AttrPrimary: unix.IFLA_BOND_PRIMARY, spec.AttrPrimaryReselect: unix.IFLA_BOND_PRIMARY_RESELECT,
		spec.AttrFailOverMAC: unix.IFLA_BOND_FAIL_OVER_MAC, spec.AttrXmitHashPolicy: unix.IFLA_BOND_XMIT_HASH_POLICY,
		spec.AttrResendIGMP: unix.IFLA_BOND_RESEND_IGMP, spec.AttrNumPeerNotif: unix.IFLA_BOND_NUM_PEER_NOTIF,
		spec.AttrAllSlavesActive: unix.IFLA_BOND_ALL_SLAVES_ACTIVE, spec.AttrMinLinks: unix.IFLA_BOND_MIN_LINKS,
		spec.AttrLPInterval: unix.IFLA_BOND_LP_INTERVAL, spec.AttrPacketsPerSlave: unix.IFLA_BOND_PACKETS_PER_SLAVE,
		spec.AttrADLACPRate: unix.IFLA_BOND_AD_LACP_RATE, spec.AttrADSelect: unix.IFLA_BOND_AD_SELECT,
		spec.AttrADInfo: unix.IFLA_BOND_AD_INFO, spec.AttrADActorSysPrio: unix.IFLA_BOND_AD_ACTOR_SYS_PRIO,
		spec.AttrADUserPortKey: unix.IFLA_BOND_AD_USER_PORT_KEY, spec.AttrADActorSystem: unix.IFLA_BOND_AD_ACTOR_SYSTEM,
		spec.AttrTLBDynamicLB: unix.IFLA_BOND_TLB_DYNAMIC_LB, spec.AttrPeerNotifDelay: unix.IFLA_BOND_PEER_NOTIF_DELAY,
		spec.AttrADLACPActive: unix.IFLA_BOND_AD_LACP_ACTIVE, spec.AttrMissedMax: unix.IFLA_BOND_MISSED_MAX,
		spec.AttrNSIP6Target: unix.IFLA_BOND_NS_IP6_TARGET,
	}
	for got, w := range want {
		if int(got) != w {
			t.Errorf("spec attribute %d is the kernel's %d", got, w)
		}
	}
	for _, p := range spec.Params {
		if p.Attr != spec.AttrCoupledControl {
			if _, ok := want[p.Attr]; !ok {
				t.Errorf("%s: attribute %d is not checked against the kernel's numbers", p.Key, p.Attr)
			}
		}
	}
}

// bondMessage is an RTM_NEWLINK body for a bond and its info data, as the
// kernel lays it out.
func bondMessage(index int, name string, data func(*nl.RtAttr)) []byte {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	b := msg.Serialize()
	b = append(b, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)).Serialize()...)
	b = append(b, nl.NewRtAttr(unix.IFLA_MTU, binary.NativeEndian.AppendUint32(nil, 9000)).Serialize()...)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.ZeroTerminated("bond"))
	data(info.AddRtAttr(nl.IFLA_INFO_DATA, nil))
	return append(b, info.Serialize()...)
}

// What bondstrap sends to make a bond is what it reads back: every
// parameter, through its spec.Param, in one request.
func TestBondDataRoundTrip(t *testing.T) {
	var ss spec.Settings
	for _, p := range spec.Params {
		v, ok := sample[p.Key]
		if !ok {
			t.Fatalf("no sample value for %s", p.Key)
		}
		s, err := p.Parse(v)
		if err != nil {
			t.Fatalf("%s: %v", p.Key, err)
		}
		ss = ss.Set(s)
	}
	info, err := bondData("802.3ad", ss)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := nl.ParseRouteAttr(info.Serialize()[unix.SizeofRtAttr:])
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, a := range infos {
		if a.Attr.Type == nl.IFLA_INFO_DATA {
			data = a.Value
		}
	}
	b, err := decodeBond(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Mode != "802.3ad" {
		t.Errorf("mode %q", b.Mode)
	}
	if len(b.Settings) != len(ss) {
		t.Errorf("read back %d settings, sent %d", len(b.Settings), len(ss))
	}
	for _, s := range ss {
		got, ok := b.Settings.Get(s.Param.Key)
		if !ok || !got.Equal(s) {
			t.Errorf("%s: sent %s, read back %s (%t)", s.Param.Key, s, got, ok)
		}
	}
}

// sample is a value of every parameter, as YAML decodes it.
var sample = map[string]any{
	"lacp-rate": "fast", "mii-monitor-interval": "100", "min-links": num("2"), "transmit-hash-policy": "vlan+srcmac",
	"ad-select": "count", "all-members-active": true, "arp-interval": "500", "arp-ip-targets": []any{"192.0.2.1", "192.0.2.2"},
	"arp-validate": "filter_backup", "arp-all-targets": "all", "up-delay": "200", "down-delay": "300",
	"fail-over-mac-policy": "follow", "gratuitous-arp": num("3"), "packets-per-member": num("7"),
	"primary-reselect-policy": "better", "resend-igmp": num("4"), "learn-packet-interval": "5",
	"peer-notify-delay": "100", "arp-missed-max": num("9"), "ns-ip6-targets": []any{"2001:db8::1"},
	"ad-actor-system-priority": num("100"), "ad-user-port-key": num("12"), "ad-actor-system": "02:00:00:00:00:aa",
	"tlb-dynamic-lb": false, "lacp-active": false, "use-carrier": false,
}

func TestDecodeLinks(t *testing.T) {
	bond := bondMessage(7, "bond0", func(d *nl.RtAttr) {
		d.AddRtAttr(spec.AttrMode, []byte{4})
		d.AddRtAttr(spec.AttrMIIMon, binary.NativeEndian.AppendUint32(nil, 100))
		d.AddRtAttr(spec.AttrActiveSlave, binary.NativeEndian.AppendUint32(nil, 3))
		d.AddRtAttr(spec.AttrXmitHashPolicy, []byte{1})
		d.AddRtAttr(spec.AttrADLACPRate, []byte{1})
		d.AddRtAttr(99, []byte{1}) // an attribute of a newer kernel: skipped
		ad := d.AddRtAttr(spec.AttrADInfo, nil)
		ad.AddRtAttr(adInfoAggregator, binary.NativeEndian.AppendUint16(nil, 2))
		ad.AddRtAttr(adInfoNumPorts, binary.NativeEndian.AppendUint16(nil, 2))
		ad.AddRtAttr(adInfoActorKey, binary.NativeEndian.AppendUint16(nil, 15))
		ad.AddRtAttr(adInfoPartnerKey, binary.NativeEndian.AppendUint16(nil, 33))
		ad.AddRtAttr(adInfoPartnerMAC, []byte{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc})
	})
	port := func() []byte {
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = 3
		b := msg.Serialize()
		b = append(b, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("ens1f0")).Serialize()...)
		b = append(b, nl.NewRtAttr(unix.IFLA_MASTER, binary.NativeEndian.AppendUint32(nil, 7)).Serialize()...)
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_SLAVE_KIND, nl.ZeroTerminated("bond"))
		sd := info.AddRtAttr(nl.IFLA_INFO_SLAVE_DATA, nil)
		sd.AddRtAttr(portState, []byte{1})
		sd.AddRtAttr(portMIIStatus, []byte{2})
		sd.AddRtAttr(portLinkFailures, binary.NativeEndian.AppendUint32(nil, 3))
		sd.AddRtAttr(portPermHWAddr, []byte{0x3c, 0xfd, 0xfe, 0, 0, 2})
		sd.AddRtAttr(portAggregatorID, binary.NativeEndian.AppendUint16(nil, 2))
		sd.AddRtAttr(portActorState, []byte{0x3d})
		sd.AddRtAttr(portPartnerState, binary.NativeEndian.AppendUint16(nil, 0x3f))
		sd.AddRtAttr(portActorChurn, []byte{2})
		return append(b, info.Serialize()...)
	}()
	links, err := parseLinks([][]byte{bond, port})
	if err != nil {
		t.Fatal(err)
	}
	b, p := links[0], links[1]
	if b.Name != "bond0" || b.Kind != "bond" || b.MTU != 9000 || b.Bond == nil {
		t.Fatalf("bond: %+v", b)
	}
	if b.Bond.Mode != "802.3ad" || b.Bond.ActivePort != "ens1f0" || len(b.Bond.Settings) != 3 {
		t.Errorf("bond info: %+v", b.Bond)
	}
	if s, _ := b.Bond.Settings.Get("transmit-hash-policy"); s.String() != "layer3+4" {
		t.Errorf("hash policy %q", s)
	}
	wantAD := &ADInfo{AggregatorID: 2, NumPorts: 2, ActorKey: 15, PartnerKey: 33, PartnerMAC: net.HardwareAddr{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc}}
	if !reflect.DeepEqual(b.Bond.AD, wantAD) {
		t.Errorf("AD %+v, want %+v", b.Bond.AD, wantAD)
	}
	two := uint8(2)
	wantPort := &Port{MII: 2, LinkFailures: 3, PermMAC: net.HardwareAddr{0x3c, 0xfd, 0xfe, 0, 0, 2}, AggregatorID: 2,
		ActorState: 0x3d, PartnerState: 0x3f, ActorChurn: &two}
	if p.Master != "bond0" || !reflect.DeepEqual(p.Port, wantPort) {
		t.Errorf("port %s master %q: %+v, want %+v", p.Name, p.Master, p.Port, wantPort)
	}
}

func num(s string) json.Number { return json.Number(s) }
