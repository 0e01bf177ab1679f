package spec

import (
	"encoding/json"
	"strings"
	"testing"
)

// param returns the parameter with key, or fails the test.
func param(t testing.TB, key string) *Param {
	t.Helper()
	p, ok := Lookup(key)
	if !ok {
		t.Fatalf("no parameter %q", key)
	}
	return p
}

// yamlValue is text as a YAML document decoded through JSON gives it to
// Param.Parse for p: a json.Number for an Int, a bool for a Bool, a list for
// an address list (comma-separated), else the string.
func yamlValue(p *Param, text string) any {
	switch p.Kind {
	case Int:
		return json.Number(text)
	case Bool:
		return text == "true"
	case IPv4List, IPv6List:
		list := []any{} // "" is the empty list
		if text == "" {
			return list
		}
		for _, a := range strings.Split(text, ",") {
			list = append(list, a)
		}
		return list
	}
	return text
}

// mustParse parses text (as yamlValue reads it) as a value of key.
func mustParse(t testing.TB, key, text string) Setting {
	t.Helper()
	p := param(t, key)
	s, err := p.Parse(yamlValue(p, text))
	if err != nil {
		t.Fatalf("%s: Parse(%q): %v", key, text, err)
	}
	return s
}

// kv is one parameter of a settings literal: key and text as yamlValue reads
// it.
type kv struct{ key, text string }

// settings builds Settings from kvs, failing the test on any value Parse
// refuses.
func settings(t testing.TB, kvs ...kv) Settings {
	t.Helper()
	var ss Settings
	for _, x := range kvs {
		ss = ss.Set(mustParse(t, x.key, x.text))
	}
	return ss
}

// samples holds a valid, non-default value of every parameter, as yamlValue
// reads it, and a mode the kernel accepts it in. TestSamplesCoverParams
// makes sure a new parameter gets one.
var samples = map[string]struct{ text, mode string }{
	"lacp-rate":                {"fast", LACP},
	"mii-monitor-interval":     {"250ms", ActiveBackup},
	"min-links":                {"3", LACP},
	"transmit-hash-policy":     {"vlan+srcmac", BalanceXOR},
	"ad-select":                {"count", LACP},
	"all-members-active":       {"true", ActiveBackup},
	"arp-interval":             {"2s", ActiveBackup},
	"arp-ip-targets":           {"192.0.2.1,198.51.100.7", ActiveBackup},
	"arp-validate":             {"filter_backup", ActiveBackup},
	"arp-all-targets":          {"all", ActiveBackup},
	"up-delay":                 {"300", LACP},
	"down-delay":               {"1s", LACP},
	"fail-over-mac-policy":     {"follow", ActiveBackup},
	"gratuitous-arp":           {"255", ActiveBackup},
	"packets-per-member":       {"65535", BalanceRR},
	"primary-reselect-policy":  {"failure", ActiveBackup},
	"resend-igmp":              {"7", ActiveBackup},
	"learn-packet-interval":    {"2147483647", BalanceTLB},
	"peer-notify-delay":        {"300000", LACP},
	"arp-missed-max":           {"255", BalanceXOR},
	"ns-ip6-targets":           {"2001:db8::1,fe80::1", ActiveBackup},
	"ad-actor-system-priority": {"1", LACP},
	"ad-user-port-key":         {"1023", LACP},
	"ad-actor-system":          {"02:00:00:00:00:42", LACP},
	"tlb-dynamic-lb":           {"false", BalanceTLB},
	"lacp-active":              {"false", LACP},
	"use-carrier":              {"false", BalanceRR},
}

func TestSamplesCoverParams(t *testing.T) {
	for _, p := range Params {
		s, ok := samples[p.Key]
		if !ok {
			t.Errorf("%s has no sample value: add one to samples", p.Key)
			continue
		}
		if !p.AcceptedIn(s.mode) {
			t.Errorf("%s: the sample's mode %s is not one the kernel accepts it in", p.Key, s.mode)
		}
	}
	if len(samples) != len(Params) {
		t.Errorf("%d samples for %d parameters: a sample names no parameter", len(samples), len(Params))
	}
}
