package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/mdlayher/ethtool"
)

// ethtoolClient is an ethtool netlink client that closes when ctx is done,
// which unblocks a request in flight.
type ethtoolClient struct {
	*ethtool.Client
	stop func() bool
}

// newEthtool opens the ethtool generic netlink family in the calling
// thread's network namespace. It returns (nil, nil) when the kernel has no
// ethtool netlink (errors matching os.ErrNotExist): callers go on without
// speed and duplex.
func newEthtool(ctx context.Context, log *slog.Logger) (*ethtoolClient, error) {
	c, err := ethtool.New()
	if errors.Is(err, os.ErrNotExist) {
		log.Debug("no ethtool netlink in this kernel; speed, duplex and port unknown", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ethtool netlink: %w", err)
	}
	return &ethtoolClient{Client: c, stop: context.AfterFunc(ctx, func() { c.Close() })}, nil
}

func (c *ethtoolClient) close() {
	if c != nil && c.stop() {
		c.Client.Close()
	}
}

// ethtoolAll fetches one kind of ethtool data for the interfaces in ifis,
// keyed by ifindex: one dump for all, or, if the dump fails (one odd device
// can fail a whole dump on some kernels), one request per interface.
// Interfaces ethtool does not support (os.ErrNotExist) are left out.
func ethtoolAll[T any](ctx context.Context, log *slog.Logger, what string,
	dump func() ([]*T, error), one func(ethtool.Interface) (*T, error),
	index func(*T) int, ifis []ethtool.Interface) (map[int]*T, error) {

	out := make(map[int]*T, len(ifis))
	all, err := dump()
	if err == nil {
		for _, v := range all {
			out[index(v)] = v
		}
		return out, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("ethtool %s: %w", what, cerr)
	}
	log.Debug("ethtool dump failed; asking per interface", "what", what, "err", err)
	for _, ifi := range ifis {
		v, err := one(ifi)
		switch {
		case errors.Is(err, os.ErrNotExist):
			log.Debug("ethtool: not supported by interface", "what", what, "nic", ifi.Name, "err", err)
			continue
		case err != nil:
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			}
			return nil, fmt.Errorf("ethtool %s of %s: %w", what, ifi.Name, err)
		}
		out[ifi.Index] = v
	}
	return out, nil
}

// linkModes returns speed and duplex per ifindex; nil c means no ethtool.
func (c *ethtoolClient) linkModes(ctx context.Context, log *slog.Logger, ifis []ethtool.Interface) (map[int]*ethtool.LinkMode, error) {
	if c == nil || len(ifis) == 0 {
		return nil, nil
	}
	return ethtoolAll(ctx, log, "link modes", c.LinkModes, c.LinkMode,
		func(m *ethtool.LinkMode) int { return m.Interface.Index }, ifis)
}

// linkInfos returns the port type per ifindex; nil c means no ethtool.
func (c *ethtoolClient) linkInfos(ctx context.Context, log *slog.Logger, ifis []ethtool.Interface) (map[int]*ethtool.LinkInfo, error) {
	if c == nil || len(ifis) == 0 {
		return nil, nil
	}
	return ethtoolAll(ctx, log, "link info", c.LinkInfos, c.LinkInfo,
		func(m *ethtool.LinkInfo) int { return m.Interface.Index }, ifis)
}

// portName names an ethtool port type as ethtool(8) does, in lowercase.
func portName(p ethtool.Port) string {
	switch p {
	case ethtool.TwistedPair:
		return "tp"
	case ethtool.AUI:
		return "aui"
	case ethtool.MII:
		return "mii"
	case ethtool.Fibre:
		return "fibre"
	case ethtool.BNC:
		return "bnc"
	case ethtool.DirectAttach:
		return "da"
	case ethtool.None:
		return "none"
	}
	return "other"
}
