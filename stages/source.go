package stages

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/cmdline"
)

// ErrConfigDigest is matched (errors.Is) by the error of a config whose
// SHA-256 is not the one bondstrap.config-sha256= pins. It is found before
// the config is parsed, let alone applied: nothing was changed, and the
// CLI exits 2, as for any config error.
var ErrConfigDigest = errors.New("the config's SHA-256 is not bondstrap.config-sha256=")

// ErrNoSource is matched by LoadSource's error when there is no config at
// all: no file, no bondstrap.config=, no dracut network options.
var ErrNoSource = errors.New("no config: give a config file, bondstrap.config= or dracut's bond= on the kernel command line")

// Limits of a fetch.
const (
	// MaxConfigSize bounds a config read from a URL or checked against
	// bondstrap.config-sha256= (as inventories are bounded).
	MaxConfigSize = 4 << 20
	// DefaultFetchAttempts is how many times a fetch is tried over one
	// NIC before the next is tried.
	DefaultFetchAttempts = 5
	// fetchAttemptTimeout bounds one HTTP request, body included.
	fetchAttemptTimeout = 30 * time.Second
	// fetchFirstBackoff is the pause after the first failed try; it
	// doubles after each.
	fetchFirstBackoff = time.Second
)

// SourceOptions configure LoadSource. The zero value is usable: every
// empty field takes the default its comment names.
type SourceOptions struct {
	// Logger receives the decisions and, for a temporary network, its
	// numbered operations; nil discards them.
	Logger *slog.Logger
	// Inventory lists the NICs a temporary network may use; nil calls
	// detect.Probe.
	Inventory func(context.Context) (inventory.Inventory, error)
	// DHCP gets the temporary network's lease; nil uses the DHCP client on
	// a raw socket, as apply does.
	DHCP DHCPClient
	// LinkTimeout bounds the wait for the NICs' links
	// (netplan.DefaultLinkTimeout); DHCPTimeout bounds DHCP, shared by the
	// NICs tried (netplan.DefaultDHCPTimeout).
	LinkTimeout, DHCPTimeout time.Duration
	// Timeout bounds the whole load when ctx has no deadline
	// (netplan.DefaultDeadline).
	Timeout time.Duration
	// Attempts is how many times the fetch is tried over one NIC
	// (DefaultFetchAttempts); the pause between tries starts at 1s and
	// doubles.
	Attempts int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// dial, when set, makes the connections (tests: in another network
	// namespace than the goroutine that asks).
	dial func(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error)
}

// LoadSource reads the config a boot gives, by precedence:
//
//  1. b.Config, a path or an http(s) URL (the CLI puts -c FILE there);
//     dracut's network options, if any, are then ignored, with a warning;
//  2. else dracut's network options (b.NetworkConfig);
//  3. else there is none: an error matching ErrNoSource.
//
// A path is read as netplan.Load reads it. A URL is fetched: over the
// network as it is when the kernel k has a route to the server (or k is
// nil: validate, plan and render change nothing); else over a temporary
// DHCPv4 network on the PXE boot NIC (BOOTIF=), or on the NICs with link
// in turn, which is torn down (the journal's undos, then the links'
// snapshot) before LoadSource returns, whatever happened: the NICs are as
// found. Each NIC gets bounded tries within the deadline (ctx's, else
// opts.Timeout); a body above MaxConfigSize, or an HTTP status other than
// a timeout, 429 or 5xx, ends the fetch.
//
// With bondstrap.config-sha256=, the file or the body is checked before
// it is parsed: a mismatch is an error matching ErrConfigDigest. Config
// errors are a netplan.ErrorList, as Load's. The config gets b.BootIF for
// its bootif: true rules.
func LoadSource(ctx context.Context, k kernel.Kernel, b *cmdline.Boot, opts SourceOptions) (*netplan.Config, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultFetchAttempts
	}
	log := opts.Logger
	if b == nil {
		b = &cmdline.Boot{}
	}
	var cfg *netplan.Config
	var err error
	switch {
	case b.Config != "":
		if b.HasNetwork() {
			log.Warn("the config comes from "+redact(b.Config)+": dracut's network options on the kernel command line are ignored",
				"ignored", strings.Join(b.NetworkOptions(), " "))
		}
		cfg, err = loadSourceConfig(ctx, k, b, opts)
	case b.HasNetwork():
		if b.ConfigSHA256 != "" {
			return nil, netplan.ErrorList{{File: cmdline.File, Path: cmdline.KeyConfigSHA256 + "=" + b.ConfigSHA256,
				Msg: "pins a config, but there is no bondstrap.config=: the config comes from dracut's network options"}}
		}
		var warnings []string
		cfg, warnings, err = b.NetworkConfig()
		for _, w := range warnings {
			log.Warn(w)
		}
		if err == nil {
			log.Info("the config comes from dracut's network options on the kernel command line",
				"options", strings.Join(b.NetworkOptions(), " "))
		}
	default:
		return nil, ErrNoSource
	}
	if err != nil {
		return nil, err
	}
	cfg.SetBootIF(b.BootIF)
	return cfg, nil
}

