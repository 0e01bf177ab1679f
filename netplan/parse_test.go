package netplan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadGood(t *testing.T, name string) *Config {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", "good", name))
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return cfg
}

func ptr[T any](v T) *T { return &v }

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestGoodCorpusParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no good corpus: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.File != f {
				t.Errorf("File = %q, want %q", cfg.File, f)
			}
			// A normalized config parses again to the same value.
			raw, err := json.Marshal(cfg)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			again, err := Parse(f, raw)
			if err != nil {
				t.Fatalf("the normalized config does not parse again: %v\n%s", err, raw)
			}
			if !reflect.DeepEqual(again, cfg) {
				t.Errorf("normalizing is not idempotent:\n got %+v\nwant %+v", again, cfg)
			}
		})
	}
}

func TestDesignSketch(t *testing.T) {
	cfg := loadGood(t, "design-sketch.yaml")
	up := cfg.Network.Ethernets["uplinks"].Match
	equal(t, "uplinks pci-id", up.PCIID, StringList{"8086:1572", "15b3:*"})
	equal(t, "uplinks min-speed", up.MinSpeed, ptr(10000))
	equal(t, "mgmt macaddress (lowercased)", cfg.Network.Ethernets["mgmt"].Match.MACAddress, "aa:bb:cc:dd:ee:01")
	b := cfg.Network.Bonds["bond0"]
	equal(t, "mode", b.Mode(), Mode8023AD)
	equal(t, "mode number", b.Mode().Number(), 4)
	equal(t, "lacp-rate", b.Parameters.LACPRate, "fast")
	equal(t, "mii-monitor-interval", *b.Parameters.MIIMonitorInterval, Duration{Milliseconds: 100})
	equal(t, "transmit-hash-policy", b.Parameters.TransmitHashPolicy, "layer3+4")
	equal(t, "dhcp", b.DHCP(), true)
	equal(t, "bond names", cfg.BondNames(), []string{"bond0"})
	equal(t, "link timeout", cfg.LinkTimeout(), 30*time.Second)
	equal(t, "dhcp timeout", cfg.DHCPTimeout(), 60*time.Second)
	equal(t, "on-failure", cfg.OnFailure(), "rollback")
}

func TestPlainNetplanMeansWhatNetplanMeans(t *testing.T) {
	cfg := loadGood(t, "plain-netplan-active-backup.yaml")
	equal(t, "renderer", cfg.Network.Renderer, "networkd")
	if e := cfg.Network.Ethernets["eno1"]; e.Match != nil {
		t.Errorf("eno1 has a match %+v; an id without match is the interface name", e.Match)
	}
	b := cfg.Network.Bonds["bond0"]
	equal(t, "interfaces", b.Interfaces, []string{"eno1", "eno2"})
	equal(t, "mode", b.Mode(), ModeActiveBackup)
	equal(t, "dhcp", b.DHCP(), false)
	equal(t, "mtu", b.MTU, 9000)
	equal(t, "addresses (canonical)", b.Addresses, []string{"192.0.2.10/24", "2001:db8::10/64"})
	equal(t, "gateway4", b.Gateway4, "192.0.2.1")
	equal(t, "nameservers", b.Nameservers, &Nameservers{
		Addresses: []string{"192.0.2.53", "2001:db8::53"},
		Search:    []string{"example.com", "lab.example.com"},
	})
	equal(t, "routes", b.Routes, []Route{
		{To: "198.51.100.0/24", Via: "192.0.2.254", Metric: ptr(100)},
		{To: "default", Via: "192.0.2.1", OnLink: true, Table: 100},
	})
	p := b.Parameters
	equal(t, "primary", p.Primary, "eno1")
	equal(t, "mii-monitor-interval (bare number is ms)", p.MIIMonitorInterval.String(), "100ms")
	equal(t, "up-delay", p.UpDelay.String(), "200ms")
	equal(t, "down-delay", p.DownDelay.String(), "1000ms")
	equal(t, "fail-over-mac-policy", p.FailOverMACPolicy, "active")
	equal(t, "primary-reselect-policy", p.PrimaryReselectPolicy, "better")
	equal(t, "gratuitous-arp", p.GratuitousARP, ptr(5))
}

