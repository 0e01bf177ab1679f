package fake

// TEMPORARY: replaced by the real implementation (VLANs, bridges, IPv6
// sysctls, LRO, rename) before this lands.

import (
	"context"
	"errors"

	"github.com/bondstrap/bondstrap/detect/kernel"
)

var errStub = errors.New("not implemented yet")

func (k *Kernel) CreateVLAN(ctx context.Context, c kernel.VLANConfig) (kernel.Undo, error) {
	return nil, errStub
}
func (k *Kernel) CreateBridge(ctx context.Context, c kernel.BridgeConfig) (kernel.Undo, error) {
	return nil, errStub
}
func (k *Kernel) ChangeBridge(ctx context.Context, c kernel.BridgeConfig) (kernel.Undo, error) {
	return nil, errStub
}
func (k *Kernel) SetBridgePort(ctx context.Context, name string, p kernel.BridgePort) (kernel.Undo, error) {
	return nil, errStub
}
func (k *Kernel) IPv6(ctx context.Context, name string) (kernel.IPv6Config, error) {
	return kernel.IPv6Config{}, errStub
}
func (k *Kernel) SetIPv6(ctx context.Context, name string, c kernel.IPv6Config) (kernel.Undo, error) {
	return nil, errStub
}
func (k *Kernel) LRO(ctx context.Context, name string) (bool, error) { return false, errStub }
func (k *Kernel) SetLRO(ctx context.Context, name string, on bool) (kernel.Undo, error) {
	return nil, errStub
}
func (k *Kernel) Rename(ctx context.Context, name, newName string) (kernel.Undo, error) {
	return nil, errStub
}
