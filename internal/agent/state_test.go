package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"flotilla.io/flotilla/internal/wire"
)

// keepGeneration stores what hub serves now as the kept manifest.
func keepGeneration(t *testing.T, h *fakeHub, s store, id *identity) {
	t.Helper()
	h.mu.Lock()
	sm := *h.man
	objs := h.objs
	h.mu.Unlock()
	m, err := wire.VerifyManifest(id.pub, sm, id.ClusterID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.putObjects(objs, s.missing(m)); err != nil {
		t.Fatal(err)
	}
	keepManifest(t, s, sm)
}

// keepManifest keeps sm as the agent does once it accepted it.
func keepManifest(t testing.TB, s store, sm wire.SignedManifest) {
	t.Helper()
	data, err := encodeManifest(sm)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.putManifest(data); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFallsBackToPreviousGoodCopy(t *testing.T) {
	tests := []struct {
		name string
		// spoil damages the state directory after generations 1 and 2 were kept.
		spoil   func(t *testing.T, s store, h *fakeHub)
		wantGen int64
		// wantProblem is in the reported problem; empty for none.
		wantProblem string
	}{
		{"intact", func(*testing.T, store, *fakeHub) {}, 2, ""},
		{"truncated", func(t *testing.T, s store, _ *fakeHub) {
			p := filepath.Join(s.dir, manifestFile)
			data, _ := os.ReadFile(p)
			writeFile(t, p, data[:len(data)/2])
		}, 1, "manifest.json is corrupt or truncated"},
		{"empty", func(t *testing.T, s store, _ *fakeHub) {
			writeFile(t, filepath.Join(s.dir, manifestFile), nil)
		}, 1, "corrupt or truncated"},
		{"bit flipped in the payload", func(t *testing.T, s store, _ *fakeHub) {
			p := filepath.Join(s.dir, manifestFile)
			var sm wire.SignedManifest
			data, _ := os.ReadFile(p)
			if err := json.Unmarshal(data, &sm); err != nil {
				t.Fatal(err)
			}
			sm.Payload[len(sm.Payload)/2] ^= 0x01
			data, _ = json.Marshal(sm)
			writeFile(t, p, data)
		}, 1, "manifest.json fails verification"},
		{"wrong signature", func(t *testing.T, s store, h *fakeHub) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			h.mu.Lock()
			h.key = other
			h.mu.Unlock()
			h.serve(t, "c1", 3, configMap("a", "forged"))
			h.mu.Lock()
			data, _ := json.Marshal(h.man)
			h.mu.Unlock()
			writeFile(t, filepath.Join(s.dir, manifestFile), data)
		}, 1, "signature"},
		{"object bit flipped", func(t *testing.T, s store, h *fakeHub) {
			// Generation 2's own object: "a" with value "2".
			for hash, data := range h.objs {
				if strings.Contains(string(data), `"2"`) {
					data = append([]byte(nil), data...)
					data[len(data)-3] ^= 0x01
					writeFile(t, s.objectPath(hash), data)
				}
			}
		}, 1, "is corrupt"},
		{"current missing (crash between rename and write)", func(t *testing.T, s store, _ *fakeHub) {
			if err := os.Remove(filepath.Join(s.dir, manifestFile)); err != nil {
				t.Fatal(err)
			}
		}, 1, ""},
		{"both spoiled", func(t *testing.T, s store, _ *fakeHub) {
			writeFile(t, filepath.Join(s.dir, manifestFile), []byte("{"))
			writeFile(t, filepath.Join(s.dir, prevManifestFile), []byte("garbage"))
		}, 0, "waiting for the hub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t)
			dir := t.TempDir()
			h.enrollInto(t, dir, "c1")
			id, err := loadIdentity(dir)
			if err != nil {
				t.Fatal(err)
			}
			s := store{dir: dir}
			h.serve(t, "c1", 1, configMap("a", "1"))
			keepGeneration(t, h, s, id)
			h.serve(t, "c1", 2, configMap("a", "2"))
			keepGeneration(t, h, s, id)

			tc.spoil(t, s, h)
			got := s.load(id)
			var gen int64
			if got.desired != nil {
				gen = got.desired.manifest.Generation
			}
			if gen != tc.wantGen {
				t.Errorf("loaded generation %d, want %d", gen, tc.wantGen)
			}
			switch {
			case tc.wantProblem == "" && got.problem != nil:
				t.Errorf("problem = %v, want none", got.problem)
			case tc.wantProblem != "" && (got.problem == nil || !strings.Contains(got.problem.Error(), tc.wantProblem)):
				t.Errorf("problem = %v, want one mentioning %q", got.problem, tc.wantProblem)
			}
		})
	}
}

func TestGCKeepsPreviousObjects(t *testing.T) {
	h := newFakeHub(t)
	dir := t.TempDir()
	h.enrollInto(t, dir, "c1")
	id, err := loadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := store{dir: dir}
	for gen, v := range []string{"1", "2", "3"} {
		h.serve(t, "c1", int64(gen+1), configMap("a", v))
		keepGeneration(t, h, s, id)
	}
	cur := s.load(id).desired
	if err := s.gc(cur); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, objectsDir))
	if len(entries) != 2 {
		t.Errorf("%d objects kept after gc, want 2 (current and previous)", len(entries))
	}
	if err := os.Remove(filepath.Join(dir, manifestFile)); err != nil {
		t.Fatal(err)
	}
	if got := s.load(id); got.desired == nil || got.desired.manifest.Generation != 2 {
		t.Errorf("previous copy unusable after gc: %+v", got)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