func TestModesByNumber(t *testing.T) {
	cfg := loadGood(t, "modes-by-number.yaml")
	want := []BondMode{ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast,
		Mode8023AD, ModeBalanceTLB, ModeBalanceALB}
	names := cfg.BondNames()
	equal(t, "bond names", names, []string{"bond0", "bond1", "bond2", "bond3", "bond4", "bond5", "bond6"})
	for i, name := range names {
		b := cfg.Network.Bonds[name]
		if b.Mode() != want[i] || b.Parameters.Mode != want[i] {
			t.Errorf("%s: mode %q (stored %q), want %q", name, b.Mode(), b.Parameters.Mode, want[i])
		}
		if b.Mode().Number() != i {
			t.Errorf("%s: Number() = %d, want %d", name, b.Mode().Number(), i)
		}
	}
}

func TestEveryParameter(t *testing.T) {
	cfg := loadGood(t, "every-parameter.yaml")
	eth := cfg.Network.Ethernets
	equal(t, "x710 match", eth["x710"].Match, &Match{
		PCIID: StringList{"8086:1572"}, Driver: StringList{"i40e", "ice*"},
		MinSpeed: ptr(10000), MaxSpeed: ptr(25000), Carrier: ptr(true),
	})
	equal(t, "cx pci-id (lowercased)", eth["cx"].Match.PCIID, StringList{"15b3:10??", "15b3:*"})
	equal(t, "cx name", eth["cx"].Match.Name, "ens[0-9]*f?")
	equal(t, "cx mtu", eth["cx"].MTU, 9000)
	equal(t, "onboard match", eth["onboard"].Match, &Match{Driver: StringList{"tg3"}, MACAddress: "3c:fd:fe:00:00:01"})

	lacp := cfg.Network.Bonds["lacp0"]
	equal(t, "lacp0 min-members", lacp.MinMembers, ptr(2))
	equal(t, "lacp0 max-members", lacp.MaxMembers, ptr(4))
	equal(t, "lacp0 dhcp (yes)", lacp.DHCP(), true)
	equal(t, "lacp0 dhcp-identifier", lacp.DHCPIdentifier, "mac")
	equal(t, "lacp0 macaddress", lacp.MACAddress, "02:00:00:ab:cd:ef")
	equal(t, "lacp0 parameters", lacp.Parameters, &BondParameters{
		Mode: Mode8023AD, LACPRate: "slow", ADSelect: "bandwidth", TransmitHashPolicy: "encap3+4",
		MinLinks: ptr(2), MIIMonitorInterval: &Duration{1000}, UpDelay: &Duration{0},
		DownDelay: &Duration{200}, AllMembersActive: ptr(true), ResendIGMP: ptr(255),
	})

	equal(t, "xor0 parameters", cfg.Network.Bonds["xor0"].Parameters, &BondParameters{
		Mode: ModeBalanceXOR, ARPInterval: &Duration{500}, ARPIPTargets: []string{"192.0.2.1", "192.0.2.2"},
		ARPValidate: "filter_backup", ARPAllTargets: "all", TransmitHashPolicy: "vlan+srcmac",
		GratuitousARP: ptr(0),
	})
	equal(t, "rr0 packets-per-member", cfg.Network.Bonds["rr0"].Parameters.PacketsPerMember, ptr(65535))
	tlb := cfg.Network.Bonds["tlb0"].Parameters
	equal(t, "tlb0 learn-packet-interval (bare number is seconds)", *tlb.LearnPacketInterval, Duration{5000})
	equal(t, "tlb0 learn-packet-interval seconds", tlb.LearnPacketInterval.Seconds(), int64(5))
	equal(t, "tlb0 primary", tlb.Primary, "spare")
	equal(t, "tlb0 primary-reselect-policy", tlb.PrimaryReselectPolicy, "failure")

	equal(t, "link timeout", cfg.LinkTimeout(), 45*time.Second)
	equal(t, "dhcp timeout", cfg.DHCPTimeout(), 2*time.Minute)
	equal(t, "on-failure", cfg.OnFailure(), OnFailureFallbackDHCP)
}

