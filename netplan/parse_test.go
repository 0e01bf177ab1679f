package netplan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
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

// params is a bond's parameters as YAML text, by key: the mode, the primary
// and every setting's String.
func params(b Bond) map[string]string {
	out := map[string]string{}
	if b.Parameters == nil {
		return out
	}
	if b.Parameters.Mode != "" {
		out["mode"] = string(b.Parameters.Mode)
	}
	if b.Parameters.Primary != "" {
		out["primary"] = b.Parameters.Primary
	}
	for _, s := range b.Parameters.Settings {
		if _, dup := out[s.Param.Key]; dup {
			panic("two settings of " + s.Param.Key)
		}
		out[s.Param.Key] = s.String()
	}
	return out
}

// number is the numeric value of a bond's setting, or -1 without one.
func number(b Bond, key string) int64 {
	s, ok := b.Parameters.Get(key)
	if !ok {
		return -1
	}
	return s.N
}

// yamlValue is a setting as a YAML document gives it to Param.Parse: typed
// as its kind wants. (Setting's JSON form is its String, which is for people:
// a list is comma-separated and a number is a string.)
func yamlValue(s spec.Setting) any {
	switch s.Param.Kind {
	case spec.Int:
		return json.Number(s.String())
	case spec.Bool:
		return s.N != 0
	case spec.IPv4List, spec.IPv6List:
		list := make([]string, len(s.Addrs))
		for i, a := range s.Addrs {
			list[i] = a.String()
		}
		return list
	}
	return s.String()
}

// reparseable writes a parsed config as a document Parse reads: JSON, which
// is YAML, with each bond's parameters written as a parameters mapping.
// BondParameters has no MarshalJSON of its own.
func reparseable(t testing.TB, cfg *Config) []byte {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	bonds, _ := tree["network"].(map[string]any)["bonds"].(map[string]any)
	for name, b := range cfg.Network.Bonds {
		if b.Parameters == nil {
			continue
		}
		m := map[string]any{}
		if b.Parameters.Mode != "" {
			m["mode"] = string(b.Parameters.Mode)
		}
		if b.Parameters.Primary != "" {
			m["primary"] = b.Parameters.Primary
		}
		for _, s := range b.Parameters.Settings {
			m[s.Param.Key] = yamlValue(s)
		}
		bonds[name].(map[string]any)["parameters"] = m
	}
	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goodFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no good corpus: %v", err)
	}
	return files
}

func TestGoodCorpusParses(t *testing.T) {
	for _, f := range goodFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.File != f {
				t.Errorf("File = %q, want %q", cfg.File, f)
			}
			// A normalized config parses again to the same value.
			raw := reparseable(t, cfg)
			again, err := Parse(f, raw)
			if err != nil {
				t.Fatalf("the normalized config does not parse again: %v\n%s", err, raw)
			}
			if !reflect.DeepEqual(again, cfg) {
				t.Errorf("normalizing is not idempotent:\n got %+v\nwant %+v", again, cfg)
			}
			checkBondSettings(t, cfg)
		})
	}
}

// checkBondSettings asserts what validation promises of every bond of a
// parsed config: the kernel takes each value and the combination, networkd
// or udev can persist it, and each value travels through rtnetlink unchanged.
func checkBondSettings(t testing.TB, cfg *Config) {
	t.Helper()
	for _, name := range cfg.BondNames() {
		b := cfg.Network.Bonds[name]
		if b.Mode().Number() < 0 {
			t.Fatalf("%s: mode %q is not a kernel mode", name, b.Mode())
		}
		var ss spec.Settings
		if b.Parameters != nil {
			ss = b.Parameters.Settings
		}
		mode := string(b.Mode())
		if _, problems := spec.Persist(mode, ss); len(problems) > 0 {
			t.Fatalf("%s: validated, but cannot be persisted: %v", name, problems)
		}
		if problems := ss.Check(mode); len(problems) > 0 {
			t.Fatalf("%s: validated, but the kernel refuses it: %v", name, problems)
		}
		for i, s := range ss {
			if i > 0 && slices.Index(spec.Params, s.Param) <= slices.Index(spec.Params, ss[i-1].Param) {
				t.Fatalf("%s: settings not in the order of spec.Params, or a parameter twice: %v", name, ss)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("%s: %s %s validated, but Check says %v", name, s.Param.Key, s, err)
			}
			payload := s.Encode()
			back, err := s.Param.Decode(payload)
			if err != nil || !back.Equal(s) {
				t.Fatalf("%s: %s %s -> Encode %x -> Decode %v, %v", name, s.Param.Key, s, payload, back, err)
			}
		}
	}
}

