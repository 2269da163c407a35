package main

import (
	"path/filepath"

	"github.com/faultline/faultline/targets"
	"github.com/faultline/faultline/targets/catalog"
	"github.com/faultline/faultline/targets/protocols"
	"github.com/faultline/faultline/targets/targetfile"
)

// targetResolver is where the CLI turns target names into values: a path
// (with a / or ending in .yaml) is a target file, any other name a
// shipped system.
func targetResolver() targets.Resolver {
	return targetfile.Resolver{Protocols: protocols.Default(), Next: catalog.Default()}
}

// absTarget returns a target file's path made absolute, so a stored run
// (spec.json) can be replayed from any directory; names are unchanged.
func absTarget(target string) string {
	if !targetfile.IsPath(target) {
		return target
	}
	if abs, err := filepath.Abs(target); err == nil {
		return abs
	}
	return target
}
