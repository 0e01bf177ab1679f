package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadFileGood(t *testing.T) {
	tests := []struct {
		file  string
		names []string
		check func(t *testing.T, inv Inventory)
	}{
		{
			file:  "x710.json",
			names: []string{"ens1f0"},
			check: func(t *testing.T, inv Inventory) {
				want := NIC{Name: "ens1f0", MAC: "3c:fd:fe:00:00:01", PermanentMAC: "3c:fd:fe:00:00:01",
					PCIAddress: "0000:3b:00.0", VendorID: "8086", DeviceID: "1572", Driver: "i40e",
					SpeedMbps: 10000, Duplex: "full", Carrier: true, MTU: 1500}
				if got := inv.Interfaces[0]; got != want {
					t.Errorf("got  %+v\nwant %+v", got, want)
				}
			},
		},
		{
			file:  "mixed.json",
			names: []string{"eno1", "ens2f0np0", "ens2f1np1", "enx001122334455"},
			check: func(t *testing.T, inv Inventory) {
				eno1, _ := inv.Lookup("eno1")
				if eno1.MAC != "ac:1f:6b:00:00:10" {
					t.Errorf("eno1 MAC = %q, want it lowercased", eno1.MAC)
				}
				if eno1.Port != "tp" || !eno1.AdminUp || eno1.Ifindex != 2 {
					t.Errorf("eno1 optional fields lost: %+v", eno1)
				}
				usb, _ := inv.Lookup("enx001122334455")
				if usb.PCIID() != "" || usb.HardwareMAC() != "00:11:22:33:44:55" || usb.Duplex != "half" {
					t.Errorf("usb NIC: %+v", usb)
				}
				mlx, _ := inv.Lookup("ens2f0np0")
				if mlx.Master != "bond0" || mlx.PCIID() != "15b3:1017" || mlx.MTU != 9000 {
					t.Errorf("mlx NIC: %+v", mlx)
				}
			},
		},
		{file: "empty-list.json", names: []string{}},
		{
			file:  "minimal.json",
			names: []string{"eth0"},
			check: func(t *testing.T, inv Inventory) {
				if d := inv.Interfaces[0].Duplex; d != DuplexUnknown {
					t.Errorf("omitted duplex = %q, want %q", d, DuplexUnknown)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			inv, err := LoadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, n := range inv.Interfaces {
				names = append(names, n.Name)
			}
			if !reflect.DeepEqual(names, tt.names) {
				t.Fatalf("names = %q, want %q", names, tt.names)
			}
			if tt.check != nil {
				tt.check(t, inv)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	inv := Inventory{Interfaces: []NIC{{Name: "eth0", MTU: 1500}, {Name: "eth1", MTU: 9000}}}
	if n, ok := inv.Lookup("eth1"); !ok || n.MTU != 9000 {
		t.Errorf("Lookup(eth1) = %+v, %v", n, ok)
	}
	if _, ok := inv.Lookup("eth2"); ok {
		t.Error("Lookup(eth2) found a NIC")
	}
}

// nic returns inventory JSON with one interface: a valid base whose fields
// extra (a JSON object body, without braces) adds to or replaces.
func nic(extra string) string {
	fields := map[string]any{"name": "eth0", "mac": "3c:fd:fe:00:00:01", "vendor_id": "8086", "device_id": "1572"}
	if err := json.Unmarshal([]byte("{"+extra+"}"), &fields); err != nil {
		panic(err)
	}
	b, err := json.Marshal(map[string]any{"interfaces": []any{fields}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name, in string
		path     string // want InventoryError.Path
		msg      string // want substring of InventoryError.Msg
	}{
		{"empty file", "", "", "empty inventory"},
		{"white space only", " \n\t", "", "empty inventory"},
		{"not an object", `[]`, "", "expected an object, got JSON array"},
		{"syntax error", "{\"interfaces\": [\n  {\"name\": \"eth0\",}]}", "", "line 2, column 19"},
		{"truncated", `{"interfaces": [`, "", "unexpected end"},
		{"trailing junk", `{"interfaces": []} x`, "", `unexpected "x"`},
		{"missing interfaces", `{}`, "interfaces", "required"},
		{"interfaces not a list", `{"interfaces": {}}`, "interfaces", "expected a list"},
		{"unknown top-level field", `{"interfaces": [], "nics": []}`, "nics", "unknown field"},
		{"unknown field", nic(`"speed": 10000`), "interfaces[0].speed", "unknown field"},
		{"null interface", `{"interfaces": [null]}`, "interfaces[0]", "got null"},
		{"interface not an object", `{"interfaces": ["eth0"]}`, "interfaces[0]", "expected an object"},
		{"speed wrong type", nic(`"speed_mbps": "10000"`), "interfaces[0].speed_mbps", "expected an integer, got JSON string"},
		{"speed fractional", nic(`"speed_mbps": 2.5`), "interfaces[0].speed_mbps", "expected an integer"},
		{"carrier wrong type", nic(`"carrier": "yes"`), "interfaces[0].carrier", "expected true or false"},
		{"name wrong type", `{"interfaces": [{"name": 1}]}`, "interfaces[0].name", "expected a string, got JSON number"},
		{"negative speed", nic(`"speed_mbps": -1`), "interfaces[0].speed_mbps", "negative"},
		{"bad hex id", `{"interfaces": [{"name": "eth0", "mac": "3c:fd:fe:00:00:01", "vendor_id": "8086x", "device_id": "1572"}]}`,
			"interfaces[0].vendor_id", `"8086x" is not a PCI ID`},
		{"uppercase id", `{"interfaces": [{"name": "eth0", "mac": "3c:fd:fe:00:00:01", "vendor_id": "15B3", "device_id": "1017"}]}`,
			"interfaces[0].vendor_id", "four lowercase hex digits"},
		{"sysfs-style id", `{"interfaces": [{"name": "eth0", "mac": "3c:fd:fe:00:00:01", "vendor_id": "8086", "device_id": "0x1572"}]}`,
			"interfaces[0].device_id", "not a PCI ID"},
		{"vendor without device", `{"interfaces": [{"name": "eth0", "mac": "3c:fd:fe:00:00:01", "vendor_id": "8086"}]}`,
			"interfaces[0].device_id", "required when vendor_id is set"},
		{"bad MAC", nic(`"mac": "3c:fd:fe:00:00"`), "interfaces[0].mac", `"3c:fd:fe:00:00" is not a MAC address`},
		{"MAC with dashes", nic(`"mac": "3c-fd-fe-00-00-01"`), "interfaces[0].mac", "not a MAC address"},
		{"20-byte MAC", nic(`"mac": "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01"`), "interfaces[0].mac", "not a MAC address"},
		{"missing MAC", `{"interfaces": [{"name": "eth0"}]}`, "interfaces[0].mac", "required"},
		{"bad permanent MAC", nic(`"permanent_mac": "zz:fd:fe:00:00:01"`), "interfaces[0].permanent_mac", "not a MAC address"},
		{"missing name", `{"interfaces": [{"mac": "3c:fd:fe:00:00:01"}]}`, "interfaces[0].name", "required"},
		{"long name", nic(`"name": "ens1f0np0verylong"`), "interfaces[0].name", "longer than 15 bytes"},
		{"name with slash", nic(`"name": "eth/0"`), "interfaces[0].name", "not an interface name"},
		{"name dotdot", nic(`"name": ".."`), "interfaces[0].name", "not an interface name"},
		{"duplicate names", `{"interfaces": [` +
			`{"name": "eth0", "mac": "3c:fd:fe:00:00:01"}, {"name": "eth1", "mac": "3c:fd:fe:00:00:02"},` +
			`{"name": "eth0", "mac": "3c:fd:fe:00:00:03"}]}`,
			"interfaces[2].name", `duplicate name "eth0" (also interfaces[0])`},
		{"bad PCI address", nic(`"pci_address": "3b:00.0"`), "interfaces[0].pci_address", "not a PCI address"},
		{"uppercase PCI address", nic(`"pci_address": "0000:3B:00.0"`), "interfaces[0].pci_address", "lowercase"},
		{"bad duplex", nic(`"duplex": "Full"`), "interfaces[0].duplex", `"Full"`},
		{"tiny MTU", nic(`"mtu": 20`), "interfaces[0].mtu", "out of range"},
		{"bad operstate", nic(`"operstate": "UP"`), "interfaces[0].operstate", "expected one of"},
		{"bad port", nic(`"port": "sfp"`), "interfaces[0].port", "expected one of"},
		{"bad master", nic(`"master": "bond 0"`), "interfaces[0].master", "not an interface name"},
		{"driver with space", nic(`"driver": "i40e x"`), "interfaces[0].driver", "not a driver name"},
		{"duplicate key", `{"interfaces": [{"name": "eth0", "mac": "3c:fd:fe:00:00:01", "name": "eth1"}]}`,
			"interfaces[0].name", "duplicate key"},
		{"duplicate top-level key", `{"interfaces": [], "interfaces": []}`, "interfaces", "duplicate key"},
		{"error in second NIC", `{"interfaces": [{"name": "eth0", "mac": "3c:fd:fe:00:00:01"},` +
			`{"name": "eth1", "mac": "3c:fd:fe:00:00:02", "bogus": 1}]}`, "interfaces[1].bogus", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse("inv.json", []byte(tt.in))
			var ie *InventoryError
			if !errors.As(err, &ie) {
				t.Fatalf("Parse = %+v, %v; want an *InventoryError", inv, err)
			}
			if ie.File != "inv.json" || ie.Path != tt.path || !strings.Contains(ie.Msg, tt.msg) {
				t.Errorf("got file %q path %q msg %q\nwant file %q path %q msg containing %q",
					ie.File, ie.Path, ie.Msg, "inv.json", tt.path, tt.msg)
			}
			prefix := "inv.json: "
			if tt.path != "" {
				prefix += tt.path + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err, prefix)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.json"))
	var ie *InventoryError
	if !errors.As(err, &ie) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile(missing) = %v; want an *InventoryError wrapping fs.ErrNotExist", err)
	}
	if !strings.Contains(ie.Msg, "cannot read") {
		t.Errorf("Msg = %q", ie.Msg)
	}
}

// TestLimits checks the documented bounds: an inventory over MaxFileSize is
// not read into memory, and one listing more than MaxNICs is refused, each
// with an error naming the file (and the key).
func TestLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	pad := `{"interfaces": [], "comment": "` + strings.Repeat("x", MaxFileSize) + `"}`
	if err := os.WriteFile(big, []byte(pad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(big)
	var ie *InventoryError
	if !errors.As(err, &ie) || ie.File != big || !strings.Contains(ie.Msg, "larger than") {
		t.Errorf("LoadFile(%d bytes) = %v; want larger than %d bytes", len(pad), err, MaxFileSize)
	}

	nic := func(i int) string {
		return fmt.Sprintf(`{"name":"eth%d","mac":"02:00:00:%02x:%02x:%02x"}`, i, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	list := func(n int) []byte {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = nic(i)
		}
		return []byte(`{"interfaces": [` + strings.Join(parts, ",") + `]}`)
	}
	if inv, err := Parse("max.json", list(MaxNICs)); err != nil || len(inv.Interfaces) != MaxNICs {
		t.Errorf("%d NICs: %d parsed, %v", MaxNICs, len(inv.Interfaces), err)
	}
	_, err = Parse("over.json", list(MaxNICs+1))
	if !errors.As(err, &ie) || ie.File != "over.json" || ie.Path != "interfaces" || !strings.Contains(ie.Msg, "at most 4096") {
		t.Errorf("%d NICs: %v; want refused at interfaces", MaxNICs+1, err)
	}
}
