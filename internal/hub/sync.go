package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/store"
)

// tick is how often the source loop looks for sources that are due.
const tick = time.Second

// sourceLoop fetches each source when its poll interval has passed or when
// AddSource asks for it, one at a time.
func (h *Hub) sourceLoop(ctx context.Context) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-h.syncNow:
			h.syncByName(ctx, name)
		case <-t.C:
			h.syncDue(ctx)
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
	for _, s := range ss {
		if ctx.Err() != nil {
			return
		}
		if s.FetchedAt.IsZero() || now.Sub(s.FetchedAt) >= s.Poll || !h.isLoaded(s) {
			h.sync(ctx, s)
		}
	}
}

func (h *Hub) syncByName(ctx context.Context, name string) {
	s, err := h.store.GetSource(ctx, name)
	if err != nil {
		h.log.Error("loading source", "source", name, "err", err)
		return
	}
	h.sync(ctx, s)
}

// sync fetches one source and, when its commit or definition changed,
// discovers its bundles and recomputes every manifest. Rendering happens
// during that computation, once per distinct set of render inputs.
func (h *Hub) sync(ctx context.Context, s store.Source) {
	log := h.log.With("source", s.Name)
	rev, err := h.fetcher.Fetch(ctx, s.Name, s.Repo, s.Branch)
	fetch := store.SourceFetch{Commit: s.Commit, FetchedAt: h.now().UTC()}
	if err != nil {
		h.metrics.fetches.WithLabelValues("error").Inc()
		fetch.Error = err.Error()
		log.Warn("fetching source failed", "err", err)
		if err := h.store.SetSourceFetch(ctx, s.Name, fetch); err != nil {
			log.Error("recording fetch", "err", err)
		}
		h.loadCached(ctx, s)
		return
	}
	h.metrics.fetches.WithLabelValues("ok").Inc()
	fetch.Commit = rev.Commit
	if err := h.store.SetSourceFetch(ctx, s.Name, fetch); err != nil {
		log.Error("recording fetch", "err", err)
		return
	}
	s.Commit = rev.Commit
	h.load(ctx, s, rev.Dir)
}

// loadCached loads the commit a source had before this hub started, from
// the fetcher's cache, so that an unreachable Git server after a restart
// does not hold back the manifests of every cluster it targets.
func (h *Hub) loadCached(ctx context.Context, s store.Source) {
	if s.Commit == "" || h.isLoaded(s) {
		return
	}
	h.mu.Lock()
	_, loadedBefore := h.loaded[s.Name]
	h.mu.Unlock()
	if loadedBefore {
		return // keep what this hub loaded itself
	}
	rev, err := h.fetcher.Cached(s.Name, s.Commit)
	if err != nil {
		h.log.Warn("no cached checkout to serve while the source is unreachable", "source", s.Name, "err", err)
		return
	}
	h.load(ctx, s, rev.Dir)
}

// load discovers the bundles of a source's checkout, keeps them, and
// recomputes manifests; nothing is done when that commit is loaded.
func (h *Hub) load(ctx context.Context, s store.Source, dir string) {
	log := h.log.With("source", s.Name)
	if h.isLoaded(s) {
		return
	}
	l, bundles, err := h.loadSource(s, dir)
	if err != nil {
		log.Error("discovering bundles", "commit", s.Commit, "err", err)
		return
	}
	if err := h.store.ReplaceBundles(ctx, s.Name, bundles); err != nil {
		log.Error("storing bundles", "err", err)
		return
	}
	h.mu.Lock()
	old := h.loaded[s.Name]
	h.loaded[s.Name] = l
	h.mu.Unlock()
	h.forgetRenders(l, old)
	log.Info("source loaded", "commit", s.Commit, "bundles", len(bundles))
	if err := h.recomputeTargeted(ctx, s.Name); err != nil {
		log.Error("computing manifests", "err", err)
	}
}

func (h *Hub) isLoaded(s store.Source) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.loaded[s.Name]
	return s.Commit != "" && l != nil && l.commit == s.Commit && l.def == renderKey(s)
}

// renderKey is what a source's bundles depend on besides the commit.
func renderKey(s store.Source) string {
	return s.Repo + "\x00" + strings.Join(s.Paths, "\x00")
}

// loadSource discovers the bundles of a checkout. A bundle whose fleet.yaml
// does not parse keeps its error; every other bundle is kept.
func (h *Hub) loadSource(s store.Source, dir string) (*loaded, []store.Bundle, error) {
	found, err := bundle.Discover(dir, s.Paths)
	if err != nil {
		return nil, nil, fmt.Errorf("discovering bundles: %w", err)
	}
	l := &loaded{commit: s.Commit, dir: dir, def: renderKey(s), bundles: map[string]bundle.Bundle{}}
	out := make([]store.Bundle, 0, len(found))
	for _, b := range found {
		name := bundle.Name(s.Name, b.Path)
		sb := store.Bundle{Name: name, Source: s.Name, Path: b.Path, Commit: s.Commit, Warnings: b.Warnings}
		if b.Err != nil {
			sb.Error = b.Err.Error()
		}
		l.bundles[name] = b
		out = append(out, sb)
	}
	slices.SortFunc(out, func(a, b store.Bundle) int { return strings.Compare(a.Name, b.Name) })
	return l, out, nil
}
