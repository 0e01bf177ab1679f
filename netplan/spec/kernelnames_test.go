package spec

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestByKernel(t *testing.T) {
	for _, p := range Params {
		if got, ok := ByKernel(p.Kernel); !ok || got != p {
			t.Errorf("ByKernel(%q) = %v, %t; want %s", p.Kernel, got, ok, p.Key)
		}
		if _, unsupported := KernelUnsupported[p.Kernel]; unsupported {
			t.Errorf("%s: kernel option %s is both a parameter and unsupported", p.Key, p.Kernel)
		}
	}
	if p, ok := ByKernel("num_unsol_na"); !ok || p.Key != "gratuitous-arp" {
		t.Errorf("ByKernel(num_unsol_na) = %v, %t; want gratuitous-arp", p, ok)
	}
	for _, name := range []string{KernelMode, KernelPrimary, "active_slave", "miimon ", "MIIMON", ""} {
		if p, ok := ByKernel(name); ok {
			t.Errorf("ByKernel(%q) = %s, want none", name, p.Key)
		}
	}
	names := KernelNames()
	if names[0] != KernelMode || names[1] != KernelPrimary || len(names) != len(Params)+2 {
		t.Errorf("KernelNames() = %v", names)
	}
}

func TestKernelValue(t *testing.T) {
	for _, tc := range []struct {
		kernel, text string
		want         any
		err          string
	}{
		{"lacp_rate", "fast", "fast", ""},
		{"lacp_rate", "1", "fast", ""},
		{"lacp_rate", "0", "slow", ""},
		{"lacp_rate", "2", nil, "no value of lacp_rate has that number"},
		{"lacp_rate", "quick", nil, `is "quick": expected one of slow, fast, or the kernel's number`},
		{"xmit_hash_policy", "layer3+4", "layer3+4", ""},
		{"xmit_hash_policy", "1", "layer3+4", ""},
		{"miimon", "100", json.Number("100"), ""},
		{"miimon", "0100", json.Number("100"), ""},
		{"miimon", "99999999999999999999", nil, "expected a time"},
		{"miimon", "100ms", nil, "the kernel takes a whole number of milliseconds"},
		{"miimon", "-1", nil, "whole number"},
		{"miimon", "", nil, "whole number"},
		{"miimon", "3000000000", nil, "expected 0-2147483647ms"},
		{"lp_interval", "5", json.Number("5"), ""},
		{"lp_interval", "0", nil, "1-2147483647 s"},
		{"num_grat_arp", "3", json.Number("3"), ""},
		{"num_unsol_na", "300", nil, "0-255"},
		{"use_carrier", "0", false, ""},
		{"use_carrier", "on", true, ""},
		{"use_carrier", "yes", nil, "expected 0 or 1"},
		{"all_slaves_active", "1", true, ""},
		{"arp_ip_target", "192.0.2.1", []any{"192.0.2.1"}, ""},
		{"arp_ip_target", "192.0.2.1,192.0.2.2", []any{"192.0.2.1", "192.0.2.2"}, ""},
		{"arp_ip_target", "192.0.2.1,224.0.0.1", nil, "[1]: \"224.0.0.1\""},
		{"arp_ip_target", "192.0.2.1,,192.0.2.2", nil, "[1]: \"\" is not an IP address"},
		{"ad_actor_system", "02:00:00:00:00:01", "02:00:00:00:00:01", ""},
		{"ad_actor_system", "01:00:00:00:00:01", nil, "multicast"},
	} {
		p, ok := ByKernel(tc.kernel)
		if !ok {
			t.Fatalf("no parameter %s", tc.kernel)
		}
		got, err := p.KernelValue(tc.text)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s=%s: error %v, want one containing %q", tc.kernel, tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s=%s: %#v, %v; want %#v", tc.kernel, tc.text, got, err, tc.want)
		}
	}
}

// What the kernel reports in sysfs reads back to the same setting: the
// default of every parameter and every value of every enum, as names and
// as numbers.
func TestKernelValueReadsSysfs(t *testing.T) {
	for _, p := range Params {
		var settings []Setting
		if p.Default != "" {
			var v any = p.Default
			switch p.Kind {
			case Int:
				v = json.Number(p.Default)
			case Bool:
				v = p.Default == "true"
			}
			s, err := p.Parse(v)
			if err != nil {
				t.Fatalf("%s: default %q: %v", p.Key, p.Default, err)
			}
			settings = append(settings, s)
		}
		for _, val := range p.Values {
			settings = append(settings, Setting{Param: p, N: val.Number})
		}
		for _, s := range settings {
			texts := s.Sysfs()
			if p.Kind == Enum {
				texts = append(texts, strconv.FormatInt(s.N, 10))
			}
			for _, text := range texts {
				v, err := p.KernelValue(text)
				if err != nil {
					t.Errorf("%s: sysfs %q: %v", p.Kernel, text, err)
					continue
				}
				back, err := p.Parse(v)
				if err != nil || !back.Equal(s) {
					t.Errorf("%s: sysfs %q reads back as %v (%v), want %v", p.Kernel, text, back, err, s)
				}
			}
		}
	}
}