// loadSourceConfig reads the config at a path or a URL, checked against the
// pinned SHA-256.
func loadSourceConfig(ctx context.Context, k kernel.Kernel, b *cmdline.Boot, opts SourceOptions) (*netplan.Config, error) {
	if !cmdline.IsURL(b.Config) {
		if b.ConfigSHA256 == "" {
			return netplan.Load(b.Config)
		}
		data, err := readConfigFile(b.Config)
		if err != nil {
			return nil, err
		}
		if err := checkDigest(b.Config, data, b.ConfigSHA256); err != nil {
			return nil, err
		}
		return netplan.Parse(b.Config, data)
	}
	u, err := url.Parse(b.Config)
	if err != nil {
		return nil, netplan.ErrorList{{File: cmdline.File, Path: cmdline.KeyConfig + "=" + b.Config, Msg: err.Error()}}
	}
	if _, ok := ctx.Deadline(); !ok {
		timeout := opts.Timeout
		if timeout <= 0 {
			timeout = netplan.DefaultDeadline
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	f := &fetcher{url: u, boot: b, opts: opts, log: opts.Logger}
	data, err := f.fetch(ctx, k)
	if err != nil {
		return nil, err
	}
	sum := sha256Sum(data)
	f.log.Info("config fetched", "url", f.url.Redacted(), "bytes", len(data), "sha256", hex.EncodeToString(sum[:]))
	switch {
	case b.ConfigSHA256 != "":
		if err := checkDigest(f.url.Redacted(), data, b.ConfigSHA256); err != nil {
			return nil, err
		}
	case u.Scheme == "http":
		f.log.Warn("the config came over plain http without bondstrap.config-sha256=: nothing vouches for it")
	}
	return netplan.Parse(f.url.Redacted(), data)
}

// readConfigFile reads a config file for its digest, bounded; errors are an
// ErrorList naming the file, as Load's.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, netplan.ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the config: %v", err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	switch {
	case err != nil:
		return nil, netplan.ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the config: %v", err)}}
	case len(data) > MaxConfigSize:
		return nil, netplan.ErrorList{{File: path, Msg: fmt.Sprintf("the config is larger than %d bytes", MaxConfigSize)}}
	}
	return data, nil
}

// checkDigest compares data's SHA-256 with the pinned one.
func checkDigest(name string, data []byte, want string) error {
	sum := sha256Sum(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%s: its SHA-256 is %s, bondstrap.config-sha256= is %s: %w", name, got, want, ErrConfigDigest)
	}
	return nil
}

// redact hides a URL's password for the logs.
func redact(config string) string {
	if u, err := url.Parse(config); err == nil && cmdline.IsURL(config) {
		return u.Redacted()
	}
	return config
}

// fetcher gets one URL.
type fetcher struct {
	url  *url.URL
	boot *cmdline.Boot
	opts SourceOptions
	log  *slog.Logger
}

