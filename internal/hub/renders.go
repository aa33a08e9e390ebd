package hub

import (
	"context"
	"fmt"
	"strings"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/wire"
)

// loaded is a source's checkout at one commit with its parsed bundles,
// ready to render for any target.
type loaded struct {
	commit string
	repo   string
	dir    string
	// def is renderKey of the source definition it was loaded for.
	def     string
	bundles map[string]bundle.Bundle // by bundle name
	// byName marks bundles that resolve differently by cluster name.
	byName map[string]bool
}

// rendered is one render of one bundle: object hashes in apply order, or
// the error that stopped it.
type rendered struct {
	hashes []string
	err    string
}

// renderCache holds renders by bundle, then by commit and effective-options
// key: clusters that resolve to the same key share one render.
type renderCache map[string]map[string]rendered

func renderCacheKey(commit string, eff render.Effective) string {
	return commit + "/" + eff.Key()
}

// renderFor returns the render of b for eff, rendering on a miss. Callers
// hold manifestMu, so a key is rendered once however many clusters share it.
func (h *Hub) renderFor(ctx context.Context, l *loaded, name string, b bundle.Bundle, eff render.Effective) rendered {
	return h.renderKeyed(ctx, l, name, b, eff, renderCacheKey(l.commit, eff))
}

func (h *Hub) renderKeyed(ctx context.Context, l *loaded, name string, b bundle.Bundle, eff render.Effective, key string) rendered {
	shared := sharedRenderKey(l, key)
	h.mu.Lock()
	r, ok := h.renders[name][key]
	if !ok {
		// Another source over the same repository rendered the same
		// inputs: one render per group across sources, too.
		if r, ok = h.sharedRenders[shared]; ok {
			h.keepRender(name, key, r)
		}
	}
	h.mu.Unlock()
	if ok {
		return r
	}
	h.metrics.renders.Inc()
	r, ok = h.render(ctx, l, name, b, eff)
	if !ok {
		return r
	}
	h.mu.Lock()
	h.keepRender(name, key, r)
	h.sharedRenders[shared] = r
	h.mu.Unlock()
	return r
}

// sharedRenderKey names a render by what it reads: the checkout's
// repository and commit, and the effective options (which hold the bundle
// path and, for Helm, the release name).
func sharedRenderKey(l *loaded, key string) string {
	return l.repo + "\x00" + key
}

// keepRender records a render of bundle name; h.mu is held.
func (h *Hub) keepRender(name, key string, r rendered) {
	if h.renders[name] == nil {
		h.renders[name] = map[string]rendered{}
	}
	h.renders[name][key] = r
}

// render renders and stores the objects; ok is false when the failure is
// the hub's (storage), not the bundle's, so the result must not be cached.
func (h *Hub) render(ctx context.Context, l *loaded, name string, b bundle.Bundle, eff render.Effective) (r rendered, ok bool) {
	objs, err := render.RenderEffective(ctx, l.dir, b, eff, h.renderOpts)
	if err != nil {
		h.log.Warn("bundle failed to render", "bundle", name, "commit", l.commit, "err", err)
		return rendered{err: err.Error()}, true
	}
	hashes := make([]string, 0, len(objs))
	data := make(map[string][]byte, len(objs))
	for _, o := range objs {
		b, err := wire.Canonical(o.Object)
		if err != nil {
			return rendered{err: fmt.Sprintf("encoding %s %s: %v", o.GetKind(), o.GetName(), err)}, true
		}
		hash := wire.Hash(b)
		data[hash] = b
		hashes = append(hashes, hash)
	}
	if err := h.store.PutObjects(ctx, data); err != nil {
		h.log.Error("storing rendered objects", "bundle", name, "err", err)
		return rendered{err: "storing rendered objects failed; will retry"}, false
	}
	return rendered{hashes: hashes}, true
}

// forgetRenders drops the renders of bundles that are gone or moved to
// another commit.
func (h *Hub) forgetRenders(l *loaded, old *loaded) {
	if old == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range old.bundles {
		if _, still := l.bundles[name]; !still || old.commit != l.commit {
			delete(h.renders, name)
		}
	}
	// Shared renders live while some source has their commit loaded.
	live := map[string]bool{}
	for _, ld := range h.loaded {
		live[ld.repo+"\x00"+ld.commit+"/"] = true
	}
	for k := range h.sharedRenders {
		repo, rest, _ := strings.Cut(k, "\x00")
		commit, _, _ := strings.Cut(rest, "/")
		if !live[repo+"\x00"+commit+"/"] {
			delete(h.sharedRenders, k)
		}
	}
}

// renderSummary describes a bundle's renders at a commit for listings: the
// most objects any target got, and the first render error, if any.
func (h *Hub) renderSummary(name, commit string) (objects int, errMsg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, r := range h.renders[name] {
		if !strings.HasPrefix(key, commit+"/") {
			continue
		}
		objects = max(objects, len(r.hashes))
		if r.err != "" && errMsg == "" {
			errMsg = r.err
		}
	}
	return objects, errMsg
}
