// Command mystore stands in for a user's own server in target file tests;
// it is never built by them.
package main

func main() {}