// fetchError is a try that failed; final says another try cannot help
// (the server answered, and not with a temporary failure).
type fetchError struct {
	err   error
	final bool
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// fetch gets the body: directly when the network reaches the server, else
// over a temporary network.
func (f *fetcher) fetch(ctx context.Context, k kernel.Kernel) ([]byte, error) {
	if k == nil {
		f.log.Info("fetching the config over the network as it is", "url", f.url.Redacted())
		return f.tries(ctx, f.client("", nil), f.log, nil)
	}
	routes, err := k.Routes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	if via := reaches(routes, f.url.Hostname()); via != "" {
		f.log.Info("the network reaches the config's server: fetching directly", "url", f.url.Redacted(), "route", via)
		return f.tries(ctx, f.client("", nil), f.log, nil)
	}
	return f.overTemporaryNetwork(ctx, k)
}

// reaches says which route takes packets to host ("" when none does): a
// default route, or for an address a route to it. Loopback is always
// reached.
func reaches(routes []kernel.Route, host string) string {
	addr, err := netip.ParseAddr(host)
	isAddr := err == nil
	if isAddr && addr.IsLoopback() || host == "localhost" {
		return "loopback"
	}
	for _, r := range routes {
		if r.Table != 0 && r.Table != kernel.TableMain {
			continue
		}
		if r.Dst.Bits() == 0 && (!isAddr || r.Dst.Addr().Is4() == addr.Unmap().Is4()) {
			return fmt.Sprintf("default via %v dev %s", r.Gw, r.Link)
		}
		if isAddr && r.Dst.Contains(addr.Unmap()) {
			return fmt.Sprintf("%s dev %s", r.Dst, r.Link)
		}
	}
	return ""
}

// overTemporaryNetwork brings the boot NIC (or every NIC) up, and on each
// with link in turn takes a DHCPv4 lease and tries the fetch; whatever
// happens, it puts every NIC back as found before it returns.
func (f *fetcher) overTemporaryNetwork(ctx context.Context, k kernel.Kernel) (body []byte, err error) {
	deadline, _ := ctx.Deadline()
	left := time.Until(deadline)
	if left <= 0 || ctx.Err() != nil {
		return nil, fmt.Errorf("fetch %s: no time left for a temporary network: %w", f.url.Redacted(), context.DeadlineExceeded)
	}
	o := &netplan.Options{Deadline: left.String()}
	if f.opts.LinkTimeout > 0 {
		o.LinkTimeout = f.opts.LinkTimeout.String()
	}
	if f.opts.DHCPTimeout > 0 {
		o.DHCPTimeout = f.opts.DHCPTimeout.String()
	}
	s, err := newState(&netplan.Config{File: f.url.Redacted(), Bondstrap: o}, Options{
		Kernel: k, Logger: f.log, DHCP: f.opts.DHCP, Inventory: f.opts.Inventory, Now: f.opts.Now,
	})
	if err != nil {
		return nil, err
	}
	defer s.close()
	s.log = s.base.With("stage", "source")
	s.note("no route to the config's server: fetching it over a temporary DHCPv4 network", "url", f.url.Redacted())
	defer func() {
		// The NICs go back as found, even when ctx is done.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
		defer cancel()
		if terr := teardownStage(tctx, s); terr != nil {
			body, err = nil, errors.Join(err, fmt.Errorf("tearing the temporary network down: %w", terr))
		} else {
			s.note("temporary network torn down: the NICs are as found")
		}
	}()

	names, err := f.nics(ctx, s)
	if err != nil {
		return nil, err
	}
	anyLink := func(up map[string]bool) bool { return slices.ContainsFunc(names, func(n string) bool { return up[n] }) }
	up, err := s.bringUpAndWait(ctx, names, "to fetch the config", anyLink)
	if err != nil {
		return nil, err
	}
	var withLink []string
	for _, n := range names {
		if up[n] {
			withLink = append(withLink, n)
		}
	}
	if len(withLink) == 0 {
		return nil, fmt.Errorf("fetch %s: none of %s has link", f.url.Redacted(), strings.Join(names, ", "))
	}
	dhcpDeadline := s.until(s.cfg.DHCPTimeout())
	var errs []error
	for i, name := range withLink {
		share := time.Until(dhcpDeadline) / time.Duration(len(withLink)-i)
		if share <= 0 || ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: no time left for it", name))
			break
		}
		body, err := f.overNIC(ctx, s, name, share)
		if err == nil {
			return body, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
		var fe *fetchError
		if errors.As(err, &fe) && fe.final {
			break
		}
	}
	return nil, fmt.Errorf("fetch %s: %w", f.url.Redacted(), errors.Join(errs...))
}

// nics are the NICs the temporary network may use: the boot NIC when
// BOOTIF= names one that is here, else every NIC that no bond or bridge
// holds, by name.
func (f *fetcher) nics(ctx context.Context, s *state) ([]string, error) {
	inv, err := s.opts.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("probe NICs: %w", err)
	}
	var names []string
	for _, nic := range inv.Interfaces {
		if b := f.boot.BootIF; b != nil && strings.EqualFold(nic.HardwareMAC(), b.String()) {
			s.note("BOOTIF names the NIC the machine booted from: fetching over it", "nic", nic.Name, "mac", b.String())
			return []string{nic.Name}, nil
		}
		if nic.Master == "" {
			names = append(names, nic.Name)
		}
	}
	slices.Sort(names)
	if f.boot.BootIF != nil {
		s.warn("no NIC has the BOOTIF= MAC: trying every NIC with link", "bootif", f.boot.BootIF.String())
	}
	if len(names) == 0 {
		return nil, errors.New("no NIC to fetch the config over")
	}
	return names, nil
}

