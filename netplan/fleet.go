package netplan

import (
	"github.com/bondstrap/bondstrap/detect/inventory"
)

// Model is one hardware model of a fleet: a saved inventory, named.
type Model struct {
	// Name is the model's name, the inventory file's base name.
	Name      string
	Inventory inventory.Inventory
}

// FleetReport is one config checked against every model of a fleet: what
// each model would get, or why it fails. It is what an operator reads
// before rolling a config out to a mixed fleet.
type FleetReport struct {
	Models []ModelReport `json:"models"`
	// Failed counts the models whose selection fails.
	Failed int `json:"failed"`
}

// ModelReport is the outcome of one model: its plan, or the selection
// error.
type ModelReport struct {
	Model string `json:"model"`
	OK    bool   `json:"ok"`
	// Plan is set when selection succeeds.
	Plan *Plan `json:"plan,omitempty"`
	// Failures says, per bond or standalone ethernets id, why selection
	// failed.
	Failures []ModelFailure `json:"failures,omitempty"`
}

// ModelFailure is why one bond (or standalone ethernets id) of a model
// could not be planned.
type ModelFailure struct {
	Interface string `json:"interface"`
	Kind      string `json:"kind"`
	Problem   string `json:"problem"`
}

// Lint selects cfg's members on every model, in the order given.
func Lint(cfg *Config, models []Model) FleetReport {
	r := FleetReport{Models: make([]ModelReport, 0, len(models))}
	for _, m := range models {
		mr := ModelReport{Model: m.Name}
		plan, err := Select(cfg, m.Inventory)
		if err != nil {
			r.Failed++
			if se, ok := err.(*SelectionError); ok {
				for _, f := range se.Failures {
					kind := f.Kind
					if kind == "" {
						kind = KindBond
					}
					mr.Failures = append(mr.Failures, ModelFailure{Interface: f.Bond, Kind: kind, Problem: f.Problem})
				}
			} else {
				mr.Failures = []ModelFailure{{Problem: err.Error()}}
			}
		} else {
			mr.OK, mr.Plan = true, plan
		}
		r.Models = append(r.Models, mr)
	}
	return r
}
