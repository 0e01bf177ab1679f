package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"

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
	case errors.As(err, &ue) || errors.As(err, &cfgErr) || errors.As(err, &invErr):
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
}

func newFlags(e *env, name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("bondstrap "+name, flag.ContinueOnError)}
	f.SetOutput(e.stderr)
	return f
}

func (f *flags) withConfig() *flags {
	f.StringVar(&f.config, "c", "", "config `FILE` (netplan v2 YAML); default: bondstrap.config= on the kernel command line")
	f.StringVar(&f.config, "config", "", "same as -c")
	return f
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
	if f.Lookup("o") != nil && f.output != "table" && f.output != "json" {
		return usagef("-o %q: expected table or json", f.output)
	}
	if f.Lookup("c") != nil && f.config == "" {
		f.config = kernelCmdline().Get("bondstrap.config")
		if f.config == "" {
			return usagef("-c FILE is required")
		}
	}
	return nil
}

func runDetect(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "detect").withOutput()
	if err := f.parse(args); err != nil {
		return err
	}
	inv, err := detect.Probe(ctx, detect.Options{Logger: e.log})
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(e.stdout, inv)
	}
	return printInventory(e.stdout, inv)
}

func runValidate(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "validate").withConfig()
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := netplan.Load(f.config)
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
	cfg, err := netplan.Load(f.config)
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
		cfg, err := netplan.Load(f.config)
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
	if err := f.parse(args); err != nil {
		return err
	}
	if runtime && f.root != "/" {
		return usagef("--runtime writes under /run of the running system: it takes no --root")
	}
	cfg, err := netplan.Load(f.config)
	if err != nil {
		return err
	}
	opts := stages.Options{Root: f.root, ReportPath: report, Logger: e.log, Out: e.stdout}
	if runtime {
		opts.Layout = units.Runtime
	}
	_, err = stages.Apply(ctx, cfg, opts)
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
