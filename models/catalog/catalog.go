// Package catalog lists the models faultline can check a history against,
// for `faultline list` and `faultline check --model`. It lives apart from
// package models so that models' sub-packages can import the result types
// without an import cycle; each sub-package lists its own models.
package catalog

import (
	"fmt"

	"github.com/faultline/faultline/models"
	"github.com/faultline/faultline/models/bank"
	"github.com/faultline/faultline/models/convergence"
	"github.com/faultline/faultline/models/counter"
	"github.com/faultline/faultline/models/echo"
	"github.com/faultline/faultline/models/kafka"
	"github.com/faultline/faultline/models/linear"
	"github.com/faultline/faultline/models/lock"
	"github.com/faultline/faultline/models/queue"
	"github.com/faultline/faultline/models/sequential"
	"github.com/faultline/faultline/models/session"
	"github.com/faultline/faultline/models/sets"
	"github.com/faultline/faultline/models/txn"
	"github.com/faultline/faultline/models/uniqueids"
)

// Default returns a fresh registry of every model faultline knows.
func Default() models.Registry {
	out := models.Registry{}
	for _, r := range []models.Registry{
		linear.Models(), sequential.Models(), session.Models(), convergence.Models(),
		sets.Models(), counter.Models(), bank.Models(), queue.Models(), lock.Models(), txn.Models(),
		kafka.Models(), echo.Models(), uniqueids.Models(),
	} {
		for name, e := range r {
			if _, dup := out[name]; dup {
				// A programming error caught by the catalog's test.
				panic(fmt.Sprintf("catalog: model %q listed twice", name))
			}
			out[name] = e
		}
	}
	return out
}
