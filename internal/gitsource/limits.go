package gitsource

// Defaults of the per-checkout limits, sized for a hub with 2 GB of memory:
// a render may hold a whole checkout in memory (Kustomize loads it).
const (
	DefaultMaxFiles         = 20000
	DefaultMaxBytes         = 256 << 20
	DefaultMaxDepth         = 64
	DefaultMaxSymlinkTarget = 4096
)

// maxNameBytes is the longest entry name: what Linux file systems store.
const maxNameBytes = 255

// maxSymlinkHops bounds symlinks followed through one another, as Linux
// does (MAXSYMLINKS); deeper chains fail there and are refused here.
const maxSymlinkHops = 40

// limits are the bounds of one checkout, defaults filled in.
type limits struct {
	files       int   // tree entries of every kind
	bytes       int64 // content of files and symlink targets
	depth       int   // directory nesting below the root
	symlinkSize int64 // bytes of one symlink target
}

func (o Options) limits() limits {
	l := limits{files: o.MaxFiles, bytes: o.MaxBytes, depth: o.MaxDepth, symlinkSize: int64(o.MaxSymlinkTarget)}
	if l.files <= 0 {
		l.files = DefaultMaxFiles
	}
	if l.bytes <= 0 {
		l.bytes = DefaultMaxBytes
	}
	if l.depth <= 0 {
		l.depth = DefaultMaxDepth
	}
	if l.symlinkSize <= 0 {
		l.symlinkSize = DefaultMaxSymlinkTarget
	}
	return l
}

func (l limits) tooManyFiles() *TreeError {
	return refuse("", "more than %d entries (files, directories and symlinks); the hub's --max-repo-files raises the limit", l.files)
}

func (l limits) tooManyFilesThroughLinks() *TreeError {
	return refuse("", "more than %d entries (files, directories and symlinks) counting each directory again wherever a symlink leads to it, as discovery walks it; the hub's --max-repo-files raises the limit", l.files)
}

func (l limits) tooManyBytes() *TreeError {
	return refuse("", "files hold more than %d bytes; the hub's --max-repo-bytes raises the limit", l.bytes)
}

func (l limits) tooDeep(path string) *TreeError {
	return refuse(path, "nested more than %d directories deep; the hub's --max-repo-depth raises the limit", l.depth)
}

func (l limits) targetTooLong(path string, size int64) *TreeError {
	return refuse(path, "symlink target has %d bytes, more than the %d allowed", size, l.symlinkSize)
}
