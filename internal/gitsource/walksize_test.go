package gitsource

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"flotilla.io/flotilla/internal/bundle"
)

// fanOut is a tree spec of dirs directories, each holding links links to
// the next, and the last one file: a tiny tree that a walk through its
// links meets links^(dirs-1) times over.
func fanOut(dirs, links int) string {
	var b strings.Builder
	b.WriteString("tree root\n")
	for i := range dirs {
		fmt.Fprintf(&b, "40000 \"d%d\" d%d\n", i, i)
	}
	for i := range dirs {
		fmt.Fprintf(&b, "tree d%d\n", i)
		if i == dirs-1 {
			b.WriteString("100644 \"f\" \"x\"\n")
			continue
		}
		for j := range links {
			fmt.Fprintf(&b, "120000 \"l%03d\" \"../d%d\"\n", j, i+1)
		}
	}
	return b.String()
}

// TestWalkSize counts trees as a walk through their symlinks meets them,
// and checks each count against bundle.Checkout.Walk on the checkout
// written.
func TestWalkSize(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want int
	}{
		{name: "no links", spec: "tree root\n100644 \"a\" \"x\"\n40000 \"d\" d\ntree d\n100644 \"b\" \"x\"\n", want: 3},
		{name: "link to a file", spec: "tree root\n100644 \"a\" \"x\"\n120000 \"l\" \"a\"\n", want: 2},
		{name: "link to a directory", spec: "tree root\n40000 \"d\" d\n120000 \"l\" \"d\"\ntree d\n100644 \"a\" \"x\"\n100644 \"b\" \"x\"\n", want: 6},
		{name: "link to the root: a loop", spec: "tree root\n100644 \"a\" \"x\"\n120000 \"self\" \".\"\n", want: 2},
		{name: "dangling link", spec: "tree root\n120000 \"l\" \"missing/dir\"\n", want: 1},
		// a, a/tob (b), a/tob/toa (a again: a loop); b, b/toa (a), b/toa/tob (b again).
		{name: "directories linking to each other", spec: "tree root\n40000 \"a\" a\n40000 \"b\" b\ntree a\n120000 \"tob\" \"../b\"\ntree b\n120000 \"toa\" \"../a\"\n", want: 6},
		// a, a/sub, a/sub/up (a loop); l (a/sub), l/up (a), l/up/sub (a
		// plain directory, entered though it is l), l/up/sub/up (a loop).
		{name: "link into a directory that links back", spec: "tree root\n40000 \"a\" a\n120000 \"l\" \"a/sub\"\ntree a\n40000 \"sub\" sub\ntree sub\n120000 \"up\" \"..\"\n", want: 7},
		// d2: f; d1: l0, l1 and d2's 1 each; d0: l0, l1 and d1's 4 each.
		{name: "fan-out", spec: fanOut(3, 2), want: 3 + 10 + 4 + 1},
		{name: "ok-links of the corpus", spec: readSpec(t, "ok-links"), want: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, dirLinks := planSpec(t, tt.spec)
			if got := walkSize(p, dirLinks, 1000); got != tt.want {
				t.Errorf("walkSize = %d, want %d", got, tt.want)
			}
			if got := walkSize(p, dirLinks, tt.want-1); got != tt.want {
				t.Errorf("walkSize past a limit of %d = %d, want %d", tt.want-1, got, tt.want)
			}
			if got := walkDisk(t, tt.spec); got != tt.want {
				t.Errorf("bundle's walk of the checkout meets %d entries, walkSize counts %d", got, tt.want)
			}
		})
	}
}

// TestWalkSizeRandomTrees checks walkSize against bundle's walk of the
// checkout for random trees of directories linking to one another.
func TestWalkSizeRandomTrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		spec := randomLinkTree(r)
		p, dirLinks := planSpec(t, spec)
		want := walkSize(p, dirLinks, 1<<20)
		if want > 500 {
			continue // quick to count, slow to walk
		}
		if got := walkDisk(t, spec); got != want {
			t.Fatalf("tree %d: walkSize = %d, bundle's walk meets %d:\n%s", i, want, got, spec)
		}
	}
}

