package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/store"
)

// tick is how often the source loop looks for sources that are due.
const tick = time.Second

// syncBurst is how long the source loop gathers fetch requests after the
// first one: a burst of webhooks (one per source over the same repository,
// say) is fetched together and costs one manifest recomputation.
const syncBurst = 50 * time.Millisecond

// fetchParallel bounds the sources fetched at once.
const fetchParallel = 4

// sourceLoop fetches sources when their poll interval has passed or when
// AddSource asks for it, in batches.
func (h *Hub) sourceLoop(ctx context.Context) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-h.syncNow:
			h.syncByName(ctx, h.gather(ctx, name)...)
		case <-t.C:
			h.syncDue(ctx)
		}
	}
}

// gather collects the sync requests that arrive within syncBurst of first.
func (h *Hub) gather(ctx context.Context, first string) []string {
	names := []string{first}
	t := time.NewTimer(syncBurst)
	defer t.Stop()
	for {
		select {
		case n := <-h.syncNow:
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		case <-t.C:
			return names
		case <-ctx.Done():
			return names
		}
	}
}

func (h *Hub) syncDue(ctx context.Context) {
	ss, err := h.store.ListSources(ctx)
	if err != nil {
		h.log.Error("listing sources", "err", err)
		return
	}
	now := h.now()
	var due []store.Source
	for _, s := range ss {
		if f, failing := h.backoff.get(s.Name); failing {
			if !now.Before(f.next) {
				due = append(due, s)
			}
			continue
		}
		if s.FetchedAt.IsZero() || now.Sub(s.FetchedAt) >= s.Poll || !h.isLoaded(s) {
			due = append(due, s)
		}
	}
	h.sync(ctx, due)
}

func (h *Hub) syncByName(ctx context.Context, names ...string) {
	var ss []store.Source
	for _, name := range names {
		s, err := h.store.GetSource(ctx, name)
		if err != nil {
			h.log.Error("loading source", "source", name, "err", err)
			continue
		}
		ss = append(ss, s)
	}
	h.sync(ctx, ss)
}

// sync fetches sources (a few at once), loads those whose commit or
// definition changed, and then queues the manifests of the clusters they
// target, once for all of them. Rendering happens during that
// computation, once per distinct set of render inputs.
func (h *Hub) sync(ctx context.Context, ss []store.Source) {
	if len(ss) == 0 {
		return
	}
	began := time.Now()
	results := h.fetchAll(ctx, ss)
	// Sources that track a branch that moved follow it now: they share
	// the fetcher's cache, whose old checkouts are pruned.
	if more := h.sameBranch(ctx, ss, results); len(more) > 0 {
		ss = append(ss, more...)
		results = append(results, h.fetchAll(ctx, more)...)
	}
	var changed []string
	for i, s := range ss {
		if ctx.Err() != nil {
			return
		}
		if h.afterFetch(ctx, s, results[i].rev, results[i].err) {
			changed = append(changed, s.Name)
		}
	}
	if len(changed) == 0 {
		return
	}
	h.queue.markSources(changed...)
	h.log.Info("sources synced", "fetched", len(ss), "loaded", len(changed), "took", time.Since(began).Round(time.Millisecond))
}

type fetched struct {
	rev gitsource.Revision
	err error
}

// fetchAll fetches sources, fetchParallel at a time.
func (h *Hub) fetchAll(ctx context.Context, ss []store.Source) []fetched {
	results := make([]fetched, len(ss))
	var g errgroup.Group
	g.SetLimit(fetchParallel)
	for i, s := range ss {
		g.Go(func() error {
			rev, err := h.fetcher.Fetch(ctx, s.Name, s.Repo, s.Branch)
			results[i] = fetched{rev, err}
			return nil
		})
	}
	_ = g.Wait()
	return results
}

// sameBranch returns the sources outside ss that track the repository and
// branch of a source in ss whose fetch brought a new commit.
func (h *Hub) sameBranch(ctx context.Context, ss []store.Source, results []fetched) []store.Source {
	type branch struct{ repo, branch string }
	moved := map[branch]string{} // to the commit
	in := map[string]bool{}
	for i, s := range ss {
		in[s.Name] = true
		if results[i].err == nil && results[i].rev.Commit != s.Commit {
			moved[branch{s.Repo, s.Branch}] = results[i].rev.Commit
		}
	}
	if len(moved) == 0 {
		return nil
	}
	all, err := h.store.ListSources(ctx)
	if err != nil {
		h.log.Error("listing sources", "err", err)
		return nil
	}
	var out []store.Source
	for _, s := range all {
		if c, ok := moved[branch{s.Repo, s.Branch}]; ok && !in[s.Name] && s.Commit != c {
			out = append(out, s)
		}
	}
	return out
}

// afterFetch records a fetch and loads what it brought; true when a new
// commit or definition was loaded.
func (h *Hub) afterFetch(ctx context.Context, s store.Source, rev gitsource.Revision, err error) bool {
	log := h.log.With("source", s.Name)
	fetch := store.SourceFetch{Commit: s.Commit, FetchedAt: h.now().UTC()}
	if err != nil {
		h.metrics.fetches.WithLabelValues("error").Inc()
		h.recordFailure(ctx, s, fetch, "fetching source failed", err)
		return h.loadCached(ctx, s)
	}
	h.metrics.fetches.WithLabelValues("ok").Inc()
	fetch.Commit = rev.Commit
	s.Commit = rev.Commit
	changed, err := h.load(ctx, s, rev.Dir)
	if err != nil {
		h.recordFailure(ctx, s, fetch, "loading source failed", err)
		return false
	}
	if h.backoff.succeeded(s.Name) {
		log.Info("source fetched again", "commit", rev.Commit)
	}
	if err := h.store.SetSourceFetch(ctx, s.Name, fetch); err != nil {
		log.Error("recording fetch", "err", err)
		return false
	}
	return changed
}

