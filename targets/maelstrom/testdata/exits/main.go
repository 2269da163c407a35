// Command exits is a Maelstrom node for faultline's tests that fails at
// start, before it answers init, as a node with a bad configuration does.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "exits: cannot open my state file")
	os.Exit(3)
}
