package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/wire"
)

// maxTransitions bounds the transition log kept while the hub is away: the
// oldest are dropped first, the latest state per bundle is always kept.
const maxTransitions = 256

// outbox holds the status the hub has not acknowledged yet: the latest
// report (coalesced: one state per bundle) and a bounded log of the
// transitions that led to it. It is kept in status.json and written only
// when it changes, so an idle, connected agent writes nothing.
type outbox struct {
	path string
	// notify holds at most one pending wake-up for the sender.
	notify chan struct{}

	mu sync.Mutex // guards the following
	// latest is the last report produced; nil before the first.
	latest *wire.StatusReport
	// pending is true while latest has not been delivered.
	pending     bool
	transitions []wire.Transition
	// facts are sent with the next report when factsSent is false; they
	// are not kept on disk: the agent gathers them again at start.
	facts     *wire.Facts
	factsSent bool
	// update is the outcome of the last agent update, sent with every
	// report; updateSent is false until the hub took it once.
	update     *wire.AgentUpdate
	updateSent bool
	// applied is the digest of what was last applied, per bundle, so a
	// restart does not re-apply (and so undo the drift of) a bundle whose
	// drift is reported rather than corrected.
	applied map[string]string
}

// outboxFile is status.json.
type outboxFile struct {
	Latest      *wire.StatusReport `json:"latest,omitempty"`
	Pending     bool               `json:"pending"`
	Transitions []wire.Transition  `json:"transitions,omitempty"`
	Applied     map[string]string  `json:"applied,omitempty"`
}

// newOutbox returns an empty outbox kept in dir.
func newOutbox(dir string) *outbox {
	return &outbox{path: filepath.Join(dir, statusFile), notify: make(chan struct{}, 1)}
}

// openOutbox loads status.json from dir. A missing file is an empty
// outbox; an unreadable one is reported and replaced, since status is
// produced again by the next reconcile.
func openOutbox(dir string) (*outbox, error) {
	o := newOutbox(dir)
	data, err := os.ReadFile(o.path)
	if errors.Is(err, fs.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("reading %s: %w", statusFile, err)
	}
	var f outboxFile
	if err := json.Unmarshal(data, &f); err != nil {
		return o, fmt.Errorf("%s is corrupt, starting with no unsent status: %w", statusFile, err)
	}
	o.latest, o.pending, o.transitions, o.applied = f.Latest, f.Pending, f.Transitions, f.Applied
	// The bound put keeps holds for what was kept too: the log goes to the
	// hub, which refuses oversized reports.
	if n := len(o.transitions) - maxTransitions; n > 0 {
		o.transitions = slices.Delete(o.transitions, 0, n)
	}
	if o.pending {
		o.wake()
	}
	return o, nil
}

// put records a new report. Unchanged reports (time aside) change nothing
// and write nothing. Bundle state changes are logged as transitions.
func (o *outbox) put(r wire.StatusReport, now time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.latest != nil && sameReport(*o.latest, r) {
		return nil
	}
	o.transitions = append(o.transitions, transitions(o.latest, r, now)...)
	if n := len(o.transitions) - maxTransitions; n > 0 {
		o.transitions = slices.Delete(o.transitions, 0, n)
	}
	r.Time = now.UTC()
	o.latest, o.pending = &r, true
	o.wake()
	return o.saveLocked()
}

// setFacts records the cluster's facts; they go with the next report when
// they differ from the last ones given.
func (o *outbox) setFacts(f wire.Facts) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.facts != nil && reflect.DeepEqual(*o.facts, f) {
		return
	}
	o.facts, o.factsSent = &f, false
	if o.latest != nil {
		o.wake()
	}
}

// setUpdate records the outcome of an agent update; it goes with every
// report from now on, and wakes the sender when it changed. The same
// outcome said again (a refusal found again at a resync) is no change: it
// keeps the time it was first recorded at, and is not sent again.
func (o *outbox) setUpdate(u *wire.AgentUpdate) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.update != nil && o.update.Version == u.Version && o.update.State == u.State && o.update.Message == u.Message {
		return
	}
	o.update, o.updateSent = u, false
	if o.latest != nil {
		o.wake()
	}
}

// take returns the report to send, if there is anything to send.
func (o *outbox) take() (wire.StatusReport, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.latest == nil || (!o.pending && (o.factsSent || o.facts == nil) && (o.updateSent || o.update == nil)) {
		return wire.StatusReport{}, false
	}
	r := *o.latest
	r.AgentUpdate = o.update
	r.Transitions = slices.Clone(o.transitions)
	if !o.factsSent && o.facts != nil {
		f := *o.facts
		r.Facts = &f
	}
	return r, true
}

// delivered records that the hub acknowledged r.
func (o *outbox) delivered(r wire.StatusReport) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Facts != nil && o.facts != nil && reflect.DeepEqual(*r.Facts, *o.facts) {
		o.factsSent = true
	}
	if r.AgentUpdate != nil && o.update != nil && *r.AgentUpdate == *o.update {
		o.updateSent = true
	}
	changed := false
	if n := len(r.Transitions); n > 0 && n <= len(o.transitions) && reflect.DeepEqual(r.Transitions, o.transitions[:n]) {
		o.transitions = slices.Delete(o.transitions, 0, n)
		changed = true
	}
	if o.pending && o.latest != nil && o.latest.Time.Equal(r.Time) {
		o.pending = false
		changed = true
	}
	if !changed {
		return nil
	}
	return o.saveLocked()
}

func (o *outbox) saveLocked() error {
	data, err := json.Marshal(outboxFile{Latest: o.latest, Pending: o.pending, Transitions: o.transitions, Applied: o.applied})
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if err := atomicfile.Write(o.path, data, 0o600); err != nil {
		return fmt.Errorf("keeping unsent status: %w", err)
	}
	return nil
}

// appliedDigest is the digest recorded for bundle, "" when none.
func (o *outbox) appliedDigest(bundle string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.applied[bundle]
}

// setApplied records what is applied, per bundle; it writes only when
// that changed.
func (o *outbox) setApplied(digests map[string]string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if maps.Equal(o.applied, digests) {
		return nil
	}
	o.applied = maps.Clone(digests)
	return o.saveLocked()
}

func (o *outbox) wake() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// transitions lists the bundle state changes from prev to r.
func transitions(prev *wire.StatusReport, r wire.StatusReport, now time.Time) []wire.Transition {
	before := map[string]string{}
	if prev != nil {
		for _, b := range prev.Bundles {
			before[b.Name] = b.State
		}
	}
	var out []wire.Transition
	for _, b := range r.Bundles {
		if from, ok := before[b.Name]; !ok || from != b.State {
			out = append(out, wire.Transition{Bundle: b.Name, From: from, To: b.State, Message: b.Message, Time: now.UTC()})
		}
		delete(before, b.Name)
	}
	removed := make([]string, 0, len(before))
	for name := range before {
		removed = append(removed, name)
	}
	slices.Sort(removed)
	for _, name := range removed {
		out = append(out, wire.Transition{Bundle: name, From: before[name], Message: "bundle removed", Time: now.UTC()})
	}
	return out
}

func sameReport(a, b wire.StatusReport) bool {
	a.Time, b.Time = time.Time{}, time.Time{}
	a.Facts, b.Facts = nil, nil
	a.Transitions, b.Transitions = nil, nil
	return reflect.DeepEqual(a, b)
}