// The good corpus is the proof that every parameter can be configured: each
// one, each deprecated alias and each mode appears in it.
func TestGoodCorpusCoversEveryParameter(t *testing.T) {
	keys := map[string]bool{}
	modes := map[BondMode]bool{}
	var text strings.Builder
	for _, f := range goodFiles(t) {
		cfg, err := Load(f)
		if err != nil {
			t.Fatalf("Load(%s): %v", f, err)
		}
		data, _ := os.ReadFile(f)
		text.Write(data)
		for _, b := range cfg.Network.Bonds {
			modes[b.Mode()] = true
			for k := range params(b) {
				keys[k] = true
			}
		}
	}
	for _, p := range spec.Params {
		if !keys[p.Key] {
			t.Errorf("no file of testdata/good sets %s", p.Key)
		}
		for _, a := range p.Aliases {
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(a) + `:`).MatchString(text.String()) {
				t.Errorf("no file of testdata/good uses %s's deprecated name %s", p.Key, a)
			}
		}
	}
	for _, m := range spec.Modes {
		if !modes[BondMode(m.Name)] {
			t.Errorf("no bond of testdata/good is in mode %s", m.Name)
		}
	}
	if !keys["primary"] {
		t.Error("no file of testdata/good sets primary")
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
	equal(t, "parameters", params(b), map[string]string{
		"mode": "802.3ad", "lacp-rate": "fast", "mii-monitor-interval": "100ms", "transmit-hash-policy": "layer3+4",
	})
	equal(t, "lacp-rate (the kernel's number)", number(b, "lacp-rate"), 1)
	equal(t, "mii-monitor-interval (a bare number is ms)", number(b, "mii-monitor-interval"), 100)
	equal(t, "transmit-hash-policy (the kernel's number)", number(b, "transmit-hash-policy"), 1)
	equal(t, "dhcp", b.DHCP(), true)
	equal(t, "bond names", cfg.BondNames(), []string{"bond0"})
	equal(t, "link timeout", cfg.LinkTimeout(), 30*time.Second)
	equal(t, "dhcp timeout", cfg.DHCPTimeout(), 60*time.Second)
	equal(t, "deadline", cfg.Deadline(), 5*time.Minute)
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
	equal(t, "parameters", params(b), map[string]string{
		"mode": "active-backup", "primary": "eno1",
		"mii-monitor-interval": "100ms", // a bare number is ms
		"up-delay":             "200ms",
		"down-delay":           "1000ms",
		"fail-over-mac-policy": "active", "primary-reselect-policy": "better", "gratuitous-arp": "5",
	})
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
	equal(t, "lacp0 parameters", params(lacp), map[string]string{
		"mode": "802.3ad", "lacp-rate": "slow", "ad-select": "bandwidth", "transmit-hash-policy": "encap3+4",
		"min-links": "2", "mii-monitor-interval": "1000ms", "up-delay": "0", "down-delay": "2000ms",
		"all-members-active": "true", "resend-igmp": "255", "ad-actor-system": "02:00:00:00:00:01",
		"ad-actor-system-priority": "100", "ad-user-port-key": "1023", "lacp-active": "false",
	})

	xor := cfg.Network.Bonds["xor0"]
	equal(t, "xor0 parameters", params(xor), map[string]string{
		"mode": "balance-xor", "arp-interval": "500ms", "arp-ip-targets": "192.0.2.1,192.0.2.2",
		"ns-ip6-targets": "2001:db8::1", "arp-validate": "filter_backup", "arp-all-targets": "all",
		"arp-missed-max": "3", "transmit-hash-policy": "vlan+srcmac", "gratuitous-arp": "0",
	})
	equal(t, "xor0 arp-validate (the kernel's number)", number(xor, "arp-validate"), 6)
	equal(t, "xor0 transmit-hash-policy (the kernel's number)", number(xor, "transmit-hash-policy"), 5)
	equal(t, "rr0 parameters", params(cfg.Network.Bonds["rr0"]), map[string]string{
		"mode": "balance-rr", "packets-per-member": "65535",
	})
	tlb := cfg.Network.Bonds["tlb0"]
	equal(t, "tlb0 parameters", params(tlb), map[string]string{
		"mode": "balance-tlb", "primary": "spare", "learn-packet-interval": "5s",
		"primary-reselect-policy": "failure", "tlb-dynamic-lb": "false", "use-carrier": "true",
	})
	equal(t, "tlb0 learn-packet-interval (a bare number is seconds)", number(tlb, "learn-packet-interval"), 5)
	ab := cfg.Network.Bonds["ab0"]
	equal(t, "ab0 parameters", params(ab), map[string]string{
		"mode": "active-backup", "primary": "backup", "mii-monitor-interval": "100ms",
		"fail-over-mac-policy": "follow", "peer-notify-delay": "500ms",
	})

	equal(t, "link timeout", cfg.LinkTimeout(), 45*time.Second)
	equal(t, "dhcp timeout", cfg.DHCPTimeout(), 2*time.Minute)
	equal(t, "deadline", cfg.Deadline(), 10*time.Minute)
	equal(t, "on-failure", cfg.OnFailure(), OnFailureFallbackDHCP)
}

