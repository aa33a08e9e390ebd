package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"flotilla.io/flotilla/internal/wire"
)

// A shipment is what follows the envelope and signature in a manifest
// answer: the content (whole, or as a delta against the content the agent
// holds) and the objects the agent lacks. It depends only on the pair
// (held content, new content), so the thousands of clusters of one group
// that move together from one commit to the next share one shipment,
// computed once.

const (
	// maxShipObjectBytes bounds the objects shipped with one manifest; the
	// agent fetches the rest by hash.
	maxShipObjectBytes = 4 << 20
	// maxShipments bounds the shipments kept; each is about the size of
	// the objects that changed.
	maxShipments = 1024
)

type shipment struct {
	ready chan struct{} // closed when tail and err are set
	tail  ManifestTail
	err   error
}

// ManifestAnswer is the JSON of a wire.SignedManifest in two parts: Head,
// the cluster's own envelope and signature without the closing brace, and
// the Tail it shares with every cluster of its group.
type ManifestAnswer struct {
	Head []byte
	Tail ManifestTail
}

// ManifestTail is the shared part of manifest answers: JSON, and the same
// compressed once as a gzip member, to follow a gzip member of the Head
// (a gzip body may hold several members; readers concatenate them). After
// a commit thousands of answers share a tail: compressing it once, and not
// holding a compressor per answer while the network drains, is most of
// what serving them costs.
type ManifestTail struct {
	JSON, Gzip []byte
}

type shipments struct {
	mu sync.Mutex
	m  map[string]*shipment
}

// get returns the shipment for key, computing it with build at most once
// at a time; a failed build is not kept.
func (s *shipments) get(ctx context.Context, key string, build func() (ManifestTail, error)) (ManifestTail, error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*shipment{}
	}
	sh, ok := s.m[key]
	if !ok {
		if len(s.m) >= maxShipments {
			for k := range s.m { // evict one at random
				delete(s.m, k)
				break
			}
		}
		sh = &shipment{ready: make(chan struct{})}
		s.m[key] = sh
	}
	s.mu.Unlock()
	if !ok {
		sh.tail, sh.err = build()
		if sh.err != nil {
			s.mu.Lock()
			delete(s.m, key)
			s.mu.Unlock()
		}
		close(sh.ready)
	}
	select {
	case <-sh.ready:
		return sh.tail, sh.err
	case <-ctx.Done():
		return ManifestTail{}, ctx.Err()
	}
}

// manifestAnswer is what an agent receives for the stored manifest
// (signed, of content digest), given the content digest it holds (base,
// "" for none).
func (h *Hub) manifestAnswer(ctx context.Context, signed []byte, digest, base string) (ManifestAnswer, error) {
	var sm wire.SignedManifest
	if err := json.Unmarshal(signed, &sm); err != nil {
		return ManifestAnswer{}, fmt.Errorf("decoding stored manifest: %w", err)
	}
	head, err := json.Marshal(wire.SignedManifest{Payload: sm.Payload, Signature: sm.Signature})
	if err != nil {
		return ManifestAnswer{}, fmt.Errorf("encoding manifest: %w", err)
	}
	tail, err := h.shipments.get(ctx, base+"\x00"+digest, func() (ManifestTail, error) {
		// Others wait on this build: one agent leaving must not fail them.
		t, err := h.buildShipment(context.WithoutCancel(ctx), base, digest)
		if err != nil {
			return ManifestTail{}, err
		}
		z, err := gzipMember(t)
		return ManifestTail{JSON: t, Gzip: z}, err
	})
	if err != nil {
		return ManifestAnswer{}, err
	}
	return ManifestAnswer{Head: head[:len(head)-1], Tail: tail}, nil // the tail closes the object
}

// gzipMember compresses b as one gzip member.
func gzipMember(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("compressing manifest: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// buildShipment encodes `,"content":...,"objects":[...]}` (or "delta" in
// place of "content") for an agent moving from base to digest.
func (h *Hub) buildShipment(ctx context.Context, base, digest string) ([]byte, error) {
	content, err := h.content(ctx, digest)
	if err != nil {
		return nil, err
	}
	var held []byte
	// The same content under a new generation (a new agent release, a
	// reissue) is a delta of a few bytes against itself.
	if base != "" {
		if held, err = h.content(ctx, base); err != nil {
			// Content this hub never issued, or lost: send it whole.
			h.log.Debug("agent holds unknown content", "base", base, "err", err)
			held = nil
		}
	}
	var to, from []wire.BundleRef
	if err := json.Unmarshal(content, &to); err != nil {
		return nil, fmt.Errorf("decoding manifest content: %w", err)
	}
	if held != nil {
		if err := json.Unmarshal(held, &from); err != nil {
			return nil, fmt.Errorf("decoding held manifest content: %w", err)
		}
	}
	shipped, err := h.shipObjects(ctx, from, to)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	buf.WriteString(`,"content":`)
	buf.Write(content)
	if held != nil {
		d, err := wire.MakeDelta(held, content)
		if err != nil {
			return nil, err
		}
		if dj, err := json.Marshal(d); err == nil && len(dj) < len(content) {
			buf.Reset()
			buf.WriteString(`,"delta":`)
			buf.Write(dj)
		}
	}
	if len(shipped) > 0 {
		oj, err := json.Marshal(shipped)
		if err != nil {
			return nil, fmt.Errorf("encoding shipped objects: %w", err)
		}
		buf.WriteString(`,"objects":`)
		buf.Write(oj)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// shipObjects returns the objects of to that from does not name, each as a
// merge patch onto the object at the same place in from when that is
// smaller, up to maxShipObjectBytes.
func (h *Hub) shipObjects(ctx context.Context, from, to []wire.BundleRef) ([]wire.ShippedObject, error) {
	held := map[string]bool{}
	prev := map[string][]string{} // from's objects by bundle
	for _, b := range from {
		prev[b.Name] = b.Objects
		for _, o := range b.Objects {
			held[o] = true
		}
	}
	var want []string
	baseOf := map[string]string{} // a wanted object's predecessor
	seen := map[string]bool{}
	for _, b := range to {
		for i, o := range b.Objects {
			if held[o] || seen[o] {
				continue
			}
			seen[o] = true
			want = append(want, o)
			if p := prev[b.Name]; i < len(p) {
				baseOf[o] = p[i]
			}
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	load := append([]string(nil), want...)
	for _, b := range baseOf {
		load = append(load, b)
	}
	objs, err := h.store.GetObjects(ctx, load)
	if err != nil {
		return nil, fmt.Errorf("loading objects to ship: %w", err)
	}
	var out []wire.ShippedObject
	size := 0
	for _, o := range want {
		data, ok := objs[o]
		if !ok {
			continue // the agent asks for it and hears why
		}
		so := wire.ShippedObject{Hash: o, Data: data}
		if b, ok := objs[baseOf[o]]; ok {
			if p, ok := wire.DiffObject(b, data); ok && len(p) < len(data) {
				so = wire.ShippedObject{Hash: o, Base: baseOf[o], Patch: p}
			}
		}
		size += len(so.Data) + len(so.Patch)
		if size > maxShipObjectBytes {
			break
		}
		out = append(out, so)
	}
	return out, nil
}
