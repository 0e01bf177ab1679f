package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan/cmdline"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/stages"
	"github.com/bondstrap/bondstrap/units"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// errHelp ends a subcommand after -h printed its flags.
var errHelp = errors.New("help requested")

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps an error to the exit status: 2 when the config, an inventory
// file or the command line is wrong, 3 for a degraded apply, else 1.
func exitCode(err error) int {
	var ue *usageError
	var cfgErr netplan.ErrorList
	var invErr *inventory.InventoryError
	switch {
	case errors.As(err, &ue) || errors.As(err, &cfgErr) || errors.As(err, &invErr) ||
		errors.Is(err, stages.ErrConfigDigest) || errors.Is(err, stages.ErrNoSource):
		return exitUsage
	case errors.Is(err, stages.ErrDegraded):
		return exitDegraded
	}
	return exitFailed
}

// flags is the flag set of one subcommand with the flags they share.
type flags struct {
	*flag.FlagSet
	config, inventory, root, output string
	// cmdline is --cmdline: a kernel command line read instead of
	// /proc/cmdline; cmdlineSet says it was given (an empty one too).
	cmdline    string
	cmdlineSet bool
}

func newFlags(e *env, name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("bondstrap "+name, flag.ContinueOnError)}
	f.SetOutput(e.stderr)
	return f
}

func (f *flags) withConfig() *flags {
	f.StringVar(&f.config, "c", "", "config `FILE` (netplan v2 YAML); default: bondstrap.config= (a path or an http:// URL), "+
		"else dracut's bond=, vlan=, bridge=, ip= and nameserver=, on the kernel command line")
	f.StringVar(&f.config, "config", "", "same as -c")
	f.StringVar(&f.cmdline, "cmdline", "", "read this kernel command `LINE` instead of /proc/cmdline (image builds, tests)")
	return f
}

// boot is the kernel command line bondstrap reads: --cmdline, or
// /proc/cmdline (unreadable: empty). -c wins over its config source.
func (f *flags) boot(e *env) (*cmdline.Boot, error) {
	line := f.cmdline
	if !f.cmdlineSet {
		if data, err := os.ReadFile(procCmdline); err == nil {
			line = string(data)
		}
	}
	b, err := cmdline.Parse(line)
	if err != nil {
		return nil, err
	}
	for _, w := range b.Warnings {
		e.log.Warn("kernel command line: " + w)
	}
	if f.config != "" {
		// -c names the config; a digest on the kernel command line is for
		// the kernel's own source.
		b.Config, b.ConfigSHA256 = f.config, ""
	}
	return b, nil
}

// loadConfig reads the config from its source (-c, bondstrap.config=, or
// dracut's options). k, when not nil, may make a temporary network to
// fetch a URL (apply); without it a URL is fetched over the network as it
// is.
func loadConfig(ctx context.Context, e *env, f *flags, k kernel.Kernel) (*netplan.Config, *cmdline.Boot, error) {
	b, err := f.boot(e)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := stages.LoadSource(ctx, k, b, stages.SourceOptions{Logger: e.log})
	return cfg, b, err
}

func (f *flags) withOutput() *flags {
	f.StringVar(&f.output, "o", "table", "output format: table or json")
	return f
}

// parse parses args and checks what every subcommand checks: no stray
// arguments, a known output format, and a config path where one is needed.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &usageError{msg: err.Error()}
	}
	if f.NArg() > 0 {
		return usagef("unexpected argument %q", f.Arg(0))
	}
	f.Visit(func(fl *flag.Flag) { f.cmdlineSet = f.cmdlineSet || fl.Name == "cmdline" })
	if f.Lookup("o") != nil && f.output != "table" && f.output != "json" {
		return usagef("-o %q: expected table or json", f.output)
	}
	return nil
}

func runDetect(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "detect").withOutput()
	virtual := false
	f.BoolVar(&virtual, "include-virtual", false, "list veth pairs too, as NICs (a namespace of veths in tests and benchmarks)")
	if err := f.parse(args); err != nil {
		return err
	}
	inv, err := detect.Probe(ctx, detect.Options{Logger: e.log, IncludeVirtual: virtual})
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(e.stdout, inv)
	}
	return printInventory(e.stdout, inv)
}

