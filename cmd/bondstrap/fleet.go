package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
)

// inventoryList is the repeatable --inventory flag of plan: files, or
// directories of *.json files.
type inventoryList []string

func (l *inventoryList) String() string { return strings.Join(*l, ",") }

func (l *inventoryList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// errFleetFailed is the error of a fleet lint in which a model fails: exit 1.
var errFleetFailed = errors.New("the config fails on some models")

// models reads the inventories the list names, one model per file (a
// directory: its *.json files, sorted), named by the file's base name.
func (l inventoryList) models() ([]netplan.Model, error) {
	var files []string
	for _, p := range l {
		st, err := os.Stat(p)
		if err != nil {
			return nil, &inventory.InventoryError{File: p, Msg: "cannot read", Err: err}
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		found, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, usagef("--inventory %s: a directory without *.json inventories", p)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	models := make([]netplan.Model, 0, len(files))
	for _, f := range files {
		inv, err := inventory.LoadFile(f)
		if err != nil {
			return nil, err
		}
		models = append(models, netplan.Model{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Inventory: inv})
	}
	return models, nil
}

// fleet reports whether the list asks for a fleet lint: more than one
// inventory, or a directory.
func (l inventoryList) fleet() bool {
	if len(l) > 1 {
		return true
	}
	if len(l) == 1 {
		st, err := os.Stat(l[0])
		return err == nil && st.IsDir()
	}
	return false
}

// runLint checks the config against every model and prints one table (or
// JSON); a model that fails makes the exit status 1.
func runLint(_ context.Context, e *env, cfg *netplan.Config, l inventoryList, output string) error {
	models, err := l.models()
	if err != nil {
		return err
	}
	r := netplan.Lint(cfg, models)
	if output == "json" {
		err = writeJSON(e.stdout, r)
	} else {
		err = printLint(e.stdout, r)
	}
	if err != nil {
		return err
	}
	if r.Failed > 0 {
		return fmt.Errorf("%w: %d of %d models", errFleetFailed, r.Failed, len(r.Models))
	}
	return nil
}

// printLint prints one row per model and bond (and standalone NIC): the
// members with their speeds and the mode, or why the model fails.
func printLint(w io.Writer, r netplan.FleetReport) error {
	t := newTable(w)
	fmt.Fprintln(t, "MODEL\tINTERFACE\tMODE\tMEMBERS\tSPEEDS\tRESULT")
	for _, m := range r.Models {
		model := m.Model
		if !m.OK {
			for _, f := range m.Failures {
				fmt.Fprintf(t, "%s\t%s\t-\t-\t-\tFAILS: %s\n", model, orDash(f.Interface), oneLine(f.Problem))
				model = ""
			}
			continue
		}
		for _, b := range m.Plan.Bonds {
			speeds := make([]string, len(b.MemberNICs))
			for i, n := range b.MemberNICs {
				speeds[i] = speed(n.SpeedMbps)
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\tok\n", model, b.Name, b.Mode, strings.Join(b.Members, ","), strings.Join(speeds, ","))
			model = ""
		}
		for _, s := range m.Plan.Ethernets {
			fmt.Fprintf(t, "%s\t%s\t-\t%s\t%s\tok\n", model, s.Name, s.NIC.Name, speed(s.NIC.SpeedMbps))
			model = ""
		}
	}
	fmt.Fprintf(t, "\n%d of %d models fail\n", r.Failed, len(r.Models))
	return t.Flush()
}

// oneLine keeps the first line of a message.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
