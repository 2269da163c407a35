// Package catalog lists the models faultline can check a history against,
// for `faultline list` and `faultline check --model`. It lives apart from
// package models so that models' sub-packages can import the result types
// without an import cycle.
package catalog

import (
	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/linear"
)

// Default returns a fresh registry of every model faultline knows.
func Default() models.Registry {
	return models.Registry{
		linear.CASRegister: {
			Summary: "linearizable compare-and-set register per key: read, write, cas [old new] (porcupine)",
			New:     func() models.Checker { return linear.NewCASRegister() },
		},
		linear.Register: {
			Summary: "linearizable read/write register per key (porcupine)",
			New:     func() models.Checker { return linear.NewRegister() },
		},
	}
}