func TestDeprecatedAliases(t *testing.T) {
	cfg := loadGood(t, "deprecated-aliases.yaml")
	p := cfg.Network.Bonds["bond0"].Parameters
	equal(t, "all-slaves-active -> all-members-active", p.AllMembersActive, ptr(true))
	equal(t, "packets-per-slave -> packets-per-member", p.PacketsPerMember, ptr(3))
	equal(t, "gratuitious-arp -> gratuitous-arp", p.GratuitousARP, ptr(2))
	equal(t, "learn-packet-interval 90s", *p.LearnPacketInterval, Duration{90000})
}

func TestStaticMultiBond(t *testing.T) {
	cfg := loadGood(t, "static-multi-bond.yaml")
	equal(t, "bond names", cfg.BondNames(), []string{"mgmt0", "storage"})
	s := cfg.Network.Bonds["storage"]
	equal(t, "storage interfaces", s.Interfaces, []string{"storage.nics"})
	equal(t, "storage mode", s.Mode(), Mode8023AD)
	equal(t, "storage addresses", s.Addresses, []string{"10.10.0.5/16"})
	equal(t, "storage dhcp", s.DHCP(), false)
	equal(t, "mgmt driver list", cfg.Network.Ethernets["mgmt"].Match.Driver, StringList{"igb", "e1000e"})
	m := cfg.Network.Bonds["mgmt0"]
	equal(t, "mgmt0 mii", m.Parameters.MIIMonitorInterval.String(), "100ms")
}

func TestBondDefaults(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte("network:\n  version: 2\n  ethernets: {eth0: {}}\n  bonds: {bond0: {interfaces: [eth0]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Network.Bonds["bond0"]
	equal(t, "mode without parameters", b.Mode(), ModeBalanceRR)
	equal(t, "number", b.Mode().Number(), 0)
	equal(t, "dhcp", b.DHCP(), false)
	equal(t, "file", cfg.File, "min.yaml")
	equal(t, "on-failure", cfg.OnFailure(), OnFailureRollback)
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxConfigSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, msg string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), "no such file"},
		{"a directory", dir, "cannot read"},
		{"empty file", empty, "empty"},
		{"file too large", big, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load error %v (%T) is not an ErrorList", err, err)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q: want the file name and %q", err, tc.msg)
			}
		})
	}
}

