package spec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The bonding driver's option names of the two bond settings that are not
// Params: the mode, and the primary port.
const (
	KernelMode    = "mode"
	KernelPrimary = "primary"
)

// kernelAliases are other names the bonding driver takes for a
// parameter's option (bond_options.c: num_unsol_na sets the same peer
// notification count as num_grat_arp).
var kernelAliases = map[string]string{
	"num_unsol_na": "num_grat_arp",
}

// KernelUnsupported are bonding driver options, and bonding module
// parameters that look like them, that no bond setting of bondstrap
// stands for, each with the reason given to the user.
var KernelUnsupported = map[string]string{
	"active_slave": "bondstrap does not choose the active port itself; set primary, which the kernel keeps active while it has link",
	"slaves":       "the ports are not an option: list them in the members",
	"max_bonds":    "it is a parameter of the bonding module, not of a bond",
	"tx_queues":    "it is a parameter of the bonding module, not of a bond",
	"coupled_control": "networkd cannot persist it on Debian 12 (no key, no sysfs file, and iproute2 6.1 cannot set it); " +
		"see coupled-control in docs/config.md",
	"broadcast_neighbor": "it is a sysfs file only, which networkd cannot set and udev cannot write before networkd enslaves the ports; " +
		"see broadcast-neighbor in docs/config.md",
}

// ByKernel returns the parameter whose bonding driver option (sysfs file,
// modinfo bonding, the options of dracut's bond=, ip link's names) is name,
// or one of the other names the driver takes for it. Mode and primary are
// not parameters: see KernelMode and KernelPrimary.
func ByKernel(name string) (*Param, bool) {
	if canonical, ok := kernelAliases[name]; ok {
		name = canonical
	}
	for _, p := range Params {
		if p.Kernel == name {
			return p, true
		}
	}
	return nil, false
}

// KernelNames lists every option name ByKernel takes, mode and primary
// included, in the order of Params.
func KernelNames() []string {
	names := []string{KernelMode, KernelPrimary}
	for _, p := range Params {
		names = append(names, p.Kernel)
	}
	return names
}

// KernelValue reads a value of p as the bonding driver's sysfs file takes
// it and returns it as YAML writes it (what Param.Parse reads): an enum by
// name or by the kernel's number, a whole number for the integers and the
// times (milliseconds, or seconds for lp_interval), 0 or 1 (off or on) for
// a boolean, addresses separated by commas, a MAC. The value is then
// checked as Parse checks it.
func (p *Param) KernelValue(text string) (any, error) {
	var v any
	switch p.Kind {
	case Enum:
		if _, ok := p.value(text); ok {
			v = text
			break
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("is %q: expected %s, or the kernel's number for one", text, p.expected())
		}
		val, ok := p.valueByNumber(n)
		if !ok {
			return nil, fmt.Errorf("is %d: no value of %s has that number; expected %s", n, p.Kernel, p.expected())
		}
		v = val.Name
	case Int, Millis, Seconds:
		if text == "" || strings.TrimLeft(text, "0123456789") != "" {
			unit := ""
			switch p.Kind {
			case Millis:
				unit = " of milliseconds"
			case Seconds:
				unit = " of seconds"
			}
			return nil, fmt.Errorf("is %q: the kernel takes a whole number%s", text, unit)
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("is %s: expected %s", text, p.expected())
		}
		v = json.Number(strconv.FormatInt(n, 10)) // JSON has no leading zeros
	case Bool:
		switch text {
		case "1", "on":
			v = true
		case "0", "off":
			v = false
		default:
			return nil, fmt.Errorf("is %q: expected 0 or 1 (off or on)", text)
		}
	case IPv4List, IPv6List:
		var list []any
		for _, a := range strings.Split(text, ",") {
			list = append(list, a)
		}
		v = list
	case MAC:
		v = text
	default:
		return nil, fmt.Errorf("internal error: parameter %s has no kind", p.Key)
	}
	if _, err := p.Parse(v); err != nil {
		return nil, err
	}
	return v, nil
}