// randomLinkTree is a spec of up to 7 directories nested at random, each
// holding up to 2 files and up to 3 links to any of the directories.
func randomLinkTree(r *rand.Rand) string {
	type entry struct{ name, line string }
	n := 1 + r.IntN(7)
	paths := []string{"."} // of each directory; tree i is t<i>, t0 the root
	entries := make([][]entry, n)
	for i := 1; i < n; i++ {
		parent := r.IntN(i)
		name := fmt.Sprintf("d%d", i)
		paths = append(paths, path.Join(paths[parent], name))
		// Git sorts a directory as its name and "/".
		entries[parent] = append(entries[parent], entry{name + "/", fmt.Sprintf("40000 %q t%d", name, i)})
	}
	for i := range n {
		for j := range r.IntN(3) {
			name := fmt.Sprintf("f%d", j)
			entries[i] = append(entries[i], entry{name, fmt.Sprintf("100644 %q \"x\"", name)})
		}
		for j := range r.IntN(4) {
			name := fmt.Sprintf("l%d", j)
			target, err := filepath.Rel(paths[i], paths[r.IntN(n)])
			if err != nil {
				panic(err)
			}
			entries[i] = append(entries[i], entry{name, fmt.Sprintf("120000 %q %q", name, target)})
		}
	}
	var b strings.Builder
	for i, es := range entries {
		fmt.Fprintf(&b, "tree t%d\n", i)
		slices.SortFunc(es, func(x, y entry) int { return strings.Compare(x.name, y.name) })
		for _, e := range es {
			b.WriteString(e.line + "\n")
		}
	}
	return b.String()
}

// TestLinkFanOutRefused: ten directories holding five links each to the
// next took discovery 5 minutes to walk; with the default limits the
// checkout is refused at once, and so is one with 50 links a directory.
func TestLinkFanOutRefused(t *testing.T) {
	for _, links := range []int{5, 50} {
		spec, err := parseSpec(fanOut(10, links))
		if err != nil {
			t.Fatal(err)
		}
		repo, commit, err := spec.build()
		if err != nil {
			t.Fatal(err)
		}
		c, err := repo.CommitObject(commit)
		if err != nil {
			t.Fatal(err)
		}
		lim := Options{}.limits()
		_, err = planCheckout(repo.Storer, c.TreeHash, lim)
		var te *TreeError
		if !errors.As(err, &te) || !strings.Contains(te.Reason, "counting each directory again wherever a symlink leads to it") {
			t.Fatalf("%d links a directory: planCheckout = %v, want the entries counted through links refused", links, err)
		}
		t.Log(err)
	}
}

func readSpec(t *testing.T, name string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "hostile", name+".tree"))
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// planSpec plans the spec's tree within generous limits (of entries too) and returns the
// plan and its links to directories, as checkLinks finds them.
func planSpec(t *testing.T, text string) (*plan, map[string]string) {
	t.Helper()
	spec, err := parseSpec(text)
	if err != nil {
		t.Fatal(err)
	}
	repo, commit, err := spec.build()
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(commit)
	if err != nil {
		t.Fatal(err)
	}
	lim := Options{}.limits()
	lim.files = 1 << 20
	p, err := planCheckout(repo.Storer, c.TreeHash, lim)
	if err != nil {
		t.Fatal(err)
	}
	dirLinks, err := followLinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, dirLinks
}

// walkDisk checks the spec out and returns the entries bundle's walk of
// its root meets.
func walkDisk(t *testing.T, text string) int {
	t.Helper()
	spec, err := parseSpec(text)
	if err != nil {
		t.Fatal(err)
	}
	repo, commit, err := spec.build()
	if err != nil {
		t.Fatal(err)
	}
	rev, _, err := checkout(repo, commit, t.TempDir(), Options{}.limits())
	if err != nil {
		t.Fatal(err)
	}
	return countWalk(t, rev.Dir)
}

// countWalk returns the entries bundle's walk of dir meets.
func countWalk(t testing.TB, dir string) int {
	t.Helper()
	c, err := bundle.OpenCheckout(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	if err := c.Walk(".", bundle.WalkOptions{}, func(bundle.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