// overNIC takes a lease on one NIC within share, and fetches over it; the
// lease's address and routes are undone when the fetch fails, so the next
// NIC starts clean.
func (f *fetcher) overNIC(ctx context.Context, s *state, name string, share time.Duration) ([]byte, error) {
	mark := len(s.journal)
	dctx, cancel := context.WithTimeout(ctx, share)
	ar, err := s.configureInterface(dctx, name, netplan.Addressing{DHCP4: new(true)})
	cancel()
	if err == nil {
		var dns []netip.Addr
		if ar.Lease != nil {
			for _, d := range ar.Lease.DNS {
				if a, err := netip.ParseAddr(d); err == nil {
					dns = append(dns, a)
				}
			}
		}
		var body []byte
		body, err = f.tries(ctx, f.client(name, dns), s.log, s)
		if err == nil {
			return body, nil
		}
	}
	if uerr := s.undoSince(ctx, mark); uerr != nil {
		err = errors.Join(err, uerr)
	}
	return nil, err
}

// undoSince undoes, now, the journal's steps after the first mark ones,
// last first, and drops them.
func (s *state) undoSince(ctx context.Context, mark int) error {
	var errs []error
	for i := len(s.journal) - 1; i >= mark; i-- {
		u := s.journal[i]
		if err := s.op("undo: "+u.desc, func() error { return u.fn(ctx) }); err != nil {
			errs = append(errs, err)
		}
	}
	s.journal = s.journal[:mark]
	return errors.Join(errs...)
}

// tries fetches with up to opts.Attempts tries, pausing 1s, 2s, 4s, ...
// between them, within ctx; each try is an operation of s when there is
// one.
func (f *fetcher) tries(ctx context.Context, c *httpClient, log *slog.Logger, s *state) ([]byte, error) {
	pause := fetchFirstBackoff
	var last error
	for try := 1; try <= f.opts.Attempts; try++ {
		var body []byte
		get := func() error {
			var err error
			body, err = f.get(ctx, c)
			return err
		}
		desc := fmt.Sprintf("fetching %s (try %d of %d)", f.url.Redacted(), try, f.opts.Attempts)
		var err error
		if s != nil {
			err = s.op(desc, get)
		} else {
			log.Info(desc)
			err = get()
		}
		if err == nil {
			return body, nil
		}
		last = err
		var fe *fetchError
		if errors.As(err, &fe) && fe.final || ctx.Err() != nil || try == f.opts.Attempts {
			break
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < pause {
			break
		}
		log.Info("fetch failed; trying again", "error", err, "after", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		pause *= 2
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w (the deadline has passed)", last)
	}
	return nil, last
}

// get is one try: a GET within fetchAttemptTimeout, a 2xx answer, a body
// of at most MaxConfigSize bytes. A client error (4xx) or a body too large
// is final; a server error, a timeout or a refused connection is tried
// again.
func (f *fetcher) get(ctx context.Context, c *httpClient) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchAttemptTimeout)
	defer cancel()
	body, err := httpRequest(ctx, c.dial, "GET", f.url.String(), "", nil, MaxConfigSize)
	var he *HTTPError
	switch {
	case errors.As(err, &he):
		temporary := he.Status >= 500 || he.Status == 408 || he.Status == 429
		return nil, &fetchError{err: fmt.Errorf("the server answered %d %s", he.Status, he.Reason), final: !temporary}
	case errors.Is(err, errBodyTooLarge):
		return nil, &fetchError{err: fmt.Errorf("the config is larger than %d bytes: %w", MaxConfigSize, err), final: true}
	case err != nil:
		return nil, &fetchError{err: err}
	}
	return body, nil
}

// httpClient dials the connections of a fetch.
type httpClient struct {
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// client is an HTTP client whose connections go out of ifname (none: as
// the routes say) and that resolves names with dns (none: the system's
// resolver).
func (f *fetcher) client(ifname string, dns []netip.Addr) *httpClient {
	d := &net.Dialer{Timeout: fetchAttemptTimeout}
	if ifname != "" {
		// Out of this NIC whatever other routes say: the lease is for it.
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	dial := d.DialContext
	if f.opts.dial != nil {
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			return f.opts.dial(ctx, d, network, address)
		}
	}
	if len(dns) > 0 {
		// The lease's DNS servers, not /etc/resolv.conf: the temporary
		// network writes no resolver file.
		servers := dns
		d.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var errs []error
			for _, a := range servers {
				c, err := dial(ctx, network, net.JoinHostPort(a.String(), "53"))
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		}}
	}
	return &httpClient{dial: dial}
}
