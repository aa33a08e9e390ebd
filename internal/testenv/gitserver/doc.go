// Package gitserver serves bare Git repositories over real smart HTTP, with
// Debian's git http-backend behind net/http/cgi, and builds repositories
// with the real git binary, for tests and demos.
//
// It needs git (and its http-backend, shipped in the git package) on the
// machine; Start and the helpers skip the test when git is missing.
package gitserver
