// Package bindelta makes and applies binary deltas between two builds of
// a program, so that an agent update crosses a thin link as the few
// hundred kilobytes that changed rather than the whole binary.
//
// The algorithm is Colin Percival's bsdiff 4 (suffix sorting with
// Larsson and Sadakane's qsufsort, then approximate matches whose
// byte-wise differences are mostly zeros, since code that moved keeps its
// shape). No Go implementation of it resolves from the module proxy this
// project builds with (the bsdiff ports are refused), and zstd's
// dictionary mode, from a library that does, finds only exact matches in
// a small window: so it is written here, in one file per side. The patch
// format is bsdiff's three streams, each gzip-compressed (the standard
// library writes no bzip2), behind a header of their lengths:
//
//	"FLTDLT01" | newSize | ctrlLen | diffLen | extraLen  (uint64, little endian)
//	ctrl:  gzip of (add uvarint, copy uvarint, seek zigzag varint)...,
//	       each writing at least one byte but the first, which may only seek
//	diff:  gzip of the bytes added to old, add bytes per control
//	extra: gzip of the bytes copied as they are, copy bytes per control
//
// Diff holds both programs and a suffix array of the old one in memory
// (about 10 bytes per byte of the old program): it runs on the hub. Apply
// streams: it reads the old program at the offsets the patch names and
// writes the new one as it goes, in a few buffers, so that an agent within
// its memory budget can apply a patch of any size.
package bindelta
