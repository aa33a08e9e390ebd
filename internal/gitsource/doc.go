// Package gitsource fetches Git sources into immutable revision
// directories, with go-git (pure Go, no git binary).
//
// Each source name gets a bare object cache under the cache root and one
// checked-out directory per commit, rev-<sha>, that is never modified after
// it appears. The two most recent revisions of a source are kept.
package gitsource
