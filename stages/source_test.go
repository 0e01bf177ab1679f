package stages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/detect/kernel/fake"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/cmdline"
)

// sourceYAML is the config the test servers hand out.
const sourceYAML = `network:
  version: 2
  ethernets:
    pxe: {match: {bootif: true}}
    other: {match: {driver: virtio_net}}
  bonds:
    bond0: {interfaces: [pxe, other], parameters: {mode: active-backup, primary: pxe}, dhcp4: true}
`

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sourceMachine is two NICs on a segment with a DHCP server, a third on
// one without, all down, as at early boot.
func sourceMachine(t *testing.T) *fake.Kernel {
	t.Helper()
	nic := func(name, mac, segment string) fake.NIC {
		return fake.NIC{NIC: inventory.NIC{Name: name, MAC: mac, PermanentMAC: mac, VendorID: "1af4", DeviceID: "1000",
			Driver: "virtio_net", SpeedMbps: 10000, Duplex: "full", MTU: 1500}, Segment: segment}
	}
	k, err := fake.New(fake.Machine{
		NICs: []fake.NIC{nic("eth0", "52:54:00:12:34:01", "dark"), nic("eth1", "52:54:00:12:34:02", "lan"),
			nic("eth2", "52:54:00:12:34:03", "lan")},
		Segments: []fake.Segment{{Name: "dark"}, {Name: "lan", DHCP: &fake.DHCPServer{
			Prefix: netip.MustParsePrefix("192.0.2.1/24"), Router: netip.MustParseAddr("192.0.2.1"),
			DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// configServer serves sourceYAML on the host's loopback; answers, when
// given, are the statuses of the first requests. The URL names a host on
// the model's network; dial takes every connection to the server.
type configServer struct {
	*httptest.Server
	url      string
	requests atomic.Int32
	dial     func(context.Context, *net.Dialer, string, string) (net.Conn, error)
}

func newConfigServer(t *testing.T, body string, answers ...int) *configServer {
	cs := &configServer{url: "http://192.0.2.80:8080/fleet/bondstrap.yaml"}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(cs.requests.Add(1))
		if r.URL.Path != "/fleet/bondstrap.yaml" {
			http.NotFound(w, r)
			return
		}
		if n <= len(answers) && answers[n-1] != http.StatusOK {
			w.WriteHeader(answers[n-1])
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(cs.Close)
	cs.dial = func(ctx context.Context, _ *net.Dialer, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, cs.Listener.Addr().String())
	}
	return cs
}

// logBuffer is a logger whose lines a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func bootFrom(t *testing.T, line string) *cmdline.Boot {
	t.Helper()
	b, err := cmdline.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeSourceOptions are options for a fetch over the model, whose
// connections dial makes.
func fakeSourceOptions(k *fake.Kernel, dial func(context.Context, *net.Dialer, string, string) (net.Conn, error), log *logBuffer) SourceOptions {
	return SourceOptions{Logger: log.logger(), Inventory: k.Inventory, DHCP: fakeDHCP{k}, dial: dial,
		LinkTimeout: 2 * time.Second, DHCPTimeout: 5 * time.Second}
}

// asFound checks that the model is as it was before.
func asFound(t *testing.T, k *fake.Kernel, before []string) {
	t.Helper()
	if after := k.State(); !slices.Equal(after, before) {
		t.Errorf("the machine is not as found:\nbefore %q\nafter  %q", before, after)
	}
}

// A URL with the right SHA-256: the config, fetched over a lease on the
// first NIC that gets one, and every NIC as found afterwards.
func TestLoadSourceURL(t *testing.T) {
	k := sourceMachine(t)
	before := k.State()
	cs := newConfigServer(t, sourceYAML)
	var log logBuffer
	b := bootFrom(t, "BOOTIF=01-52-54-00-12-34-02 bondstrap.config="+cs.url+" bondstrap.config-sha256="+sha(sourceYAML)+
		" bond=bond9:eth7 ip=bond9:dhcp")
	cfg, err := LoadSource(context.Background(), k, b, fakeSourceOptions(k, cs.dial, &log))
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if cfg.File != cs.url || cfg.BondNames()[0] != "bond0" {
		t.Errorf("config %s with bonds %v", cfg.File, cfg.BondNames())
	}
	// BOOTIF reaches the config's bootif rule.
	inv, _ := k.Inventory(context.Background())
	if ok, why := cfg.MatchesID("pxe", inv.Interfaces[1]); !ok {
		t.Errorf("bootif does not match eth1: %s", why)
	}
	asFound(t, k, before)
	tr := strings.Join(k.Transcript(), "\n")
	for _, want := range []string{"link set eth1 up", "route replace default via 192.0.2.1 dev eth1", "link set eth1 down"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	// BOOTIF names eth1: the others are not touched.
	if strings.Contains(tr, "eth0") || strings.Contains(tr, "eth2") {
		t.Errorf("the temporary network touched another NIC than BOOTIF's:\n%s", tr)
	}
	for _, want := range []string{"dracut's network options on the kernel command line are ignored",
		"ignored=\"bond=bond9:eth7 ip=bond9:dhcp\"", "sha256=" + sha(sourceYAML), "temporary network torn down"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// Without BOOTIF every NIC is brought up; one without a DHCP server is
// passed over for the next with link.
func TestLoadSourceURLTriesTheNICsInTurn(t *testing.T) {
	k := sourceMachine(t)
	before := k.State()
	cs := newConfigServer(t, sourceYAML)
	var log logBuffer
	b := bootFrom(t, "bondstrap.config="+cs.url)
	if _, err := LoadSource(context.Background(), k, b, fakeSourceOptions(k, cs.dial, &log)); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	asFound(t, k, before)
	tr := strings.Join(k.Transcript(), "\n")
	for _, want := range []string{"link set eth0 up", "link set eth1 up", "link set eth2 up",
		"dev eth1", "link set eth0 down", "link set eth2 down"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	if strings.Contains(tr, "dev eth2") {
		t.Errorf("eth2 got addressing though eth1 fetched the config:\n%s", tr)
	}
	if !strings.Contains(log.String(), "plain http without bondstrap.config-sha256=") {
		t.Errorf("no warning about an unpinned http config:\n%s", log.String())
	}
}

// A wrong SHA-256: ErrConfigDigest, and nothing changed.
func TestLoadSourceURLWrongDigest(t *testing.T) {
	k := sourceMachine(t)
	before := k.State()
	cs := newConfigServer(t, sourceYAML)
	var log logBuffer
	b := bootFrom(t, "BOOTIF=01-52-54-00-12-34-02 bondstrap.config="+cs.url+" bondstrap.config-sha256="+sha("another config"))
	_, err := LoadSource(context.Background(), k, b, fakeSourceOptions(k, cs.dial, &log))
	if !errors.Is(err, ErrConfigDigest) {
		t.Fatalf("error %v, want ErrConfigDigest", err)
	}
	if !strings.Contains(err.Error(), "its SHA-256 is "+sha(sourceYAML)) {
		t.Errorf("error %v does not say the SHA-256 it got", err)
	}
	asFound(t, k, before)
	if cs.requests.Load() != 1 {
		t.Errorf("%d requests: a mismatch is not tried again", cs.requests.Load())
	}
}

// The server's answers: a temporary failure is tried again, a final one
// is not, and every way ends with the machine as found.
func TestLoadSourceURLAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		answers  []int
		requests int32
		err      string
	}{
		{"503 then the config", sourceYAML, []int{503}, 2, ""},
		{"404", sourceYAML, []int{404}, 1, "the server answered 404 Not Found"},
		{"too large", strings.Repeat("#", MaxConfigSize+1), nil, 1, "larger than 4194304 bytes"},
		{"not a config", "network: [", nil, 1, "invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := sourceMachine(t)
			before := k.State()
			cs := newConfigServer(t, tc.body, tc.answers...)
			var log logBuffer
			b := bootFrom(t, "BOOTIF=01-52-54-00-12-34-02 bondstrap.config="+cs.url)
			_, err := LoadSource(context.Background(), k, b, fakeSourceOptions(k, cs.dial, &log))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("%v\n%s", err, log.String())
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if got := cs.requests.Load(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			var list netplan.ErrorList
			if tc.name == "not a config" && (!errors.As(err, &list) || list[0].File != cs.url) {
				t.Errorf("a bad config is not an ErrorList naming the URL: %#v", err)
			}
			asFound(t, k, before)
		})
	}
}

// A server that is not there, or never answers: a bounded number of tries
// on each NIC with a lease, or the deadline, then an error; the machine as
// found either way.
func TestLoadSourceURLUnreachable(t *testing.T) {
	refused := func(ctx context.Context, _ *net.Dialer, _, _ string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	silent := func(ctx context.Context, _ *net.Dialer, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	for _, tc := range []struct {
		name     string
		dial     func(context.Context, *net.Dialer, string, string) (net.Conn, error)
		attempts int
		timeout  time.Duration
		err      string
		// dials, when not 0: eth1 and eth2 get leases, eth0 has no
		// DHCP server.
		dials int32
		took  time.Duration
	}{
		{"refused", refused, 2, 0, "connection refused", 4, 10 * time.Second},
		{"silent", silent, 0, 2 * time.Second, "deadline", 0, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := sourceMachine(t)
			before := k.State()
			var log logBuffer
			var dials atomic.Int32
			opts := fakeSourceOptions(k, func(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
				dials.Add(1)
				return tc.dial(ctx, d, network, address)
			}, &log)
			opts.Attempts, opts.Timeout = tc.attempts, tc.timeout
			start := time.Now()
			_, err := LoadSource(context.Background(), k, bootFrom(t, "bondstrap.config=http://192.0.2.80/b.yaml"), opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if got := dials.Load(); tc.dials != 0 && got != tc.dials {
				t.Errorf("%d dials, want %d\n%s", got, tc.dials, log.String())
			}
			if d := time.Since(start); d > tc.took {
				t.Errorf("took %s, want at most %s", d, tc.took)
			}
			asFound(t, k, before)
		})
	}
}

// A network that reaches the server is used as it is: nothing changes.
func TestLoadSourceURLDirect(t *testing.T) {
	k, err := fake.New(fake.Machine{
		NICs: []fake.NIC{{NIC: inventory.NIC{Name: "eth0", MAC: "52:54:00:12:34:01", PermanentMAC: "52:54:00:12:34:01",
			Driver: "virtio_net", SpeedMbps: 10000, MTU: 1500}, Segment: "lan"}},
		Segments: []fake.Segment{{Name: "lan"}},
		Up:       []string{"eth0"},
		Addrs:    []fake.Addr{{Link: "eth0", Prefix: netip.MustParsePrefix("192.0.2.10/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := newConfigServer(t, sourceYAML)
	var log logBuffer
	if _, err := LoadSource(context.Background(), k, bootFrom(t, "bondstrap.config="+cs.url), fakeSourceOptions(k, cs.dial, &log)); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if tr := k.Transcript(); len(tr) > 0 {
		t.Errorf("a fetch over a working network changed %q", tr)
	}
	if !strings.Contains(log.String(), "fetching directly") || !strings.Contains(log.String(), "route=\"192.0.2.0/24 dev eth0\"") {
		t.Errorf("log:\n%s", log.String())
	}
	// No kernel (validate, plan, render): the network as it is.
	if _, err := LoadSource(context.Background(), nil, bootFrom(t, "bondstrap.config="+cs.url), fakeSourceOptions(k, cs.dial, &log)); err != nil {
		t.Fatal(err)
	}
}

func TestReaches(t *testing.T) {
	routes := []fakeRoute{
		{"eth0", "192.0.2.0/24", ""}, {"eth1", "2001:db8::/64", ""}, {"eth2", "198.51.100.0/24", "table"},
	}
	for _, tc := range []struct {
		routes []fakeRoute
		host   string
		want   string
	}{
		{routes, "192.0.2.80", "192.0.2.0/24 dev eth0"},
		{routes, "2001:db8::80", "2001:db8::/64 dev eth1"},
		{routes, "198.51.100.80", ""},
		{routes, "config.example", ""},
		{routes, "127.0.0.1", "loopback"},
		{append(routes, fakeRoute{"eth3", "0.0.0.0/0", "192.0.2.1"}), "config.example", "default via 192.0.2.1 dev eth3"},
		{append(routes, fakeRoute{"eth3", "0.0.0.0/0", "192.0.2.1"}), "2001:db8:1::80", ""},
	} {
		if got := reaches(kernelRoutes(tc.routes), tc.host); got != tc.want {
			t.Errorf("reaches(%s) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

// fakeRoute is a route for TestReaches: link, destination, and a gateway
// (or "table" for a route in another table).
type fakeRoute struct{ link, dst, gw string }

func kernelRoutes(rs []fakeRoute) []kernel.Route {
	var out []kernel.Route
	for _, r := range rs {
		kr := kernel.Route{Link: r.link, Dst: netip.MustParsePrefix(r.dst), Table: 254}
		if r.gw == "table" {
			kr.Table = 100
		} else if r.gw != "" {
			kr.Gw = netip.MustParseAddr(r.gw)
		}
		out = append(out, kr)
	}
	return out
}

// Precedence and the file source.
func TestLoadSourcePrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bondstrap.yaml")
	if err := os.WriteFile(path, []byte(sourceYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	load := func(line string) (*netplan.Config, string, error) {
		var log logBuffer
		cfg, err := LoadSource(ctx, nil, bootFrom(t, line), SourceOptions{Logger: log.logger()})
		return cfg, log.String(), err
	}

	// A file wins over dracut's options, which are ignored with a warning.
	cfg, log, err := load("bondstrap.config=" + path + " bond=bond7:eth0 BOOTIF=01-52-54-00-12-34-02")
	if err != nil || cfg.File != path || cfg.BondNames()[0] != "bond0" {
		t.Fatalf("file: %v %v", cfg, err)
	}
	if !strings.Contains(log, "dracut's network options on the kernel command line are ignored") {
		t.Errorf("no warning:\n%s", log)
	}
	if ok, _ := cfg.MatchesID("pxe", inventory.NIC{Name: "eth1", PermanentMAC: "52:54:00:12:34:02"}); !ok {
		t.Error("the file's bootif rule does not see BOOTIF")
	}

	// A file with its SHA-256, right and wrong.
	if _, _, err := load("bondstrap.config=" + path + " bondstrap.config-sha256=" + sha(sourceYAML)); err != nil {
		t.Errorf("right digest: %v", err)
	}
	if _, _, err := load("bondstrap.config=" + path + " bondstrap.config-sha256=" + sha("x")); !errors.Is(err, ErrConfigDigest) {
		t.Errorf("wrong digest: %v", err)
	}
	var list netplan.ErrorList
	if _, _, err := load("bondstrap.config=" + filepath.Join(dir, "missing.yaml") + " bondstrap.config-sha256=" + sha("x")); !errors.As(err, &list) ||
		!strings.Contains(err.Error(), "cannot read the config") {
		t.Errorf("missing file: %v", err)
	}

	// dracut's options alone are the config, checked as a file is.
	if _, _, err := load("bond=bond7:eth0,eth1 ip=bond7:dhcp ip=bond7:dhcp6"); !errors.As(err, &list) ||
		list[0].Path != "ip=bond7:dhcp6" {
		t.Errorf("two ip= for one bond: %v", err)
	}
	cfg, log, err = load("bond=bond7:eth0,eth1:mode=active-backup ip=::::host:bond7:dhcp")
	if err != nil || cfg.File != cmdline.File || cfg.BondNames()[0] != "bond7" {
		t.Fatalf("dracut: %v %v", cfg, err)
	}
	if !strings.Contains(log, "the hostname host is not set") || !strings.Contains(log, "the config comes from dracut's network options") {
		t.Errorf("log:\n%s", log)
	}

	// A pin without a config to pin.
	if _, _, err := load("bond=bond7:eth0 bondstrap.config-sha256=" + sha("x")); !errors.As(err, &list) ||
		!strings.Contains(err.Error(), "there is no bondstrap.config=") {
		t.Errorf("pin without a config: %v", err)
	}
	// Nothing at all.
	if _, _, err := load("root=/dev/sda1 quiet"); !errors.Is(err, ErrNoSource) {
		t.Errorf("nothing: %v", err)
	}
}
