package gitsource

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

func TestIsDotGit(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{".git", true},
		{".GIT", true},
		{".Git", true},
		{"git~1", true},
		{"GIT~1", true},
		{".git.", true},
		{".git ", true},
		{".git. . ", true},
		{".git:stream", true},
		{"git~1::$INDEX_ALLOCATION", true},
		{".g\u200cit", true},
		{"\ufeff.git\u200d", true},
		{".GI\u206aT", true},
		// Names real repositories use.
		{".github", false},
		{".gitignore", false},
		{".gitmodules", false},
		{".gitkeep", false},
		{".git-crypt", false},
		{"git", false},
		{"git~2", false},
		{"a.git", false},
		{".gi", false},
		{".g\u00efit", false},   // a letter HFS+ keeps
		{".\u212Ait", false},    // KELVIN SIGN folds to k, not g; git compares ASCII only
		{".gıt", false},         // dotless i
		{".git\xff", false},     // not UTF-8
		{".g\xe2\x80it", false}, // a cut sequence, not U+200C
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isDotGit(tt.name); got != tt.want {
				t.Errorf("isDotGit(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestFoldKey(t *testing.T) {
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"ascii case", "README.md", "readme.md", true},
		{"latin-1", "Ärger", "ärger", true},
		{"greek sigma forms", "ΣΑΣ", "σας", true},
		{"kelvin sign", "\u212A", "k", true},
		{"hfs ignorable", "a\u200cb", "ab", true},
		{"different", "a", "b", false},
		{"prefix", "ab", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := foldKey(tt.a) == foldKey(tt.b); got != tt.same {
				t.Errorf("foldKey(%q) == foldKey(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
			}
		})
	}
}

func TestGitCompare(t *testing.T) {
	file := func(n string) rawEntry { return rawEntry{name: n, mode: filemode.Regular} }
	dir := func(n string) rawEntry { return rawEntry{name: n, mode: filemode.Dir} }
	sub := func(n string) rawEntry { return rawEntry{name: n, mode: filemode.Submodule} }
	tests := []struct {
		name string
		a, b rawEntry // a sorts first
	}{
		{"bytewise", file("B"), file("a")},
		{"prefix first", file("a"), file("a.txt")},
		{"a file before its dir name", file("a.txt"), dir("a")},
		{"dir before a longer name", dir("a"), file("a0")},
		{"submodules sort as files", sub("a"), file("a.txt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if gitCompare(tt.a, tt.b) >= 0 || gitCompare(tt.b, tt.a) <= 0 {
				t.Errorf("want %q (%v) before %q (%v)", tt.a.name, tt.a.mode, tt.b.name, tt.b.mode)
			}
		})
	}
}
