package gitsource

import (
	"errors"
	"path"
	"slices"
	"strings"
)

var (
	errLeaves = errors.New("leaves the repository")
	errLoop   = errors.New("symlinks loop")
)

// checkLinks refuses a plan with a symlink that leads outside the
// checkout once followed as the kernel would: through the tree's other
// symlinks (a -> . then b -> a/.. leaves it, though each looks local),
// with ".." applied to where a link led, not to its text. A component
// that the tree does not hold is taken as a plain directory, so a link
// that would leave only once such a path appeared is refused too.
//
// It also refuses a tree whose walk meets more than lim.files entries
// when it follows the symlinks to directories, as discovery and renders
// do (see walkSize): a few links to links would otherwise make a tiny
// tree cost minutes to walk.
func checkLinks(p *plan, lim limits) error {
	dirLinks, err := followLinks(p)
	if err != nil {
		return err
	}
	if walkSize(p, dirLinks, lim.files) > lim.files {
		return lim.tooManyFilesThroughLinks()
	}
	return nil
}

// followLinks follows every symlink of the plan, refusing one that leaves
// the checkout or loops, and returns the directory each link to a
// directory leads to ("" for the root).
func followLinks(p *plan) (map[string]string, error) {
	r := resolver{kinds: p.kinds, targets: make(map[string]string, len(p.links)), memo: map[string]*followed{}}
	for _, l := range p.links {
		r.targets[l.path] = l.target
	}
	dirLinks := map[string]string{}
	for _, l := range p.links {
		to, err := r.follow(l.path, 0)
		switch {
		case errors.Is(err, errLeaves):
			return nil, refuse(l.path, "symlink target %q leaves the repository when followed", l.target)
		case errors.Is(err, errLoop):
			return nil, refuse(l.path, "symlink target %q loops or nests symlinks more than %d deep", l.target, maxSymlinkHops)
		case err != nil:
			return nil, refuse(l.path, "symlink target %q: %v", l.target, err)
		}
		if d := strings.Join(to, "/"); d == "" || p.kinds[d] == kindDir {
			dirLinks[l.path] = d
		}
	}
	return dirLinks, nil
}

// resolver follows symlinks through a plan. Each link is followed once
// (memo), so a tree of many links that name one another costs the length
// of their targets, not a product of them.
type resolver struct {
	kinds   map[string]kind
	targets map[string]string // every symlink's target by its path
	memo    map[string]*followed
}

type followed struct {
	busy bool     // being followed: meeting it again is a loop
	to   []string // where the link leads, components from the root
	err  error
}

// follow returns where the symlink at link leads, as path components from
// the checkout root. hops counts the links followed to get here.
func (r *resolver) follow(link string, hops int) ([]string, error) {
	if f, ok := r.memo[link]; ok {
		if f.busy {
			return nil, errLoop
		}
		return f.to, f.err
	}
	if hops >= maxSymlinkHops {
		return nil, errLoop
	}
	f := &followed{busy: true}
	r.memo[link] = f
	var dir []string
	if d := path.Dir(link); d != "." {
		dir = strings.Split(d, "/")
	}
	f.to, f.err = r.walk(dir, r.targets[link], hops)
	f.busy = false
	return f.to, f.err
}

// walk applies target's components from the directory dir.
func (r *resolver) walk(dir []string, target string, hops int) ([]string, error) {
	if strings.HasPrefix(target, "/") {
		return nil, errLeaves
	}
	cur := slices.Clone(dir)
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, errLeaves
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur, c)
		if r.kinds[strings.Join(next, "/")] != kindLink {
			cur = next
			continue
		}
		to, err := r.follow(strings.Join(next, "/"), hops+1)
		if err != nil {
			return nil, err
		}
		cur = slices.Clone(to)
	}
	return cur, nil
}
