package spec

import (
	"strings"
	"testing"
)

func TestNameRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		// ifname: IfnameProblem's complaint ("" for none); glob: whether
		// GlobProblem complains.
		ifname string
		glob   bool
	}{
		{"eno1", "", false},
		{"bond0", "", false},
		{"enp175s0f1np1", "", false},
		{"ens1f0.100", "", false},
		{"bond-uplink_1", "", false},
		{"a", "", false},
		{"a23456789012345", "", false},
		{"1234567890123456", "16 bytes long", false},
		{"", "empty", false},
		{".", "not a valid interface name", false},
		{"..", "not a valid interface name", false},
		{"...", "", false},
		{"a/b", "'/'", false},
		{"a:b", "'/'", false},
		{"bond%d", "'%'", false},
		{"a b", "space", false},
		{"a\tb", "control", false},
		{"a\nb", "control", false},
		{`a"b`, "quote", false},
		{"a'b", "quote", false},
		{`a\b`, "backslash", false},
		{"a\x7fb", "control", false},
		{"ethé", "non-ASCII", false},
		{"42", "all digits", false},
		{"0", "all digits", false},
		{"042a", "", false},
		// What networkd's [Match] Name= reads as a pattern.
		{"!bond0", "", true},
		{"e*", "", true},
		{"b?nd", "", true},
		{"bond[0]", "", true},
		{"bond]", "", true},
	} {
		got := IfnameProblem(tc.name)
		if (got == "") != (tc.ifname == "") || !strings.Contains(got, tc.ifname) {
			t.Errorf("IfnameProblem(%q) = %q, want %q", tc.name, got, tc.ifname)
		}
		if glob := GlobProblem(tc.name); (glob != "") != tc.glob {
			t.Errorf("GlobProblem(%q) = %q, want a complaint: %t", tc.name, glob, tc.glob)
		}
		want := tc.ifname != "" || tc.glob
		if np := NameProblem(tc.name); (np != "") != want {
			t.Errorf("NameProblem(%q) = %q, want a complaint: %t", tc.name, np, want)
		}
	}
	if p := GlobProblem("b?nd"); !strings.Contains(p, `'?'`) || !strings.Contains(p, "[Match] Name=") {
		t.Errorf("GlobProblem names neither the character nor networkd's [Match]: %q", p)
	}
}

func TestMACs(t *testing.T) {
	for in, want := range map[string]string{
		"3c:fd:fe:00:00:01": "3c:fd:fe:00:00:01",
		"3C:FD:FE:00:00:01": "3c:fd:fe:00:00:01",
		"3c:Fd:fE:00:00:01": "3c:fd:fe:00:00:01",
		"00:00:00:00:00:00": "00:00:00:00:00:00",
		"01:00:5e:00:00:01": "01:00:5e:00:00:01",
	} {
		if got, err := NormalizeMAC(in); err != nil || got != want {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "3c:fd:fe:00:00", "3c:fd:fe:00:00:01:02", "3c-fd-fe-00-00-01", "3cfd.fe00.0001",
		"3c:fd:fe:0:0:1", "3c:fd:fe:00:00:0g", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
		" 3c:fd:fe:00:00:01",
	} {
		if got, err := NormalizeMAC(in); err == nil {
			t.Errorf("NormalizeMAC(%q) = %q, want an error", in, got)
		}
	}
	for in, msg := range map[string]string{
		"00:00:00:00:00:00": "all zeros",
		"01:00:5e:00:00:01": "multicast",
		"ff:ff:ff:ff:ff:ff": "multicast",
		"03:00:00:00:00:01": "multicast",
		"3c:fd:fe:00:00":    "six hex bytes",
	} {
		if _, err := ParseUnicastMAC(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseUnicastMAC(%q) = %v, want an error saying %q", in, err, msg)
		}
	}
	if hw, err := ParseUnicastMAC("02:00:00:AB:CD:EF"); err != nil || hw.String() != "02:00:00:ab:cd:ef" {
		t.Errorf("ParseUnicastMAC of a local unicast MAC = %v, %v", hw, err)
	}
}
