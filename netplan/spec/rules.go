package spec

import (
	"fmt"
	"strings"
)

// Problem is one parameter the kernel would refuse, by the YAML key it is
// about.
type Problem struct {
	Key string
	Msg string
}

// Settings is a bond's parameters: at most one Setting per Param, in the
// order of Params.
type Settings []Setting

// Get returns the setting of the parameter with key.
func (ss Settings) Get(key string) (Setting, bool) {
	for _, s := range ss {
		if s.Param.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Int returns the numeric value of the setting with key, or def when there is
// none.
func (ss Settings) Int(key string, def int64) int64 {
	if s, ok := ss.Get(key); ok {
		return s.N
	}
	return def
}

// Set puts s in place of the setting of its parameter, keeping Params order.
func (ss Settings) Set(s Setting) Settings {
	out := make(Settings, 0, len(ss)+1)
	done := false
	for _, p := range Params {
		if p == s.Param {
			out = append(out, s)
			done = true
			continue
		}
		if have, ok := ss.Get(p.Key); ok {
			out = append(out, have)
		}
	}
	if !done {
		out = append(out, s) // a parameter outside Params: keep it, last
	}
	return out
}

// Check reports every parameter of a bond in mode that the kernel would
// refuse, alone or together with the others (bond_options.c,
// bond_changelink). It checks what the values mean together; each value was
// checked alone when it was parsed.
func (ss Settings) Check(mode string) []Problem {
	var out []Problem
	add := func(key, format string, args ...any) {
		out = append(out, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, s := range ss {
		if p := s.Param; !p.AcceptedIn(mode) {
			add(p.Key, "is not supported in mode %s: the kernel accepts it only in %s", mode, strings.Join(p.Modes, ", "))
		}
	}
	mii, miiSet := ss.Get("mii-monitor-interval")
	arp := ss.Int("arp-interval", 0)
	if arp > 0 && miiSet && mii.N > 0 {
		add("arp-interval", "and mii-monitor-interval are both set: the kernel runs one link monitor and refuses both together; keep one")
	}
	if arp > 0 {
		// An empty list is no target either.
		v4, _ := ss.Get("arp-ip-targets")
		v6, _ := ss.Get("ns-ip6-targets")
		if len(v4.Addrs) == 0 && len(v6.Addrs) == 0 {
			add("arp-interval", "needs arp-ip-targets (or ns-ip6-targets): without targets the ARP monitor sees every link down")
		}
	}
	if v, ok := ss.Get("arp-validate"); ok && v.N != 0 && miiSet && mii.N > 0 {
		add("arp-validate", "is %s, which the kernel refuses together with mii-monitor-interval: validation belongs to the ARP monitor (arp-interval)", v)
	}
	miimon := EffectiveMIIMon(mode, ss)
	for _, s := range ss {
		if s.Param.NeedsMII && miimon > 0 && s.N%miimon != 0 {
			add(s.Param.Key, "is %s, not a multiple of the MII monitor interval %s: the kernel would keep %s; write that",
				s, FormatMillis(miimon), Effective(s, miimon))
		}
		if !s.Param.NeedsMII || miimon > 0 {
			continue
		}
		switch {
		case arp > 0:
			add(s.Param.Key, "needs the MII monitor, which arp-interval turns off: the kernel refuses it")
		case miiSet:
			add(s.Param.Key, "needs the MII monitor, which mii-monitor-interval 0 turns off: the kernel refuses it")
		default:
			add(s.Param.Key, "needs the MII monitor, which is off by default in mode %s: set mii-monitor-interval", mode)
		}
	}
	return out
}

// DefaultMIIMon is the MII monitor interval, in milliseconds, that the kernel
// forces on a bond in 802.3ad, balance-tlb or balance-alb made without one.
const DefaultMIIMon = 100

// EffectiveMIIMon is the MII monitor interval a bond in mode made with ss
// runs: the configured one, else the mode's default; 0 with the ARP monitor.
func EffectiveMIIMon(mode string, ss Settings) int64 {
	if ss.Int("arp-interval", 0) > 0 {
		return 0
	}
	if s, ok := ss.Get("mii-monitor-interval"); ok {
		return s.N
	}
	return DefaultIn(ss.param("mii-monitor-interval"), mode)
}

// param returns the parameter with key (which must exist).
func (Settings) param(key string) *Param {
	p, ok := Lookup(key)
	if !ok {
		panic("spec: no parameter " + key)
	}
	return p
}

// Effective returns what the kernel keeps of s on a bond whose MII monitor
// runs every miimon ms: the delays that need the MII monitor are whole
// multiples of it, rounded down.
func Effective(s Setting, miimon int64) Setting {
	if s.Param != nil && s.Param.NeedsMII && miimon > 0 {
		s.N = s.N / miimon * miimon
	}
	return s
}