func TestDeprecatedAliases(t *testing.T) {
	cfg := loadGood(t, "deprecated-aliases.yaml")
	b := cfg.Network.Bonds["bond0"]
	// Each alias is stored under the current key.
	equal(t, "parameters", params(b), map[string]string{
		"mode": "balance-rr", "all-members-active": "true", "packets-per-member": "3", "gratuitous-arp": "2",
		"learn-packet-interval": "90s",
	})
	equal(t, "learn-packet-interval 90s", number(b, "learn-packet-interval"), 90)
}

func TestStaticMultiBond(t *testing.T) {
	cfg := loadGood(t, "static-multi-bond.yaml")
	equal(t, "bond names", cfg.BondNames(), []string{"mgmt0", "storage"})
	s := cfg.Network.Bonds["storage"]
	equal(t, "storage interfaces", s.Interfaces, []string{"storage.nics"})
	equal(t, "storage mode", s.Mode(), Mode8023AD)
	equal(t, "storage addresses", s.Addresses, []string{"10.10.0.5/16"})
	equal(t, "storage dhcp", s.DHCP(), false)
	equal(t, "storage transmit-hash-policy", params(s)["transmit-hash-policy"], "layer2+3")
	equal(t, "mgmt driver list", cfg.Network.Ethernets["mgmt"].Match.Driver, StringList{"igb", "e1000e"})
	m := cfg.Network.Bonds["mgmt0"]
	equal(t, "mgmt0 mii", params(m)["mii-monitor-interval"], "100ms")
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
	equal(t, "deadline", cfg.Deadline(), DefaultDeadline)
	if s, ok := b.Parameters.Get("mii-monitor-interval"); ok {
		t.Errorf("Get on a bond without parameters = %v", s)
	}
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
	equal(t, "empty Number (the default mode)", BondMode("").Number(), 0)
	equal(t, "empty String", BondMode("").String(), "balance-rr")
	for _, m := range spec.Modes {
		equal(t, m.Name+" Number", BondMode(m.Name).Number(), m.Number)
	}
}

// The decoder fails closed on what the tree walker would have reported.
func TestBondParametersUnmarshalJSON(t *testing.T) {
	var p BondParameters
	if err := json.Unmarshal([]byte(`{"mode": 4, "lacp-rate": "fast", "gratuitious-arp": 3, "primary": "x"}`), &p); err != nil {
		t.Fatal(err)
	}
	equal(t, "mode", p.Mode, Mode8023AD)
	equal(t, "primary", p.Primary, "x")
	equal(t, "settings", params(Bond{Parameters: &p}), map[string]string{
		"mode": "802.3ad", "primary": "x", "lacp-rate": "fast", "gratuitous-arp": "3",
	})
	for _, bad := range []string{
		`[]`,
		`{"mode": "lacp"}`,
		`{"mode": [4]}`,
		`{"primary": 1}`,
		`{"bogus": 1}`,
		`{"lacp-rate": "medium"}`,
		`{"gratuitous-arp": 1, "gratuitious-arp": 2}`,
	} {
		var p BondParameters
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", bad, p)
		}
	}
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

// FuzzParse: Parse never panics; it fails with an ErrorList naming the file,
// or returns a config that is normalized (it parses again to itself) and
// whose every bond the kernel takes, networkd or udev persists, and
// rtnetlink carries unchanged.
func FuzzParse(f *testing.F) {
	for _, file := range goodFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range badConfigs {
		f.Add([]byte(tc.yaml))
	}
	for _, tc := range goodParameters {
		f.Add([]byte(withParams(tc)))
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
		checkBondSettings(t, cfg)
		raw := reparseable(t, cfg)
		again, err := Parse("fuzz.yaml", raw)
		if err != nil {
			t.Fatalf("normalized config does not parse again: %v\n%s", err, raw)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("normalizing is not idempotent:\n%#v\n%#v", again.Network, cfg.Network)
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
