package spec

import (
	"fmt"
	"strings"
)

// MarkdownParameters is the table of bond parameters docs/config.md shows,
// made from Params: a test keeps the document equal to it.
func MarkdownParameters() string {
	var b strings.Builder
	b.WriteString("| key [kernel option] | values | kernel default | modes | persisted by | meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, p := range Params {
		key := "`" + p.Key + "`"
		if !p.Netplan {
			key += " **(bondstrap)**"
		}
		modes := "all"
		if p.Modes != nil {
			modes = strings.Join(p.Modes, ", ")
		}
		def := p.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| %s [%s] | %s | %s | %s | %s | %s |\n", key, p.Kernel, p.valuesDoc(), def, modes, p.persistDoc(), p.Doc)
	}
	return b.String()
}

// MarkdownModes is the table of modes docs/config.md shows.
func MarkdownModes() string {
	var b strings.Builder
	b.WriteString("| name | number | primary | |\n|---|---|---|---|\n")
	for _, m := range Modes {
		primary := ""
		if m.Primary {
			primary = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %d | %s | %s |\n", m.Name, m.Number, primary, m.Doc)
	}
	return b.String()
}

func (p *Param) valuesDoc() string {
	switch p.Kind {
	case Enum:
		names := make([]string, len(p.Values))
		for i, v := range p.Values {
			names[i] = "`" + v.Name + "`"
		}
		return strings.Join(names, ", ")
	case Int:
		return fmt.Sprintf("%d–%d", p.Min, p.Max)
	case Millis:
		return fmt.Sprintf("time, %d–%d ms", p.Min, p.Max)
	case Seconds:
		return fmt.Sprintf("whole seconds, %d–%d; a bare number is seconds", p.Min, p.Max)
	case Bool:
		return "boolean"
	case IPv4List:
		return fmt.Sprintf("up to %d IPv4 addresses", p.MaxItems)
	case IPv6List:
		return fmt.Sprintf("up to %d IPv6 addresses", p.MaxItems)
	case MAC:
		return "unicast MAC"
	}
	return ""
}

func (p *Param) persistDoc() string {
	var out []string
	if p.Networkd != "" && p.NetworkdSince <= NetworkdVersion {
		s := "`" + p.Networkd + "=`"
		var only []string
		if p.NetworkdModes != nil {
			only = append(only, "in "+strings.Join(p.NetworkdModes, ", "))
		}
		if p.NetworkdWithARP {
			only = append(only, "with arp-interval")
		}
		for _, v := range p.Values {
			if v.NetworkdSince > NetworkdVersion {
				only = append(only, "not `"+v.Name+"`")
			}
		}
		if len(only) > 0 {
			s += " (" + strings.Join(only, "; ") + ")"
		}
		out = append(out, s)
	}
	switch {
	case p.NoPorts:
	case p.NoSysfs:
		out = append(out, "udev: `ip`")
	default:
		out = append(out, "udev: sysfs")
	}
	return strings.Join(out, "; else ")
}
