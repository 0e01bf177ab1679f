package stages

import (
	"context"
	"errors"
	"sync"

	uiorand "github.com/u-root/uio/rand"
	"golang.org/x/sys/unix"
)

// The DHCP library draws each transaction ID from u-root's random reader,
// which waits up to two minutes for the kernel's random pool to be seeded.
// Early in boot on a machine without a hardware entropy source (seen: a QEMU
// guest under TCG) the pool is not seeded yet, and DHCP would stall the boot
// for those two minutes, past any dhcp-timeout. A transaction ID only pairs a
// reply with its request (RFC 2131 asks for a random one, not a secret one),
// so bondstrap takes the kernel's bytes without waiting: GRND_INSECURE gives
// the unseeded pool's output on Linux 5.6 and later. Older kernels keep the
// waiting reader, bounded by the caller's context.
var earlyRandomOnce sync.Once

// useEarlyRandom installs earlyRandom as the DHCP library's random source.
func useEarlyRandom() {
	earlyRandomOnce.Do(func() {
		uiorand.Reader = &earlyRandom{fallback: uiorand.Reader}
	})
}

type earlyRandom struct {
	fallback uiorand.ContextReader
}

func (r *earlyRandom) Read(b []byte) (int, error) {
	return r.ReadContext(context.Background(), b)
}

// ReadContext fills b from the seeded pool when it is ready, else from the
// unseeded one.
func (r *earlyRandom) ReadContext(ctx context.Context, b []byte) (int, error) {
	read := 0
	for read < len(b) {
		n, err := unix.Getrandom(b[read:], unix.GRND_NONBLOCK)
		if errors.Is(err, unix.EAGAIN) {
			n, err = unix.Getrandom(b[read:], unix.GRND_INSECURE)
		}
		if errors.Is(err, unix.EINVAL) { // no GRND_INSECURE before Linux 5.6
			m, err := r.fallback.ReadContext(ctx, b[read:])
			return read + m, err
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return read, err
		}
		read += n
	}
	return read, nil
}
