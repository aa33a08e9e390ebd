package sim

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// fleet is what the virtual agents share: an intern table of object hashes
// (each agent keeps a sorted slice of small IDs, not 500 strings), the
// commit of each change, and when each agent applied each change.
type fleet struct {
	start time.Time // the clock origin of applied times

	mu       sync.RWMutex // guards ids, hashes, objects, commits, witness
	ids      map[string]uint32
	hashes   []string
	objects  map[uint32][]byte // canonical bytes, once per distinct object
	contents map[string][]byte // manifest contents by digest, shared by agents
	patched  map[string][]byte // resolved object patches by (base, hash, patch)
	commits  map[string]int    // commit -> change index
	witness  map[int]wire.Manifest
	witnessA int // the agent whose manifests are kept per change

	// applied[c][i] is when agent i applied change c, in nanoseconds since
	// start; 0 when it has not.
	applied [][]atomic.Int64
	counts  []atomic.Int64 // per change: agents that applied it

	violations atomic.Int64 // an older generation or change applied after a newer one
	errs       atomic.Int64 // failed requests and refused answers, retried
}

func newFleet(clusters, changes int) *fleet {
	f := &fleet{
		start:    time.Now(),
		ids:      map[string]uint32{},
		objects:  map[uint32][]byte{},
		contents: map[string][]byte{},
		patched:  map[string][]byte{},
		commits:  map[string]int{},
		witness:  map[int]wire.Manifest{},
		applied:  make([][]atomic.Int64, changes+1),
		counts:   make([]atomic.Int64, changes+1),
	}
	for c := range f.applied {
		f.applied[c] = make([]atomic.Int64, clusters)
	}
	return f
}

func (f *fleet) setCommit(commit string, change int) {
	f.mu.Lock()
	f.commits[commit] = change
	f.mu.Unlock()
}

// changeOf is the change a manifest carries: every bundle at the commit of
// one change, else -1.
func (f *fleet) changeOf(m wire.Manifest) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	change := -1
	for i, b := range m.Bundles {
		c, ok := f.commits[b.Commit]
		if !ok || b.Error != "" || (i > 0 && c != change) {
			return -1
		}
		change = c
	}
	return change
}

// intern maps hashes to IDs, adding the unknown ones.
func (f *fleet) intern(hs []string) []uint32 {
	out := make([]uint32, len(hs))
	f.mu.RLock()
	missing := false
	for i, h := range hs {
		id, ok := f.ids[h]
		if !ok {
			missing = true
			break
		}
		out[i] = id
	}
	f.mu.RUnlock()
	if !missing {
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, h := range hs {
		id, ok := f.ids[h]
		if !ok {
			id = uint32(len(f.hashes))
			f.hashes = append(f.hashes, h)
			f.ids[h] = id
		}
		out[i] = id
	}
	return out
}

// remember keeps the bytes of an object the first time any agent fetches it,
// for the full-bundle comparison.
func (f *fleet) remember(id uint32, data []byte) {
	f.mu.Lock()
	if _, ok := f.objects[id]; !ok {
		f.objects[id] = data
	}
	f.mu.Unlock()
}

// resolve rebuilds a shipped object as wire.ShippedObject.Resolve does,
// remembering the result of each patch: thousands of agents of one group
// get the same patch onto the same base, and a pure function of the same
// inputs gives the same verified bytes. The simulator's CPU is the hub's
// competition on one machine; a real agent patches its few objects itself.
func (f *fleet) resolve(so wire.ShippedObject, held func(string) ([]byte, bool)) ([]byte, error) {
	if so.Patch == nil {
		return so.Resolve(held)
	}
	if _, ok := held(so.Base); !ok {
		return so.Resolve(held) // fails: the agent lacks the base
	}
	key := so.Base + so.Hash + string(so.Patch)
	f.mu.RLock()
	data, ok := f.patched[key]
	f.mu.RUnlock()
	if ok {
		return data, nil
	}
	data, err := so.Resolve(held)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.patched[key] = data
	f.mu.Unlock()
	return data, nil
}

// keepContent interns manifest content and returns its digest: agents of
// one group hold the same content.
func (f *fleet) keepContent(c []byte) string {
	d := wire.Hash(c)
	f.mu.Lock()
	if _, ok := f.contents[d]; !ok {
		f.contents[d] = c
	}
	f.mu.Unlock()
	return d
}

// content is the manifest content of digest d, nil when unknown.
func (f *fleet) content(d string) []byte {
	if d == "" {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.contents[d]
}

func (f *fleet) object(h string) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.objects[f.ids[h]]
}

func (f *fleet) markApplied(agent, change int, at time.Time, m wire.Manifest) {
	if change < 0 || change >= len(f.applied) {
		return
	}
	if f.applied[change][agent].CompareAndSwap(0, int64(at.Sub(f.start))) {
		f.counts[change].Add(1)
	}
	if agent == f.witnessA {
		f.mu.Lock()
		f.witness[change] = m
		f.mu.Unlock()
	}
}

// appliedAt is when agent applied change, or false.
func (f *fleet) appliedAt(agent, change int) (time.Time, bool) {
	ns := f.applied[change][agent].Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return f.start.Add(time.Duration(ns)), true
}

// holds reports whether a sorted ID slice holds id.
func holds(held []uint32, id uint32) bool {
	_, ok := slices.BinarySearch(held, id)
	return ok
}
