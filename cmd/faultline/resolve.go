package main

import (
	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/catalog"
)

// targetResolver is where the CLI turns target names into values: the
// shipped catalog.
func targetResolver() targets.Resolver {
	return catalog.Default()
}
