package kernel

// TEMPORARY: replaced by the real implementation (VLANs, bridges, IPv6
// sysctls, LRO, rename) before this lands.

import (
	"context"
	"errors"
)

var errStub = errors.New("not implemented yet")

func (k *Netlink) CreateVLAN(ctx context.Context, c VLANConfig) (Undo, error) { return nil, errStub }
func (k *Netlink) CreateBridge(ctx context.Context, c BridgeConfig) (Undo, error) {
	return nil, errStub
}
func (k *Netlink) ChangeBridge(ctx context.Context, c BridgeConfig) (Undo, error) {
	return nil, errStub
}
func (k *Netlink) SetBridgePort(ctx context.Context, name string, p BridgePort) (Undo, error) {
	return nil, errStub
}
func (k *Netlink) IPv6(ctx context.Context, name string) (IPv6Config, error) {
	return IPv6Config{}, errStub
}
func (k *Netlink) SetIPv6(ctx context.Context, name string, c IPv6Config) (Undo, error) {
	return nil, errStub
}
func (k *Netlink) LRO(ctx context.Context, name string) (bool, error) { return false, errStub }
func (k *Netlink) SetLRO(ctx context.Context, name string, on bool) (Undo, error) {
	return nil, errStub
}
func (k *Netlink) Rename(ctx context.Context, name, newName string) (Undo, error) {
	return nil, errStub
}