// recordFailure keeps a failed fetch or load as the source's error, backs
// the source off, and logs once per change of error.
func (h *Hub) recordFailure(ctx context.Context, s store.Source, fetch store.SourceFetch, msg string, err error) {
	fetch.Error = err.Error()
	f, changed := h.backoff.failed(s.Name, fetch.Error, h.now(), s.Poll)
	if changed {
		h.log.Warn(msg, "source", s.Name, "err", err, "retryAt", f.next.UTC().Format(time.RFC3339))
	} else {
		h.log.Debug(msg, "source", s.Name, "err", err, "failures", f.count, "retryAt", f.next.UTC().Format(time.RFC3339))
	}
	if err := h.store.SetSourceFetch(ctx, s.Name, fetch); err != nil {
		h.log.Error("recording fetch", "source", s.Name, "err", err)
	}
}

// loadCached loads the commit a source had before this hub started, from
// the fetcher's cache, so that an unreachable Git server after a restart
// does not hold back the manifests of every cluster it targets.
func (h *Hub) loadCached(ctx context.Context, s store.Source) bool {
	if s.Commit == "" || h.isLoaded(s) {
		return false
	}
	h.mu.Lock()
	_, loadedBefore := h.loaded[s.Name]
	h.mu.Unlock()
	if loadedBefore {
		return false // keep what this hub loaded itself
	}
	rev, err := h.fetcher.Cached(s.Name, s.Repo, s.Branch, s.Commit)
	if err != nil {
		h.log.Debug("no cached checkout to serve while the source is unreachable", "source", s.Name, "err", err)
		return false
	}
	changed, err := h.load(ctx, s, rev.Dir)
	if err != nil {
		h.log.Warn("loading cached checkout", "source", s.Name, "err", err)
	}
	return changed
}

// load discovers the bundles of a source's checkout and keeps them; it
// returns false when that commit is loaded already. The caller queues the
// manifests.
func (h *Hub) load(ctx context.Context, s store.Source, dir string) (bool, error) {
	if h.isLoaded(s) {
		return false, nil
	}
	l, bundles, err := h.loadSource(s, dir)
	if err != nil {
		return false, fmt.Errorf("discovering bundles at %.12s: %w", s.Commit, err)
	}
	if err := h.store.ReplaceBundles(ctx, s.Name, bundles); err != nil {
		return false, fmt.Errorf("storing bundles: %w", err)
	}
	h.mu.Lock()
	h.loaded[s.Name] = l
	h.mu.Unlock()
	h.forgetRenders()
	h.log.Info("source loaded", "source", s.Name, "commit", s.Commit, "bundles", len(bundles))
	return true, nil
}

// forgetRenders drops the renders of commits no source has loaded any
// more, and the summaries of bundles no longer loaded.
func (h *Hub) forgetRenders() {
	h.mu.Lock()
	commits := map[[2]string]bool{}
	bundles := map[bundleAt]bool{}
	for _, l := range h.loaded {
		commits[[2]string{l.repo, l.commit}] = true
		for name := range l.bundles {
			bundles[bundleAt{name, l.commit}] = true
		}
	}
	h.mu.Unlock()
	h.renders.forget(
		func(repo, commit string) bool { return commits[[2]string{repo, commit}] },
		func(name, commit string) bool { return bundles[bundleAt{name, commit}] })
}

func (h *Hub) isLoaded(s store.Source) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.loaded[s.Name]
	return s.Commit != "" && l != nil && l.commit == s.Commit && l.def == sourceDef(s)
}

// sourceDef is what a source's bundles depend on besides the commit.
func sourceDef(s store.Source) string {
	return s.Repo + "\x00" + strings.Join(s.Paths, "\x00")
}

// loadSource discovers the bundles of a checkout. A bundle whose fleet.yaml
// does not parse keeps its error; every other bundle is kept.
func (h *Hub) loadSource(s store.Source, dir string) (*loaded, []store.Bundle, error) {
	found, err := bundle.Discover(dir, s.Paths)
	if err != nil {
		return nil, nil, fmt.Errorf("discovering bundles: %w", err)
	}
	l := &loaded{commit: s.Commit, repo: s.Repo, dir: dir, def: sourceDef(s), bundles: map[string]bundle.Bundle{}, byName: map[string]bool{}, capabilities: map[string]bool{}}
	out := make([]store.Bundle, 0, len(found))
	for _, b := range found {
		name := bundle.Name(s.Name, b.Path)
		sb := store.Bundle{Name: name, Source: s.Name, Path: b.Path, Commit: s.Commit, Warnings: b.Warnings}
		if b.Err != nil {
			sb.Error = b.Err.Error()
		}
		l.bundles[name] = b
		l.byName[name] = render.NameSensitive(b)
		l.capabilities[name] = render.ReadsCapabilities(dir, b)
		out = append(out, sb)
	}
	slices.SortFunc(out, func(a, b store.Bundle) int { return strings.Compare(a.Name, b.Name) })
	return l, out, nil
}