func TestParseBondMode(t *testing.T) {
	for in, want := range map[string]BondMode{
		"balance-rr": ModeBalanceRR, "0": ModeBalanceRR, "active-backup": ModeActiveBackup,
		"1": ModeActiveBackup, "balance-xor": ModeBalanceXOR, "broadcast": ModeBroadcast,
		"802.3ad": Mode8023AD, "4": Mode8023AD, "balance-tlb": ModeBalanceTLB, "6": ModeBalanceALB,
	} {
		got, err := ParseBondMode(in)
		if err != nil || got != want {
			t.Errorf("ParseBondMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "-1", "lacp", "802.3AD", "Active-Backup", " 4"} {
		if got, err := ParseBondMode(in); err == nil {
			t.Errorf("ParseBondMode(%q) = %q, want an error", in, got)
		}
	}
	equal(t, "invalid Number", BondMode("bogus").Number(), -1)
	equal(t, "empty String", BondMode("").String(), "balance-rr")
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bare time.Duration
		want int64
	}{
		{"100", time.Millisecond, 100},
		{"0", time.Millisecond, 0},
		{"5", time.Second, 5000},
		{"100ms", time.Millisecond, 100},
		{"2s", time.Millisecond, 2000},
		{"1.5s", time.Millisecond, 1500},
		{"1m30s", time.Millisecond, 90000},
		{"1min 30s", time.Millisecond, 90000},
		{"2 s", time.Millisecond, 2000},
		{"1h", time.Millisecond, 3600000},
		{"500msec", time.Millisecond, 500},
		{"1000us", time.Millisecond, 1},
	} {
		d, err := ParseDuration(tc.in, tc.bare)
		if err != nil || d.Milliseconds != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %dms", tc.in, d, err, tc.want)
		}
	}
	for _, in := range []string{"", " ", "-1", "-1s", "ms", "10x", "10 ms x", "1.5", "100us", "1e3s", "9999999999999999999h", "1s2"} {
		if d, err := ParseDuration(in, time.Millisecond); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestDurationJSONRoundTrip(t *testing.T) {
	for _, in := range []string{`250`, `"250"`, `"2s"`, `"1m"`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Fatalf("Unmarshal(%s): %v", in, err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(out, &back); err != nil || back != d {
			t.Errorf("%s -> %s -> %v, %v", in, out, back, err)
		}
	}
	equal(t, "Duration()", Duration{1500}.Duration(), 1500*time.Millisecond)
}

func TestStringListJSON(t *testing.T) {
	var l StringList
	if err := json.Unmarshal([]byte(`"a"`), &l); err != nil {
		t.Fatal(err)
	}
	equal(t, "single", l, StringList{"a"})
	if err := json.Unmarshal([]byte(`["a","b"]`), &l); err != nil {
		t.Fatal(err)
	}
	equal(t, "list", l, StringList{"a", "b"})
	if err := json.Unmarshal([]byte(`3`), &l); err == nil {
		t.Error("a number unmarshalled into a StringList")
	}
}

func TestErrorsAreSortedAndComplete(t *testing.T) {
	yaml := `network:
  version: 2
  ethernets:
    eth0: {}
  bonds:
    bond1:
      interfaces: [eth0]
      mtu: 10
    bond0:
      interfaces: [eth0, nope]
      parameters: {mode: active-backup, lacp-rate: fast}
`
	_, err := Parse("order.yaml", []byte(yaml))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v is not an ErrorList", err)
	}
	var paths []string
	for _, e := range list {
		paths = append(paths, e.Path)
	}
	equal(t, "paths", paths, []string{
		"network.bonds.bond0.interfaces[1]",
		"network.bonds.bond0.parameters.lacp-rate",
		"network.bonds.bond1.interfaces[0]",
		"network.bonds.bond1.mtu",
	})
	// The same input gives the same text every time, whatever the map order.
	for range 20 {
		_, again := Parse("order.yaml", []byte(yaml))
		if again.Error() != err.Error() {
			t.Fatalf("unstable errors:\n%v\n---\n%v", err, again)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "good", "*.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range badConfigs {
		f.Add([]byte(tc.yaml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" {
					t.Fatalf("error %q does not name the file", e)
				}
			}
			return
		}
		// Whatever parses is normalized: it parses again to the same value.
		raw, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse("fuzz.yaml", raw)
		if err != nil {
			t.Fatalf("normalized config does not parse again: %v\n%s", err, raw)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("normalizing is not idempotent:\n%+v\n%+v", again, cfg)
		}
	})
}

func TestDocsExamplesParse(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatalf("docs/config.md: %v", err)
	}
	n := 0
	for i, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		yaml, _, ok := strings.Cut(block, "```")
		if !ok {
			t.Fatalf("example %d is not closed", i+1)
		}
		if !strings.Contains(yaml, "network:") {
			yaml = withBond("") + yaml // a fragment such as the bondstrap: section
		}
		n++
		if _, err := Parse("config.md", []byte(yaml)); err != nil {
			t.Errorf("example %d does not parse: %v\n%s", i+1, err, yaml)
		}
	}
	if n < 3 {
		t.Errorf("found %d examples in docs/config.md, want at least 3", n)
	}
}
