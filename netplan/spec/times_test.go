package spec

import (
	"errors"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bare time.Duration
		want int64
	}{
		{"100", time.Millisecond, 100},
		{"0", time.Millisecond, 0},
		{" 100 ", time.Millisecond, 100},
		{"5", time.Second, 5000},
		{"0", time.Second, 0},
		{"100ms", time.Millisecond, 100},
		{"100ms", time.Second, 100}, // a unit overrides the bare unit
		{"2s", time.Millisecond, 2000},
		{"1.5s", time.Millisecond, 1500},
		{"1m30s", time.Millisecond, 90000},
		{"1min 30s", time.Millisecond, 90000},
		{"1m 30s", time.Millisecond, 90000},
		{"2 s", time.Millisecond, 2000},
		{"1h", time.Millisecond, 3600000},
		{"2hours", time.Millisecond, 7200000},
		{"3 minutes", time.Millisecond, 180000},
		{"1sec", time.Millisecond, 1000},
		{"500msec", time.Millisecond, 500},
		{"1000us", time.Millisecond, 1},
		{"2000usec", time.Millisecond, 2},
		{"9223372036854", time.Millisecond, 9223372036854}, // the largest bare number of ms
	} {
		got, err := ParseTime(tc.in, tc.bare)
		if err != nil || got != tc.want {
			t.Errorf("ParseTime(%q, %v) = %d, %v; want %d", tc.in, tc.bare, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		bare time.Duration
	}{
		{"", time.Millisecond},
		{" ", time.Millisecond},
		{"-1", time.Millisecond},
		{"-1s", time.Millisecond},
		{"ms", time.Millisecond},
		{"10x", time.Millisecond},
		{"10 ms x", time.Millisecond},
		{"1.5", time.Millisecond}, // a fraction needs a unit
		{"1.2.3s", time.Millisecond},
		{"100us", time.Millisecond}, // not whole milliseconds
		{"0.5ms", time.Millisecond}, // not whole milliseconds
		{"1e3s", time.Millisecond},  // no exponents
		{"1s2", time.Millisecond},   // a number without its unit
		{"10d", time.Millisecond},   // no days
		{"5S", time.Millisecond},    // units are lower case
		{"0x10", time.Millisecond},  // no hex
		{"+5", time.Millisecond},    // no sign
		{"1_000", time.Millisecond}, // no separators
		{"9223372036855", time.Millisecond},
		{"9223372036855", time.Second},
		{"9999999999999999999h", time.Millisecond},
		{"2562048h", time.Millisecond}, // overflows a time.Duration
	} {
		if got, err := ParseTime(tc.in, tc.bare); err == nil {
			t.Errorf("ParseTime(%q, %v) = %d, want an error", tc.in, tc.bare, got)
		}
	}
	if _, err := ParseTime("10x", time.Millisecond); !errors.Is(err, errTimeSyntax) {
		t.Errorf("a syntax error does not wrap errTimeSyntax: %v", err)
	}
}

func TestFormatMillisAndTimeSpan(t *testing.T) {
	for _, tc := range []struct {
		ms            int64
		yaml, systemd string
	}{
		{0, "0", "0"},
		{1, "1ms", "1ms"},
		{100, "100ms", "100ms"},
		{1000, "1000ms", "1s"},
		{1500, "1500ms", "1500ms"},
		{90000, "90000ms", "90s"},
	} {
		if got := FormatMillis(tc.ms); got != tc.yaml {
			t.Errorf("FormatMillis(%d) = %q, want %q", tc.ms, got, tc.yaml)
		}
		if got := TimeSpan(tc.ms); got != tc.systemd {
			t.Errorf("TimeSpan(%d) = %q, want %q", tc.ms, got, tc.systemd)
		}
		// Both read back as the same time, the YAML form with a bare unit of
		// ms and the systemd form with one of seconds, as networkd reads it.
		if got, err := ParseTime(FormatMillis(tc.ms), time.Millisecond); err != nil || got != tc.ms {
			t.Errorf("ParseTime(FormatMillis(%d)) = %d, %v", tc.ms, got, err)
		}
		if got, err := ParseTime(TimeSpan(tc.ms), time.Second); err != nil || got != tc.ms {
			t.Errorf("ParseTime(TimeSpan(%d), s) = %d, %v", tc.ms, got, err)
		}
	}
}
