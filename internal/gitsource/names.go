package gitsource

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// checkTree applies the rules that hold within one tree object, in entry
// order, so the first entry that breaks one is named: each name valid and
// not .git, no name twice (even when case is folded), entries in git's
// order. dir is the tree's path, "" for the root.
func checkTree(dir string, entries []rawEntry) *TreeError {
	seen := make(map[string]filemode.FileMode, len(entries))
	folded := make(map[string]string, len(entries))
	for i, e := range entries {
		if e.name == "" {
			return refuse(dir, "an entry has an empty name")
		}
		path := joinPath(dir, e.name)
		if reason := badName(e.name, e.mode); reason != "" {
			return refuse(path, "%s", reason)
		}
		if first, dup := seen[e.name]; dup {
			if first == filemode.Symlink && e.mode == filemode.Dir || first == filemode.Dir && e.mode == filemode.Symlink {
				return refuse(path, "duplicate entry, a symlink and a directory: what is under it would be written through the link (git fsck: duplicateEntries)")
			}
			return refuse(path, "duplicate entry (git fsck: duplicateEntries)")
		}
		seen[e.name] = e.mode
		key := foldKey(e.name)
		if other, ok := folded[key]; ok {
			return refuse(path, "collides with %q when case is folded: both are one file on case-insensitive file systems", other)
		}
		folded[key] = e.name
		if i > 0 && gitCompare(entries[i-1], e) >= 0 {
			return refuse(path, "out of order: git sorts it before %q (names compare bytewise, a directory as its name and \"/\")", entries[i-1].name)
		}
	}
	return nil
}

// badName returns why a non-empty tree entry name is refused, or "".
func badName(name string, mode filemode.FileMode) string {
	switch {
	case name == "." || name == "..":
		return `name "` + name + `" is not allowed`
	case strings.Contains(name, "/"):
		return `name contains "/"`
	case strings.Contains(name, `\`):
		return `name contains "\"`
	case strings.ContainsRune(name, 0):
		return "name contains NUL"
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "name contains a control character"
	case len(name) > maxNameBytes:
		return "name longer than 255 bytes"
	}
	if isDotGit(name) {
		if mode == filemode.Symlink {
			return "a symlink named .git (or an alias of it) could point git at another repository"
		}
		return ".git, in any case or as its HFS+ or NTFS alias, is reserved for git itself"
	}
	return ""
}

// isDotGit reports whether name is ".git" on some file system: in any
// case, with code points HFS+ ignores, or as NTFS sees it (the 8.3 short
// name git~1, trailing dots and spaces dropped, an alternate data stream
// after ':'). These are git's own rules (verify_path with core.protectHFS
// and core.protectNTFS on), applied whatever the hub runs on, as a
// repository written here may be cloned elsewhere.
func isDotGit(name string) bool {
	return isHFSDotGit(name) || isNTFSDotGit(name)
}

// hfsIgnored are the code points HFS+ drops when it compares names (git's
// utf8.c next_hfs_char).
func hfsIgnored(r rune) bool {
	switch r {
	case 0x200c, 0x200d, 0x200e, 0x200f,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
		0x206a, 0x206b, 0x206c, 0x206d, 0x206e, 0x206f,
		0xfeff:
		return true
	}
	return false
}

// isHFSDotGit: ".git" in ASCII of any case once ignored code points are
// dropped (git's is_hfs_dotgit).
func isHFSDotGit(name string) bool {
	var kept []rune
	for _, r := range name {
		if r == utf8.RuneError {
			return false // git gives up on bad UTF-8 too: HFS+ would not store it as .git
		}
		if !hfsIgnored(r) {
			kept = append(kept, r)
		}
	}
	return len(kept) == 4 && kept[0] == '.' &&
		unicode.ToLower(kept[1]) == 'g' && unicode.ToLower(kept[2]) == 'i' && unicode.ToLower(kept[3]) == 't' &&
		kept[1] < utf8.RuneSelf && kept[2] < utf8.RuneSelf && kept[3] < utf8.RuneSelf
}

// isNTFSDotGit: ".git" or "git~1" in any case, then only dots and spaces,
// up to the end or a ':' (git's is_ntfs_dotgit).
func isNTFSDotGit(name string) bool {
	var rest string
	switch {
	case hasPrefixASCIIFold(name, ".git"):
		rest = name[len(".git"):]
	case hasPrefixASCIIFold(name, "git~1"):
		rest = name[len("git~1"):]
	default:
		return false
	}
	for _, c := range []byte(rest) {
		switch c {
		case ':':
			return true
		case '.', ' ':
		default:
			return false
		}
	}
	return true
}

// hasPrefixASCIIFold compares ASCII letters only without case, as git
// does: no other code point folds to one of them there.
func hasPrefixASCIIFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// foldKey maps names that one case-insensitive file system stores as one
// file to one key: each rune becomes the smallest of its simple case
// folding orbit, and code points HFS+ ignores are dropped.
func foldKey(name string) string {
	var b strings.Builder
	for _, r := range name {
		if hfsIgnored(r) {
			continue
		}
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		b.WriteRune(low)
	}
	return b.String()
}

// gitCompare orders tree entries as git writes them: bytewise by name, a
// directory's name compared as if it ended in "/".
func gitCompare(a, b rawEntry) int {
	return strings.Compare(sortName(a), sortName(b))
}

func sortName(e rawEntry) string {
	if e.isDir() {
		return e.name + "/"
	}
	return e.name
}

// joinPath joins a tree path and an entry name; "" is the root.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
