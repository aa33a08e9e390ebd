package hubserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"debug/elf"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/bindelta"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

// fakeELF is a minimal ELF executable header for machine, followed by
// payload: enough for the hub's check, nothing that runs.
func fakeELF(machine elf.Machine, payload string) []byte {
	h := make([]byte, 64)
	copy(h, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le := binary.LittleEndian
	le.PutUint16(h[16:], uint16(elf.ET_EXEC))
	le.PutUint16(h[18:], uint16(machine))
	le.PutUint32(h[20:], 1)
	le.PutUint16(h[52:], 64) // header size
	le.PutUint16(h[54:], 56) // program header entry size
	le.PutUint16(h[58:], 64) // section header entry size
	return append(h, payload...)
}

func reportAgent(t *testing.T, a *hubclient.Agent, version, arch string) {
	t.Helper()
	err := a.Status(context.Background(), wire.StatusReport{Bundles: []wire.BundleStatus{}, Time: time.Now(),
		Facts: &wire.Facts{Arch: arch, Agent: &wire.AgentInfo{Version: version, Arch: arch}}})
	if err != nil {
		t.Fatal(err)
	}
}

// wantedRelease waits for the cluster's manifest to name a release (or
// none, for "").
func wantedRelease(t *testing.T, a *hubclient.Agent, version string) *wire.AgentRelease {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		sm, err := a.Manifest(context.Background(), 0, "")
		if err != nil || sm == nil {
			t.Fatalf("manifest: %v %v", sm, err)
		}
		m, err := wire.DecodeManifest(*sm)
		if err != nil {
			t.Fatal(err)
		}
		var got *wire.AgentRelease
		if m.Agent != nil {
			r, err := wire.DecodeRelease(*m.Agent)
			if err != nil {
				t.Fatal(err)
			}
			got = &r
		}
		if (got == nil && version == "") || (got != nil && got.Version == version) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("manifest names release %+v, want %q", got, version)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func download(t *testing.T, a *hubclient.Agent, digest, from string) (string, []byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc, _, err := a.DownloadRelease(context.Background(), digest, from, &buf, wire.MaxReleaseSize)
	return enc, buf.Bytes(), err
}

// TestAgentReleases pushes agent builds through the real hub: targeting
// by labels and by the arch the agent reports, the manifest naming the
// release with a signature the agent verifies, downloads whole and as a
// delta, refusals at push and at download, and what the lists show.
func TestAgentReleases(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	dev, resp := enroll(t, h, "dev-1", map[string]string{"env": "dev"})
	devID := resp.ClusterID
	rawKey, err := base64.StdEncoding.DecodeString(resp.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(rawKey)
	prod, _ := enrollAgent(t, h, "prod-1", map[string]string{"env": "prod"})
	reportAgent(t, dev, "v0", "arm64")
	reportAgent(t, prod, "v0", "amd64")

	// Code compresses poorly; consecutive builds differ in a few places.
	code := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range code {
		code[i] = byte(r.Uint32())
	}
	v1 := fakeELF(elf.EM_AARCH64, "agent build one: "+string(code))
	code[1000], code[40000] = code[1000]+1, code[40000]+1
	v2 := fakeELF(elf.EM_AARCH64, "agent build two: "+string(code))
	info, err := h.op.PushRelease(ctx, wire.ReleaseSpec{Version: "v1", Arch: "arm64", Targets: []string{"env in (dev,prod)"}}, v1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != wire.Hash(v1) || info.Size != int64(len(v1)) {
		t.Errorf("pushed %+v", info)
	}
	// prod's agent runs on amd64: an arm64 build is not for it.
	rel := wantedRelease(t, dev, "v1")
	wantedRelease(t, prod, "")

	// The manifest's release verifies with the hub's key.
	sm, _ := dev.Manifest(ctx, 0, "")
	m, _ := wire.DecodeManifest(*sm)
	if _, err := wire.VerifyRelease(pub, *m.Agent, "arm64"); err != nil {
		t.Errorf("verifying the manifest's release: %v", err)
	}
	if _, err := wire.VerifyRelease(pub, *m.Agent, "amd64"); !errors.Is(err, wire.ErrReleaseArch) {
		t.Errorf("verifying for amd64 = %v, want ErrReleaseArch", err)
	}

	enc, body, err := download(t, dev, rel.Digest, "")
	if err != nil || enc != wire.ReleaseGzip {
		t.Fatalf("download = %s, %v", enc, err)
	}
	if got := gunzipAll(t, body); !bytes.Equal(got, v1) {
		t.Error("the whole download is not the build")
	}
	var he *hubclient.Error
	if _, _, err := download(t, prod, rel.Digest, ""); !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Errorf("prod downloading dev's release = %v, want 404", err)
	}

	// v2 comes as a delta from v1, which the hub holds.
	h.clock.advance(time.Second)
	if _, err := h.op.PushRelease(ctx, wire.ReleaseSpec{Version: "v2", Arch: "arm64", TargetGroups: []string{"devs"}, Targets: []string{"env=dev"}}, v2); err != nil {
		t.Fatal(err)
	}
	rel2 := wantedRelease(t, dev, "v2")
	enc, body, err = download(t, dev, rel2.Digest, rel.Digest)
	if err != nil || enc != wire.ReleaseDelta {
		t.Fatalf("download from v1 = %s, %v; want a delta", enc, err)
	}
	var out bytes.Buffer
	if _, err := bindelta.Apply(&out, bytes.NewReader(v1), int64(len(v1)), bytes.NewReader(body), int64(len(body)), rel2.Size); err != nil || !bytes.Equal(out.Bytes(), v2) {
		t.Errorf("the delta does not make v2 (%v)", err)
	}
	t.Logf("v1 -> v2: %d bytes as a delta", len(body))
	// From a build the hub does not hold: whole.
	if enc, _, err := download(t, dev, rel2.Digest, wire.Hash([]byte("unknown"))); err != nil || enc != wire.ReleaseGzip {
		t.Errorf("download from an unknown build = %s, %v; want gzip", enc, err)
	}

	refusals := []struct {
		name   string
		spec   wire.ReleaseSpec
		binary []byte
		status int
	}{
		{"wrong machine", wire.ReleaseSpec{Version: "v3", Arch: "amd64"}, v1, http.StatusBadRequest},
		{"not ELF", wire.ReleaseSpec{Version: "v3", Arch: "arm64"}, []byte("#!/bin/sh\n"), http.StatusBadRequest},
		{"bad version", wire.ReleaseSpec{Version: "v 3", Arch: "arm64"}, v2, http.StatusBadRequest},
		{"bad arch", wire.ReleaseSpec{Version: "v3", Arch: "riscv64"}, v2, http.StatusBadRequest},
		{"bad target", wire.ReleaseSpec{Version: "v3", Arch: "arm64", Targets: []string{"a in ("}}, v2, http.StatusBadRequest},
		{"empty", wire.ReleaseSpec{Version: "v3", Arch: "arm64"}, nil, http.StatusBadRequest},
		{"same version, other build", wire.ReleaseSpec{Version: "v1", Arch: "arm64"}, v2, http.StatusConflict},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.op.PushRelease(ctx, tc.spec, tc.binary)
			var he *hubclient.Error
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Fatalf("push = %v, want %d", err, tc.status)
			}
			t.Logf("refused: %v", err)
		})
	}

	rs, err := h.op.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Version != "v1" || rs[1].Version != "v2" || rs[1].Clusters != 1 || rs[0].Clusters != 0 {
		t.Errorf("releases = %+v", rs)
	}
	if len(rs) == 2 && (len(rs[1].Deltas) != 1 || rs[1].Deltas[0] != "v1") {
		t.Errorf("v2 has deltas from %v, want v1", rs[1].Deltas)
	}
	cs, err := h.op.Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == devID && (c.AgentVersion != "v0" || c.DesiredAgentVersion != "v2") {
			t.Errorf("dev-1 agent %q desired %q, want v0 and v2", c.AgentVersion, c.DesiredAgentVersion)
		}
	}
}

func gunzipAll(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
