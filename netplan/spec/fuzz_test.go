package spec

import (
	"math"
	"testing"
	"time"
)

// FuzzParseTime: whatever ParseTime accepts is a non-negative number of
// milliseconds that FormatMillis and TimeSpan write back to the same time
// (within the range of the parameters).
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"100", "0", "1.5s", "1m 30s", "500msec", "1000us", "9223372036854", "1e3s", "-1", "2 s"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, seconds bool) {
		bare := time.Millisecond
		if seconds {
			bare = time.Second
		}
		ms, err := ParseTime(s, bare)
		if err != nil {
			return
		}
		if ms < 0 {
			t.Fatalf("ParseTime(%q) = %d", s, ms)
		}
		// Beyond what any parameter takes (learn-packet-interval: MaxInt32
		// seconds), a bare number may be longer than one with a unit.
		if ms > math.MaxInt32*1000 {
			return
		}
		if back, err := ParseTime(FormatMillis(ms), time.Millisecond); err != nil || back != ms {
			t.Fatalf("ParseTime(%q) = %d, FormatMillis %q reads back as %d, %v", s, ms, FormatMillis(ms), back, err)
		}
		if back, err := ParseTime(TimeSpan(ms), time.Second); err != nil || back != ms {
			t.Fatalf("ParseTime(%q) = %d, TimeSpan %q reads back as %d, %v", s, ms, TimeSpan(ms), back, err)
		}
	})
}

// FuzzDecode: Decode never panics on what a kernel (or anything) reports,
// and a decoded value the kernel could have been given encodes back to a
// payload that decodes the same.
func FuzzDecode(f *testing.F) {
	for _, p := range Params {
		f.Add(uint16(p.Attr), mustParse(f, p.Key, samples[p.Key].text).Encode())
	}
	f.Add(uint16(AttrARPIPTarget), []byte{8, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 192, 0, 2, 1})
	f.Fuzz(func(t *testing.T, attr uint16, payload []byte) {
		p, ok := ByAttr(attr)
		if !ok {
			return
		}
		s, err := p.Decode(payload)
		if err != nil || s.Check() != nil {
			return
		}
		_ = s.String()
		back, err := p.Decode(s.Encode())
		if err != nil || !back.Equal(s) {
			t.Fatalf("%s: %x decodes to %v, which encodes to %x, which decodes to %v, %v", p.Key, payload, s, s.Encode(), back, err)
		}
	})
}
