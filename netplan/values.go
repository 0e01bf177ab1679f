package netplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The kernel's bonding modes by their canonical names, as the bonding driver
// and systemd-networkd spell them.
const (
	ModeBalanceRR    BondMode = "balance-rr"
	ModeActiveBackup BondMode = "active-backup"
	ModeBalanceXOR   BondMode = "balance-xor"
	ModeBroadcast    BondMode = "broadcast"
	Mode8023AD       BondMode = "802.3ad"
	ModeBalanceTLB   BondMode = "balance-tlb"
	ModeBalanceALB   BondMode = "balance-alb"
)

// bondModes lists the modes in the order of the kernel's numbers 0–6.
var bondModes = [...]BondMode{
	ModeBalanceRR, ModeActiveBackup, ModeBalanceXOR, ModeBroadcast,
	Mode8023AD, ModeBalanceTLB, ModeBalanceALB,
}

// ParseBondMode returns the canonical mode for a name or a kernel number
// ("0"–"6"). It is case-sensitive, as netplan and the kernel are.
func ParseBondMode(s string) (BondMode, error) {
	for i, m := range bondModes {
		if s == string(m) || s == strconv.Itoa(i) {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown bond mode %q: expected one of %s, or a number 0-6", s, modeNames())
}

func modeNames() string {
	names := make([]string, len(bondModes))
	for i, m := range bondModes {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// Number returns the kernel's number for the mode (0 for balance-rr, 4 for
// 802.3ad, ...). The empty mode is the kernel default, balance-rr (0); a
// mode that is not valid returns -1 (Parse never leaves one).
func (m BondMode) Number() int {
	if m == "" {
		return 0
	}
	for i, known := range bondModes {
		if m == known {
			return i
		}
	}
	return -1
}

// String returns the canonical name; the empty mode reads as balance-rr.
func (m BondMode) String() string {
	if m == "" {
		return string(ModeBalanceRR)
	}
	return string(m)
}

// UnmarshalJSON accepts a mode name or the kernel's number, as a JSON number
// or a string, and stores the canonical name.
func (m *BondMode) UnmarshalJSON(data []byte) error {
	s, err := scalarText(data)
	if err != nil {
		return err
	}
	mode, err := ParseBondMode(s)
	if err != nil {
		return err
	}
	*m = mode
	return nil
}

// errDurationSyntax is wrapped by every Duration parse error.
var errDurationSyntax = errors.New("expected a number of milliseconds or a time with a unit, such as 100ms, 2s, 1m30s")

// durationUnits are the suffixes accepted in a Duration string, as
// systemd-networkd's time spans spell them (longest first, so "ms" is not read
// as "m" followed by "s").
var durationUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"msec", time.Millisecond}, {"ms", time.Millisecond},
	{"usec", time.Microsecond}, {"us", time.Microsecond},
	{"seconds", time.Second}, {"second", time.Second}, {"sec", time.Second}, {"s", time.Second},
	{"minutes", time.Minute}, {"minute", time.Minute}, {"min", time.Minute}, {"m", time.Minute},
	{"hours", time.Hour}, {"hour", time.Hour}, {"hr", time.Hour}, {"h", time.Hour},
}

// ParseDuration reads a time span the way netplan passes it to
// systemd-networkd: a bare number is in bareUnit (milliseconds for the bonding
// monitor intervals and delays, seconds for learn-packet-interval); otherwise
// one or more numbers each followed by a unit (us, ms, s, m/min, h), as in
// "100ms", "2s" or "1m 30s". The result must be a whole number of
// milliseconds, the resolution of the bonding driver; bareUnit must be too.
func ParseDuration(s string, bareUnit time.Duration) (Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Duration{}, fmt.Errorf("empty time: %w", errDurationSyntax)
	}
	if n, err := strconv.ParseInt(in, 10, 64); err == nil {
		return durationOf(s, n, bareUnit)
	}
	var total time.Duration
	for rest := in; rest != ""; rest = strings.TrimLeft(rest, " ") {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return Duration{}, fmt.Errorf("%q: %w", s, errDurationSyntax)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return Duration{}, fmt.Errorf("%q: %w", s, errDurationSyntax)
		}
		rest = strings.TrimLeft(rest[i:], " ")
		var unit time.Duration
		for _, u := range durationUnits {
			if strings.HasPrefix(rest, u.suffix) {
				unit = u.unit
				rest = rest[len(u.suffix):]
				break
			}
		}
		if unit == 0 || (rest != "" && rest[0] != ' ' && (rest[0] < '0' || rest[0] > '9')) {
			return Duration{}, fmt.Errorf("%q: %w", s, errDurationSyntax)
		}
		part := num * float64(unit)
		if part > math.MaxInt64/2 || float64(total)+part > math.MaxInt64/2 {
			return Duration{}, fmt.Errorf("%q is too long", s)
		}
		total += time.Duration(part)
	}
	if total%time.Millisecond != 0 {
		return Duration{}, fmt.Errorf("%q is not a whole number of milliseconds", s)
	}
	return Duration{Milliseconds: int64(total / time.Millisecond)}, nil
}

func durationOf(s string, n int64, unit time.Duration) (Duration, error) {
	if unit < time.Millisecond || unit%time.Millisecond != 0 {
		return Duration{}, fmt.Errorf("internal error: bare unit %v is not whole milliseconds", unit)
	}
	if n < 0 {
		return Duration{}, fmt.Errorf("%q is negative", s)
	}
	ms := int64(unit / time.Millisecond)
	if n > math.MaxInt64/ms/int64(time.Millisecond) {
		return Duration{}, fmt.Errorf("%q is too long", s)
	}
	return Duration{Milliseconds: n * ms}, nil
}

// UnmarshalJSON accepts a JSON number of milliseconds or a string as
// ParseDuration reads it (a bare number in a string is milliseconds too).
func (d *Duration) UnmarshalJSON(data []byte) error {
	s, err := scalarText(data)
	if err != nil {
		return err
	}
	v, err := ParseDuration(s, time.Millisecond)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the duration as String does, which UnmarshalJSON reads
// back to the same value.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// String returns the duration in milliseconds with its unit, such as "100ms",
// a form the bonding driver's sysfs files and systemd-networkd both read.
func (d Duration) String() string {
	return strconv.FormatInt(d.Milliseconds, 10) + "ms"
}

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration {
	return time.Duration(d.Milliseconds) * time.Millisecond
}

// Seconds returns d in whole seconds, rounded down: the unit of the bonding
// driver's lp_interval (learn-packet-interval).
func (d Duration) Seconds() int64 {
	return d.Milliseconds / 1000
}

// UnmarshalJSON accepts a single string or a list of strings.
func (l *StringList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("expected a string or a list of strings: %w", err)
	}
	*l = list
	return nil
}

// scalarText is a JSON string's contents, or a JSON number's text: the values
// that may be written either way in YAML (mode: 1, mode: "1").
func scalarText(data []byte) (string, error) {
	if len(data) > 0 && data[0] == '"' {
		var s string
		err := json.Unmarshal(data, &s)
		return s, err
	}
	return string(data), nil
}
