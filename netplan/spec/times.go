package spec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// errTimeSyntax is wrapped by every time parse error.
var errTimeSyntax = errors.New("expected a number of milliseconds or a time with a unit, such as 100ms, 2s, 1m30s")

// timeUnits are the suffixes a time may carry, as systemd's time spans spell
// them (longest first, so "ms" is not read as "m" then "s").
var timeUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"msec", time.Millisecond}, {"ms", time.Millisecond},
	{"usec", time.Microsecond}, {"us", time.Microsecond},
	{"seconds", time.Second}, {"second", time.Second}, {"sec", time.Second}, {"s", time.Second},
	{"minutes", time.Minute}, {"minute", time.Minute}, {"min", time.Minute}, {"m", time.Minute},
	{"hours", time.Hour}, {"hour", time.Hour}, {"hr", time.Hour}, {"h", time.Hour},
}

// ParseTime reads a time the way netplan passes it to systemd-networkd and
// returns it in whole milliseconds: a bare number is in bare (milliseconds
// for the bonding monitor intervals and delays, seconds for
// learn-packet-interval); otherwise one or more numbers each followed by a
// unit (us, ms, s, m/min, h), as in "100ms", "2s" or "1m 30s".
func ParseTime(s string, bare time.Duration) (int64, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty time: %w", errTimeSyntax)
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if n, err := strconv.ParseUint(in, 10, 63); err == nil {
		ms := int64(bare / time.Millisecond)
		if ms <= 0 || n > math.MaxInt64/uint64(ms)/uint64(time.Millisecond) {
			return 0, fmt.Errorf("%q is too long", s)
		}
		return int64(n) * ms, nil
	}
	var total time.Duration
	for rest := in; rest != ""; rest = strings.TrimLeft(rest, " ") {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q: %w", s, errTimeSyntax)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, errTimeSyntax)
		}
		rest = strings.TrimLeft(rest[i:], " ")
		var unit time.Duration
		for _, u := range timeUnits {
			if strings.HasPrefix(rest, u.suffix) {
				unit = u.unit
				rest = rest[len(u.suffix):]
				break
			}
		}
		if unit == 0 || (rest != "" && rest[0] != ' ' && (rest[0] < '0' || rest[0] > '9')) {
			return 0, fmt.Errorf("%q: %w", s, errTimeSyntax)
		}
		part := num * float64(unit)
		if part > math.MaxInt64/2 || float64(total)+part > math.MaxInt64/2 {
			return 0, fmt.Errorf("%q is too long", s)
		}
		total += time.Duration(part)
	}
	if total%time.Millisecond != 0 {
		return 0, fmt.Errorf("%q is not a whole number of milliseconds", s)
	}
	return int64(total / time.Millisecond), nil
}

// FormatMillis writes milliseconds as YAML and status show a time: "100ms",
// "0".
func FormatMillis(ms int64) string {
	if ms == 0 {
		return "0"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// TimeSpan writes milliseconds as a systemd time span with an explicit unit:
// a bare number means seconds to networkd's *Sec= keys.
func TimeSpan(ms int64) string {
	switch {
	case ms == 0:
		return "0"
	case ms%1000 == 0:
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}
