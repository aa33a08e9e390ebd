package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/wire"
)

// updateFile is agent-update.json in the state directory: the release on
// trial and the outcome of the last update. The agent writes the trial
// before it hands over to its supervisor; the supervisor, which alone
// judges the trial, writes the outcome. They never write at once: the
// agent writes only while no trial is recorded.
const updateFile = "agent-update.json"

// maxFailed bounds the releases remembered as failed here.
const maxFailed = 16

// updateRecord is agent-update.json.
type updateRecord struct {
	// Trial is the release being tried, nil when none.
	Trial *trial `json:"trial,omitempty"`
	// Last is the outcome of the last update, reported to the hub.
	Last *wire.AgentUpdate `json:"last,omitempty"`
	// Failed are the digests of releases that failed here, newest last:
	// they are never tried again (push the build under a new version to
	// try it again).
	Failed []string `json:"failed,omitempty"`
}

// trial is a release handed to the supervisor to try.
type trial struct {
	Version string `json:"version"`
	Digest  string `json:"digest"`
	// From is the version it replaces.
	From    string    `json:"from"`
	Started time.Time `json:"started"`
	// Runs counts the supervisor's starts of the release: one that is
	// still on trial at the next supervisor start took its supervisor
	// down, and is rolled back without being started again.
	Runs int `json:"runs,omitempty"`
}

// loadUpdateRecord reads the record; a missing one is empty. A corrupt one
// is an error the caller reports: it then starts from an empty record,
// which at worst tries a failed release once more under supervision.
func loadUpdateRecord(dir string) (updateRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, updateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return updateRecord{}, nil
	}
	if err != nil {
		return updateRecord{}, fmt.Errorf("reading %s: %w", updateFile, err)
	}
	return parseUpdateRecord(data)
}

func parseUpdateRecord(data []byte) (updateRecord, error) {
	var r updateRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return updateRecord{}, fmt.Errorf("%s is corrupt: %w", updateFile, err)
	}
	if t := r.Trial; t != nil && (!wire.ValidHash(t.Digest) || t.Version == "") {
		return updateRecord{}, fmt.Errorf("%s is corrupt: its trial names no valid release", updateFile)
	}
	if len(r.Failed) > maxFailed {
		r.Failed = r.Failed[len(r.Failed)-maxFailed:]
	}
	return r, nil
}

func (r updateRecord) save(dir string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", updateFile, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, updateFile), data, 0o600); err != nil {
		return fmt.Errorf("keeping %s: %w", updateFile, err)
	}
	return nil
}

// failed reports whether the release of digest failed here before.
func (r updateRecord) failed(digest string) bool { return slices.Contains(r.Failed, digest) }

// fail records that the release on trial failed, and why.
func (r *updateRecord) fail(msg string, now time.Time) {
	t := r.Trial
	r.Trial = nil
	if t == nil {
		return
	}
	r.Failed = append(r.Failed, t.Digest)
	if len(r.Failed) > maxFailed {
		r.Failed = r.Failed[len(r.Failed)-maxFailed:]
	}
	r.Last = &wire.AgentUpdate{Version: t.Version, State: wire.UpdateFailed, Message: msg + "; back on " + t.From, Time: now.UTC()}
}
