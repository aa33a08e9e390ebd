// Command crashagent is a broken agent release for the update test: it
// crashes at start-up, before it could report anything.
package main

func main() {
	panic("this release crashes at start-up")
}
