//go:build !linux

package detect

import (
	"context"
	"errors"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// errUnsupported is returned by Probe and Bonds on platforms other than Linux.
var errUnsupported = errors.New("detect: inventory.NIC detection is only supported on Linux")

// Probe lists the NICs of this machine. It is only implemented on Linux.
func Probe(ctx context.Context, opts Options) (inventory.Inventory, error) {
	return inventory.Inventory{}, errUnsupported
}

// Bonds reads the live bonds of this machine. It is only implemented on Linux.
func Bonds(ctx context.Context) ([]BondStatus, error) {
	return nil, errUnsupported
}