func runValidate(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "validate").withConfig()
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(ctx, e, f, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: valid: %d ethernets id(s), %d bond(s): %s", cfg.File,
		len(cfg.Network.Ethernets), len(cfg.Network.Bonds), strings.Join(cfg.BondNames(), ", "))
	if n := len(cfg.Network.VLANs); n > 0 {
		fmt.Fprintf(e.stdout, "; %d VLAN(s)", n)
	}
	if n := len(cfg.Network.Bridges); n > 0 {
		fmt.Fprintf(e.stdout, "; %d bridge(s)", n)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// loadPlan reads the config and an inventory (a file, or the live machine)
// and selects the members.
func loadPlan(ctx context.Context, e *env, f *flags) (*netplan.Config, *netplan.Plan, error) {
	cfg, _, err := loadConfig(ctx, e, f, nil)
	if err != nil {
		return nil, nil, err
	}
	var inv inventory.Inventory
	if f.inventory != "" {
		inv, err = inventory.LoadFile(f.inventory)
	} else {
		inv, err = detect.Probe(ctx, detect.Options{Logger: e.log})
	}
	if err != nil {
		return nil, nil, err
	}
	plan, err := netplan.Select(cfg, inv)
	return cfg, plan, err
}

func runPlan(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "plan").withConfig().withOutput()
	var invs inventoryList
	f.Var(&invs, "inventory", "inventory `FILE` (as detect -o json prints it), or a directory of them; "+
		"repeat it, or give a directory, to check the config against every hardware model; default: this machine")
	if err := f.parse(args); err != nil {
		return err
	}
	if invs.fleet() {
		cfg, _, err := loadConfig(ctx, e, f, nil)
		if err != nil {
			return err
		}
		return runLint(ctx, e, cfg, invs, f.output)
	}
	if len(invs) == 1 {
		f.inventory = invs[0]
	}
	_, plan, err := loadPlan(ctx, e, f)
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(e.stdout, plan)
	}
	return printPlan(e.stdout, plan)
}

func runRender(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "render").withConfig()
	f.StringVar(&f.inventory, "inventory", "", "inventory `FILE` (as detect -o json prints it)")
	f.StringVar(&f.root, "root", "", "write units under `DIR`/"+units.Dir)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.inventory == "" || f.root == "" {
		return usagef("--inventory FILE and --root DIR are required")
	}
	cfg, plan, err := loadPlan(ctx, e, f)
	if err != nil {
		return err
	}
	files, err := units.Render(cfg, plan)
	if err != nil {
		return err
	}
	res, err := units.Write(f.root, units.Persistent, files)
	if err != nil {
		return err
	}
	printWriteResult(e.stdout, res)
	return nil
}

func runApply(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "apply").withConfig()
	f.StringVar(&f.root, "root", "/", "write units under `DIR`/"+units.Dir)
	report := ""
	f.StringVar(&report, "report", "/run/bondstrap/report.json", "write the JSON report to `FILE`")
	runtime := false
	f.BoolVar(&runtime, "runtime", false, "write the units to /run/systemd/network and enable systemd-networkd for this boot only (from an initramfs)")
	reportURL := ""
	f.StringVar(&reportURL, "report-url", "", "POST the JSON report to this http:// `URL` too (default: bondstrap.report-url= on the kernel command line)")
	if err := f.parse(args); err != nil {
		return err
	}
	if runtime && f.root != "/" {
		return usagef("--runtime writes under /run of the running system: it takes no --root")
	}
	if reportURL != "" {
		if err := cmdline.CheckURL(reportURL); err != nil {
			return usagef("--report-url %s: %v", reportURL, err)
		}
	}
	// One kernel for the config's source (a temporary network to fetch a
	// URL) and the apply.
	k, err := kernel.Open(e.log)
	if err != nil {
		return err
	}
	defer k.Close()
	cfg, boot, err := loadConfig(ctx, e, f, k)
	if err != nil {
		return err
	}
	opts := stages.Options{Root: f.root, ReportPath: report, ReportURL: cmp.Or(reportURL, boot.ReportURL),
		Logger: e.log, Out: e.stdout, Kernel: k}
	if runtime {
		opts.Layout = units.Runtime
	}
	_, err = stages.Apply(ctx, cfg, opts)
	return err
}

func runDown(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "down").withOutput()
	report := ""
	f.StringVar(&report, "report", stages.DefaultReportPath, "the report of the apply to undo, `FILE`; it is marked torn down")
	removeUnits := false
	f.BoolVar(&removeUnits, "remove-units", false, "remove the units apply wrote too (else they bring the network back on the next boot)")
	f.StringVar(&f.root, "root", "", "the units are under `DIR` (default: where the report says apply wrote them)")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.root != "" && !removeUnits {
		return usagef("--root says where the units to remove are: it needs --remove-units")
	}
	rep, err := stages.ReadReport(report)
	if err != nil {
		return usagef("%v", err)
	}
	opts := stages.DownOptions{Logger: e.log, Out: e.stdout, RemoveUnits: removeUnits, Root: f.root, ReportPath: report}
	if f.output == "json" {
		opts.Out = io.Discard
	}
	// Once started, down runs to its end: a half-undone machine is worse
	// than either.
	dr, err := stages.Down(context.WithoutCancel(ctx), rep, opts)
	if dr != nil && f.output == "json" {
		if werr := writeJSON(e.stdout, dr); werr != nil && err == nil {
			err = werr
		}
	}
	if errors.Is(err, stages.ErrNoDownRecord) || errors.Is(err, stages.ErrOtherBoot) {
		return usagef("%s: %v", report, err)
	}
	return err
}

func runStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "status").withOutput()
	if err := f.parse(args); err != nil {
		return err
	}
	st, err := detect.ReadStatus(ctx)
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(e.stdout, st)
	}
	return printStatus(e.stdout, st)
}

func runVersion(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "version")
	if err := f.parse(args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "bondstrap", buildVersion())
	return nil
}

// buildVersion is the -ldflags version, else the module version or VCS
// revision the Go toolchain stamped into the binary.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
			v = "devel-" + s.Value[:12]
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
