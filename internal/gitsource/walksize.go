package gitsource

import "path"

// walkSize returns how many entries a walk of the checkout's root meets
// when it follows symlinks to directories, as bundle.Checkout.Walk does:
// a link to a directory counts once and then as many entries as the
// directory holds, and a link to a directory being walked (an ancestor
// on the walk's path) counts once, as the loop the walk reports. Like the
// walk, it checks for loops only where it follows a link. Past limit it
// stops counting and returns limit+1, so that a tree that would cost a
// walk minutes costs this at most about limit steps.
//
// dirLinks maps each symlink leading to a directory to that directory
// ("" for the root).
func walkSize(p *plan, dirLinks map[string]string, limit int) int {
	w := &sizer{
		children: map[string][]string{},
		kinds:    p.kinds,
		dirLinks: dirLinks,
		memo:     map[string]int{},
		busy:     map[string]int{},
		limit:    limit,
	}
	for name := range p.kinds {
		dir := path.Dir(name)
		if dir == "." {
			dir = ""
		}
		w.children[dir] = append(w.children[dir], name)
	}
	n, _ := w.size("")
	return n
}

// sizer counts the entries of walks through a plan. A directory's count
// is remembered unless a link in it led to a directory being walked: then
// it depends on the path the walk took to it, and each walk is counted
// anew (the counting stops once it passes the limit, so this stays cheap).
type sizer struct {
	children map[string][]string // entries of each directory; "" is the root
	kinds    map[string]kind
	dirLinks map[string]string
	memo     map[string]int // counts that do not depend on the walk's path
	// busy counts the walks of each directory under way: the walk enters
	// a plain directory without checking for a loop, so one may be met
	// again below itself before a link to it is the loop.
	busy  map[string]int
	limit int
	steps int // entries counted one by one so far, across all walks
}

// size returns the entries a walk of dir meets, limit+1 past the limit,
// and whether a link in it led to a directory being walked.
func (w *sizer) size(dir string) (n int, looped bool) {
	if n, ok := w.memo[dir]; ok {
		return n, false
	}
	w.busy[dir]++
	defer func() { w.busy[dir]-- }()
	for _, e := range w.children[dir] {
		n++
		w.steps++
		sub, isDir := e, w.kinds[e] == kindDir
		if !isDir {
			// The walk checks for a loop where it follows a link, not
			// where it enters a plain directory.
			if sub, isDir = w.dirLinks[e]; isDir && w.busy[sub] > 0 {
				looped, isDir = true, false
			}
		}
		if isDir {
			m, l := w.size(sub)
			n += m
			looped = looped || l
		}
		if n > w.limit || w.steps > w.limit {
			return w.limit + 1, looped
		}
	}
	if !looped {
		w.memo[dir] = n
	}
	return n, looped
}
