package detect

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"testing"
)

var fakeSys = sysfs{root: "testdata/sysfs"}

func TestSysfsNetDevice(t *testing.T) {
	tests := []struct {
		name    string
		ifindex int
		mac     string
		want    busDevice
	}{
		// The device link points at virtio2 (1af4:0001); the inventory.NIC is the
		// PCI function above it.
		{"eth0", 2, "52:54:00:12:34:56", busDevice{Subsystem: "virtio", Driver: "virtio_net",
			PCIAddress: "0000:00:03.0", VendorID: "1af4", DeviceID: "1041"}},
		// Behind a PCI root port, which must not be taken for the inventory.NIC.
		{"ens1f0", 3, "3c:fd:fe:00:00:01", busDevice{Subsystem: "pci", Driver: "i40e",
			PCIAddress: "0000:3b:00.0", VendorID: "8086", DeviceID: "1572"}},
		// A USB inventory.NIC: the xHCI controller above it is not the inventory.NIC.
		{"enx001122334455", 4, "00:11:22:33:44:55", busDevice{Subsystem: "usb", Driver: "cdc_ether"}},
		// virtio over MMIO: virtio, but no PCI function.
		{"eth1", 5, "52:54:00:12:34:57", busDevice{Subsystem: "virtio", Driver: "virtio_net"}},
		// Virtual: no device link.
		{"lo", 1, "", busDevice{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fakeSys.netDevice(tt.name, tt.ifindex, tt.mac)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSysfsNetDeviceErrors(t *testing.T) {
	// Same name, other ifindex: /sys/class/net shows another namespace.
	if _, err := fakeSys.netDevice("eth0", 42, "52:54:00:12:34:56"); !errors.Is(err, errOtherNamespace) {
		t.Errorf("ifindex mismatch: err = %v, want errOtherNamespace", err)
	}
	// Same name and ifindex (indexes restart at 1 in every namespace),
	// other MAC.
	if _, err := fakeSys.netDevice("eth0", 2, "ee:00:00:00:00:01"); !errors.Is(err, errOtherNamespace) {
		t.Errorf("MAC mismatch: err = %v, want errOtherNamespace", err)
	}
	if _, err := fakeSys.netDevice("eth9", 9, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing interface: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := fakeSys.netDevice("eth5", 6, "52:54:00:12:34:58"); err == nil || !strings.Contains(err.Error(), `malformed PCI ID "0x80861"`) {
		t.Errorf("malformed vendor file: err = %v", err)
	}
}

func TestSysfsPCIIDs(t *testing.T) {
	for addr, want := range map[string]string{
		"0000:00:03.0": "1af4:1041",
		"0000:3b:00.0": "8086:1572",
		"0000:3a:00.0": "8086:2030",
	} {
		v, d, err := fakeSys.pciIDs(addr)
		if err != nil || v+":"+d != want {
			t.Errorf("pciIDs(%s) = %s:%s, %v; want %s", addr, v, d, err, want)
		}
	}
	if _, _, err := fakeSys.pciIDs("0000:99:00.0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent function: err = %v, want fs.ErrNotExist", err)
	}
	// bus_info of a USB inventory.NIC must never become a path.
	if _, _, err := fakeSys.pciIDs("usb-0000:00:14.0-1"); err == nil {
		t.Error("pciIDs accepted a non-PCI bus address")
	}
	if _, _, err := fakeSys.pciIDs("../../../etc"); err == nil {
		t.Error("pciIDs accepted a path")
	}
}

func TestNormalizeHexID(t *testing.T) {
	good := map[string]string{"0x8086\n": "8086", "0x15B3": "15b3", " 0x1af4 ": "1af4", "0X10EC": "10ec"}
	for in, want := range good {
		if got, err := normalizeHexID(in); err != nil || got != want {
			t.Errorf("normalizeHexID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"8086", "0x808", "0x80861", "0xzzzz", "", "0x"} {
		if got, err := normalizeHexID(in); err == nil {
			t.Errorf("normalizeHexID(%q) = %q, want an error", in, got)
		}
	}
}

func TestNormalizeSpeed(t *testing.T) {
	tests := map[int64]int{
		10000: 10000, 1000: 1000, 100: 100, 25000: 25000, 400000: 400000,
		0: 0, -1: 0, -100: 0,
		0xffff:              0, // some drivers' "unknown"
		0xffffffff:          0, // SPEED_UNKNOWN as ethtool netlink sends it
		math.MaxInt32 + 1:   0,
		math.MaxInt32 - 100: math.MaxInt32 - 100,
	}
	for in, want := range tests {
		if got := normalizeSpeed(in); got != want {
			t.Errorf("normalizeSpeed(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestNormalizeDuplex(t *testing.T) {
	for in, want := range map[int]string{0: "half", 1: "full", 0xff: "unknown", 2: "unknown", -1: "unknown"} {
		if got := normalizeDuplex(in); got != want {
			t.Errorf("normalizeDuplex(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestLACPPortState(t *testing.T) {
	tests := map[LACPPortState]string{
		0:    "none",
		0x3d: "activity,aggregation,synchronization,collecting,distributing",
		0x47: "activity,short_timeout,aggregation,defaulted",
		0xff: "activity,short_timeout,aggregation,synchronization,collecting,distributing,defaulted,expired",
	}
	for in, want := range tests {
		if got := in.String(); got != want {
			t.Errorf("LACPPortState(%#x) = %q, want %q", uint8(in), got, want)
		}
	}
}
