package detect

import (
	"log/slog"
	"math"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// Options tune Probe.
type Options struct {
	// IncludeVirtual also lists veth interfaces, so that tests can probe a
	// network namespace built from veth pairs. By default only physical
	// NICs (a bus device, no link kind) are listed.
	IncludeVirtual bool

	// Logger receives one debug line per decision (a inventory.NIC skipped, a source
	// that was unavailable). Nil discards.
	Logger *slog.Logger

	// sysfsRoot replaces "/sys" in tests.
	sysfsRoot string
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (o Options) root() string {
	if o.sysfsRoot != "" {
		return o.sysfsRoot
	}
	return "/sys"
}

// normalizeSpeed turns a speed in Mb/s as the kernel reports it into the
// inventory's form: the kernel's "unknown" markers (SPEED_UNKNOWN is -1 as an
// int, which ethtool netlink hands out as 0xffffffff; some drivers say 0xffff
// or 0; nothing real is faster than 2^31 Mb/s) all become 0.
func normalizeSpeed(mbps int64) int {
	if mbps <= 0 || mbps == math.MaxUint16 || mbps > math.MaxInt32 {
		return 0
	}
	return int(mbps)
}

// normalizeDuplex maps the kernel's DUPLEX_* values (0 half, 1 full, 0xff
// unknown) to the inventory's strings.
func normalizeDuplex(d int) string {
	switch d {
	case 0:
		return inventory.DuplexHalf
	case 1:
		return inventory.DuplexFull
	}
	return inventory.DuplexUnknown
}
