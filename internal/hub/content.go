package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"flotilla.io/flotilla/internal/wire"
)

// maxContents bounds the in-memory copies of manifest content kept for
// serving; the store holds every one.
const maxContents = 4096

// encoded is manifest content with its digest.
type encoded struct {
	content []byte
	digest  string
}

// contentFor returns the canonical content for refs and its digest, reusing
// the encoding of an identical set of refs computed earlier in the same pass
// (shape is a cheap description of refs): clusters of one group share it.
func contentFor(pass map[string]encoded, shape string, refs []wire.BundleRef) (encoded, error) {
	if e, ok := pass[shape]; ok {
		return e, nil
	}
	e, err := encode(refs)
	if err != nil {
		return encoded{}, err
	}
	pass[shape] = e
	return e, nil
}

// encode is contentFor without the pass's cache, for refs no other cluster
// shares.
func encode(refs []wire.BundleRef) (encoded, error) {
	c, err := wire.ManifestContent(refs)
	if err != nil {
		return encoded{}, err
	}
	return encoded{content: c, digest: wire.Hash(c)}, nil
}

// refShape describes a ref cheaply for contentFor: two refs with the same
// shape encode identically.
func refShape(b *strings.Builder, ref wire.BundleRef, renderKey string) {
	fmt.Fprintf(b, "%s\x00%s\x00%s\x00%s\x00%t\x00%s\x00", ref.Name, ref.Commit, renderKey, ref.Error, ref.Paused, strings.Join(ref.DependsOn, ","))
	if ref.Drift != nil {
		d, _ := json.Marshal(ref.Drift)
		b.Write(d)
	}
	b.WriteByte('\n')
}

// contentRefs returns the bundle refs manifest content holds.
func (h *Hub) contentRefs(ctx context.Context, digest string) ([]wire.BundleRef, error) {
	content, err := h.content(ctx, digest)
	if err != nil {
		return nil, err
	}
	var refs []wire.BundleRef
	if err := json.Unmarshal(content, &refs); err != nil {
		return nil, fmt.Errorf("decoding manifest content %.12s: %w", digest, err)
	}
	return refs, nil
}

// storeContent keeps content once by its digest.
func (h *Hub) storeContent(ctx context.Context, digest string, content []byte) error {
	h.mu.Lock()
	_, known := h.contents[digest]
	h.mu.Unlock()
	if known {
		return nil
	}
	if err := h.store.PutObjects(ctx, map[string][]byte{digest: content}); err != nil {
		return fmt.Errorf("storing manifest content: %w", err)
	}
	h.cacheContent(digest, content)
	return nil
}

func (h *Hub) cacheContent(digest string, content []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.contents) >= maxContents {
		for k := range h.contents { // evict one at random
			delete(h.contents, k)
			break
		}
	}
	h.contents[digest] = content
}

// content loads manifest content by digest.
func (h *Hub) content(ctx context.Context, digest string) ([]byte, error) {
	h.mu.Lock()
	c, ok := h.contents[digest]
	h.mu.Unlock()
	if ok {
		return c, nil
	}
	objs, err := h.store.GetObjects(ctx, []string{digest})
	if err != nil {
		return nil, fmt.Errorf("loading manifest content: %w", err)
	}
	c, ok = objs[digest]
	if !ok {
		return nil, fmt.Errorf("manifest content %.12s is missing from the store", digest)
	}
	h.cacheContent(digest, c)
	return c, nil
}
