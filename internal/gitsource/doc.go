// Package gitsource fetches Git sources into immutable revision
// directories, with go-git (pure Go, no git binary).
//
// Each repository and branch gets a bare object cache under the cache root
// and one checked-out directory per commit, rev-<sha>, that is never
// modified after it appears; the three most recent are kept.
//
// A commit's tree is hostile input: it is read and checked whole before
// anything is written (git's own path rules, duplicate and unsorted
// entries, names that collide when case is folded, symlinks followed
// through one another, limits, entries counted as a walk through the
// symlinks meets them), and then written through an os.Root, so a
// checkout cannot write or point outside its directory. A refused commit
// leaves nothing on disk and its *TreeError is the fetch error.
package gitsource
