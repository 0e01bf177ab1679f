package kernel

import (
	"reflect"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// What the kernel sends of a VLAN (IFLA_LINK, IFLA_INFO_DATA {IFLA_VLAN_ID})
// reads back as its id and its parent's name; bridge data and bridge port
// data round-trip through what bondstrap sends.
func TestStackDataRoundTrip(t *testing.T) {
	msg := func(index int, name string, attrs ...*nl.RtAttr) []byte {
		m := nl.NewIfInfomsg(unix.AF_UNSPEC)
		m.Index = int32(index)
		b := m.Serialize()
		b = append(b, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)).Serialize()...)
		for _, a := range attrs {
			b = append(b, a.Serialize()...)
		}
		return b
	}
	c := BridgeConfig{STP: true, ForwardDelay: 30 * time.Second, HelloTime: 10 * time.Second, MaxAge: 40 * time.Second,
		AgeingTime: 1000 * time.Second, Priority: 65535}
	port := nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(3))
	links, err := parseLinks([][]byte{
		msg(2, "bond0"),
		msg(3, "br0", bridgeInfo(c)),
		msg(4, "bond0.100", nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(2)), vlanInfo(100)),
		msg(5, "eth0", port, portInfo(BridgePort{Cost: 65535, Priority: 63})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := links[1].Bridge; got == nil || !reflect.DeepEqual(*got, c) {
		t.Errorf("bridge: %+v, want %+v", got, c)
	}
	if got := links[2].VLAN; got == nil || *got != (VLAN{ID: 100, Parent: "bond0"}) {
		t.Errorf("VLAN: %+v", got)
	}
	if got := links[3]; got.Master != "br0" || got.BridgePort == nil || *got.BridgePort != (BridgePort{Cost: 65535, Priority: 63}) {
		t.Errorf("port: %+v %+v", got, got.BridgePort)
	}
	if links[0].VLAN != nil || links[0].Bridge != nil || links[0].BridgePort != nil {
		t.Errorf("a plain link with stack data: %+v", links[0])
	}
}
