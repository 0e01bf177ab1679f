package main

import (
	"fmt"
	"sort"
	"strings"
)

// formatTable renders the results as the Markdown README.md quotes.
func formatTable(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bondstrap %s, %s, %s\n\n", r.Version, r.Date.Format("2006-01-02"), r.Host)
	if s := r.Size; s != nil {
		fmt.Fprintf(&b, "| binary (static, stripped) | size | budget |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| as `make build` makes it (no inlining) | %s | %s |\n", mib(s.Bytes), mib(s.Budget))
		fmt.Fprintf(&b, "| with Go's default inlining | %s | |\n\n", mib(s.InlinedBytes))
	}
	if len(r.Detect) > 0 {
		fmt.Fprintf(&b, "| detect, NICs (veth) | `bondstrap detect` | per NIC | shell loop (ethtool + sysfs) | ratio |\n|---|---|---|---|---|\n")
		for _, d := range r.Detect {
			ratio := 0.0
			if d.Shell > 0 {
				ratio = float64(d.Shell) / float64(d.Bondstrap)
			}
			fmt.Fprintf(&b, "| %d | %s | %.1f µs | %s | %.0f× faster |\n", d.NICs, ms(float64(d.Bondstrap.Microseconds())/1000),
				d.PerNICMicros, ms(float64(d.Shell.Microseconds())/1000), ratio)
		}
		b.WriteString("\n")
	}
	if n := r.Network; n != nil {
		for _, g := range n.Guests {
			fmt.Fprintf(&b, "Time to network (exec → bond up with lease and default route), median of %d boots; %s:\n\n",
				len(g.Samples[methodBondstrap]), g.Guest)
			fmt.Fprintf(&b, "| method | median | runs | bondstrap's ratio | target |\n|---|---|---|---|---|\n")
			fmt.Fprintf(&b, "| bondstrap apply | %s | %s | | |\n", ms(g.Median[methodBondstrap]), runsText(g.Samples[methodBondstrap]))
			if s, ok := g.Samples[methodSeed]; ok {
				fmt.Fprintf(&b, "| seed script (sysfs, 1 s settle, udhcpc) | %s | %s | %.2f | ≤ 0.40 |\n", ms(g.Median[methodSeed]),
					runsText(s), g.Ratio[methodSeed])
			}
			if s, ok := g.Samples[methodNetworkd]; ok {
				fmt.Fprintf(&b, "| systemd-networkd, same units | %s | %s | %.2f | ≤ 0.50 |\n", ms(g.Median[methodNetworkd]),
					runsText(s), g.Ratio[methodNetworkd])
			}
			fmt.Fprintf(&b, "\nClock resolution %g ms. apply's peak RSS (VmHWM), the largest of the rounds: %.1f MiB (budget 12 MiB). "+
				"Its stages in the last round:", g.Resolution, float64(g.PeakRSSKiB)/1024)
			names := make([]string, 0, len(g.Stages))
			for k := range g.Stages {
				names = append(names, k)
			}
			sort.Slice(names, func(i, j int) bool { return g.Stages[names[i]] > g.Stages[names[j]] })
			for _, k := range names {
				if g.Stages[k] > 0 {
					fmt.Fprintf(&b, " %s %d ms;", k, g.Stages[k])
				}
			}
			b.WriteString("\n\n")
		}
	}
	if len(r.Failover) > 0 {
		fmt.Fprintf(&b, "| failover (active-backup, active member's link cut) | pings lost, 10 ms apart (median) | runs |\n|---|---|---|\n")
		for _, f := range r.Failover {
			lost := make([]string, len(f.Lost))
			for i, l := range f.Lost {
				lost[i] = fmt.Sprint(l)
			}
			fmt.Fprintf(&b, "| %s | %.0f (%.0f ms) | %s |\n", f.Monitor, f.LostMedian, f.MillisMedian, strings.Join(lost, ", "))
		}
		b.WriteString("\n")
	}
	if l := r.LACP; l != nil {
		fmt.Fprintf(&b, "| 802.3ad against a real partner | median | runs |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| negotiation, lacp-rate fast (last port joined → partner verified) | %s | %s |\n", ms(l.NegotiationMedianMS), runsText(l.NegotiationMS))
		fmt.Fprintf(&b, "| fallback to active-backup, no partner (timeout %s; whole apply) | %s | %s |\n\n", l.FallbackTimeout, ms(l.FallbackMedianMS), runsText(l.FallbackMS))
	}
	if len(r.Errors) > 0 {
		for k, e := range r.Errors {
			fmt.Fprintf(&b, "**%s failed**: %s\n\n", k, e)
		}
	}
	return b.String()
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB (%d bytes)", float64(n)/(1<<20), n) }

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func runsText(s []float64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprintf("%.0f", v)
	}
	return strings.Join(parts, ", ") + " ms"
}
