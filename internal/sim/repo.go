package sim

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// repo is the Git repository the sim serves to the hub: B bundle
// directories under bundles/, each with K ConfigMaps. It is written with
// go-git, so no git binary is needed.
type repo struct {
	dir     string
	git     *git.Repository
	bundles int
	objects int
	words   []string
}

// paths: where the bundles live inside the repository.
const bundlesPath = "bundles"

// newRepo creates the repository with its first commit (change 0).
func newRepo(dir string, bundles, objects int, seed uint64) (*repo, string, error) {
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return nil, "", fmt.Errorf("initialising repository: %w", err)
	}
	r := &repo{dir: dir, git: g, bundles: bundles, objects: objects, words: vocabulary(seed)}
	for b := range bundles {
		if err := os.MkdirAll(filepath.Join(dir, bundlesPath, bundleDir(b)), 0o755); err != nil {
			return nil, "", fmt.Errorf("creating bundle directory: %w", err)
		}
		for k := range objects {
			if err := r.writeObject(b, k, 0); err != nil {
				return nil, "", err
			}
		}
	}
	commit, err := r.commit("change 0")
	return r, commit, err
}

// URL is what the hub fetches: go-git's in-process file transport wants
// the directory that holds the repository's config.
func (r *repo) URL() string { return "file://" + filepath.Join(r.dir, ".git") }

func bundleDir(b int) string { return fmt.Sprintf("b%02d", b) }

// change edits one object in every bundle and commits; it returns the
// commit hash.
func (r *repo) change(i int) (string, error) {
	for b := range r.bundles {
		if err := r.writeObject(b, i%r.objects, i); err != nil {
			return "", err
		}
	}
	return r.commit(fmt.Sprintf("change %d", i))
}

// writeObject writes ConfigMap k of bundle b as it is at change rev: about
// 1 KiB of configuration-like text, deterministic for (b, k, rev). A change
// edits what a real commit edits, a value or two: the revision and one of
// the 16 keys get new text; the rest stays.
func (r *repo) writeObject(b, k, rev int) error {
	rng := rand.New(rand.NewPCG(uint64(b)<<32|uint64(k), 0))
	edit := rand.New(rand.NewPCG(uint64(b)<<32|uint64(k), uint64(rev)))
	var sb strings.Builder
	fmt.Fprintf(&sb, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\n  namespace: sim-%s\ndata:\n  revision: %q\n", k, bundleDir(b), fmt.Sprint(rev))
	for line := range 16 {
		s := r.sentence(rng)
		if rev > 0 && line == rev%16 {
			s = r.sentence(edit)
		}
		fmt.Fprintf(&sb, "  key%02d: %q\n", line, s)
	}
	path := filepath.Join(r.dir, bundlesPath, bundleDir(b), fmt.Sprintf("cm-%02d.yaml", k))
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("writing object: %w", err)
	}
	return nil
}

func (r *repo) sentence(rng *rand.Rand) string {
	n := 5 + rng.IntN(6)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = r.words[rng.IntN(len(r.words))]
	}
	return strings.Join(ws, " ")
}

// vocabulary is a seeded set of made-up words: text that compresses about
// as well as real configuration does.
func vocabulary(seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	ws := make([]string, 400)
	for i := range ws {
		b := make([]byte, 3+rng.IntN(7))
		for j := range b {
			b[j] = letters[rng.IntN(len(letters))]
		}
		ws[i] = string(b)
	}
	return ws
}

func (r *repo) commit(msg string) (string, error) {
	wt, err := r.git.Worktree()
	if err != nil {
		return "", fmt.Errorf("opening worktree: %w", err)
	}
	if err := wt.AddGlob(bundlesPath + "/*/*.yaml"); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	sig := &object.Signature{Name: "flotilla sim", Email: "sim@flotilla.invalid", When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", fmt.Errorf("committing: %w", err)
	}
	return h.String(), nil
}
