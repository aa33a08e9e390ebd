package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
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
		if s.FetchedAt.IsZero() || now.Sub(s.FetchedAt) >= s.Poll || !h.isRendered(s) {
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
// renders its bundles and recomputes every manifest.
func (h *Hub) sync(ctx context.Context, s store.Source) {
	log := h.log.With("source", s.Name)
	rev, err := h.fetcher.Fetch(ctx, s.Name, s.Repo, s.Branch)
	fetch := store.SourceFetch{Commit: s.Commit, FetchedAt: h.now().UTC()}
	if err != nil {
		fetch.Error = err.Error()
		log.Warn("fetching source failed", "err", err)
		if err := h.store.SetSourceFetch(ctx, s.Name, fetch); err != nil {
			log.Error("recording fetch", "err", err)
		}
		return
	}
	fetch.Commit = rev.Commit
	if err := h.store.SetSourceFetch(ctx, s.Name, fetch); err != nil {
		log.Error("recording fetch", "err", err)
		return
	}
	s.Commit = rev.Commit
	if h.isRendered(s) {
		return
	}
	bundles, err := h.renderSource(ctx, s, rev.Dir)
	if err != nil {
		log.Error("rendering source", "commit", rev.Commit, "err", err)
		return
	}
	if err := h.store.ReplaceBundles(ctx, s.Name, bundles); err != nil {
		log.Error("storing bundles", "err", err)
		return
	}
	h.mu.Lock()
	h.rendered[s.Name] = renderKey(s)
	h.mu.Unlock()
	log.Info("source rendered", "commit", rev.Commit, "bundles", len(bundles))
	if err := h.recomputeAll(ctx); err != nil {
		log.Error("computing manifests", "err", err)
	}
}

func (h *Hub) isRendered(s store.Source) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return s.Commit != "" && h.rendered[s.Name] == renderKey(s)
}

// renderKey is what a source's rendered bundles depend on.
func renderKey(s store.Source) string {
	return s.Commit + "\x00" + s.Repo + "\x00" + strings.Join(s.Paths, "\x00")
}

// renderSource discovers and renders the bundles of a checkout. A bundle that
// fails keeps its error and every other bundle is rendered.
func (h *Hub) renderSource(ctx context.Context, s store.Source, dir string) ([]store.Bundle, error) {
	found, err := bundle.Discover(dir, s.Paths)
	if err != nil {
		return nil, fmt.Errorf("discovering bundles: %w", err)
	}
	out := make([]store.Bundle, 0, len(found))
	objects := map[string][]byte{}
	for _, b := range found {
		sb := store.Bundle{Name: bundle.Name(s.Name, b.Path), Source: s.Name, Path: b.Path, Commit: s.Commit, Warnings: b.Warnings}
		if b.Err != nil {
			sb.Error = b.Err.Error()
			out = append(out, sb)
			continue
		}
		objs, err := render.Render(ctx, dir, b)
		if err != nil {
			sb.Error = err.Error()
			h.log.Warn("bundle failed to render", "source", s.Name, "bundle", sb.Name, "err", err)
			out = append(out, sb)
			continue
		}
		for _, o := range objs {
			data, err := wire.Canonical(o.Object)
			if err != nil {
				sb.Error = fmt.Sprintf("encoding %s %s: %v", o.GetKind(), o.GetName(), err)
				sb.Objects = nil
				break
			}
			hash := wire.Hash(data)
			objects[hash] = data
			sb.Objects = append(sb.Objects, hash)
		}
		out = append(out, sb)
	}
	slices.SortFunc(out, func(a, b store.Bundle) int { return strings.Compare(a.Name, b.Name) })
	if err := h.store.PutObjects(ctx, objects); err != nil {
		return nil, fmt.Errorf("storing objects: %w", err)
	}
	return out, nil
}
