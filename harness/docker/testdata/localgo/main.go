// Command hello is a main package in a module of its own, for the tests of
// local Go packages in images: it prints its greeting and the node it runs on.
package main

import (
	"fmt"
	"net"
	"os"
)

const greeting = "hello from a local package"

func main() {
	// net makes a default build dynamic where cgo is on: the image needs it static.
	_ = net.IPv4len
	fmt.Println(greeting, "on", os.Getenv("FAULTLINE_NODE"))
}
