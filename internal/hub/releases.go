package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// elfMachines is the ELF machine of each release arch: a build for
// another is refused at push, before any agent could be asked to run it.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// PushRelease keeps an agent build, signed with the hub's key, and targets
// it like a source: clusters that match a target selector or belong to a
// target group, and whose agent runs on the build's arch, get it named in
// their next manifest. Pushing the same build under the same version
// again retargets it and makes it the newest.
func (h *Hub) PushRelease(ctx context.Context, spec wire.ReleaseSpec, binary []byte) (wire.ReleaseInfo, error) {
	if err := checkTargets("release "+spec.Version, spec.Targets, spec.TargetGroups); err != nil {
		return wire.ReleaseInfo{}, err
	}
	rel := wire.AgentRelease{Version: spec.Version, Arch: spec.Arch, Digest: wire.Hash(binary), Size: int64(len(binary))}
	if err := rel.Check(); err != nil {
		return wire.ReleaseInfo{}, errorf(Invalid, "refusing agent release: %v", err)
	}
	if err := checkELF(binary, spec.Arch); err != nil {
		return wire.ReleaseInfo{}, errorf(Invalid, "refusing agent release %s: %v", spec.Version, err)
	}
	signed, err := wire.SignRelease(h.key, rel)
	if err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("signing agent release: %w", err)
	}
	signedJSON, err := json.Marshal(signed)
	if err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("encoding agent release: %w", err)
	}
	// The bytes first: a release is never listed without them.
	whole, err := gzipBest(binary)
	if err != nil {
		return wire.ReleaseInfo{}, err
	}
	if err := h.store.PutReleaseBlob(ctx, gzipKey(rel.Digest), whole); err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("storing agent release: %w", err)
	}
	r := store.Release{Version: rel.Version, Arch: rel.Arch, Digest: rel.Digest, Size: rel.Size, Signed: signedJSON,
		Targets: spec.Targets, TargetGroups: spec.TargetGroups, CreatedAt: h.now().UTC()}
	if err := h.store.PutRelease(ctx, r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return wire.ReleaseInfo{}, errorf(Conflict, "agent release %s for %s exists as another build: a version names one build, push this one under a new version", rel.Version, rel.Arch)
		}
		return wire.ReleaseInfo{}, fmt.Errorf("storing agent release: %w", err)
	}
	h.log.Info("agent release pushed", "version", rel.Version, "arch", rel.Arch, "digest", rel.Digest[:12], "bytes", rel.Size, "gzip", len(whole), "targets", spec.Targets, "targetGroups", spec.TargetGroups)
	h.queue.markAll()
	if err := h.prepareDeltas(ctx, r); err != nil {
		h.log.Warn("preparing agent release deltas", "version", rel.Version, "err", err)
	}
	return releaseInfo(r), nil
}

// checkELF refuses a build that is not a Linux executable for arch.
func checkELF(binary []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF file of type %s is not an executable", f.Type)
	}
	if f.Machine != elfMachines[arch] {
		return fmt.Errorf("built for %s, not %s (%s)", f.Machine, arch, elfMachines[arch])
	}
	return nil
}

func gzipBest(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("compressing agent release: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing agent release: %w", err)
	}
	return buf.Bytes(), nil
}

// Releases lists agent releases, oldest first, with how many clusters
// want and run each.
func (h *Hub) Releases(ctx context.Context) ([]wire.ReleaseInfo, error) {
	rs, err := h.store.ListReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing agent releases: %w", err)
	}
	heads, err := h.store.ListManifestHeads(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing manifests: %w", err)
	}
	cs, err := h.store.ListClusters(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	keys, err := h.store.ListReleaseBlobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing agent release blobs: %w", err)
	}
	version := map[string]string{} // by digest
	for _, r := range rs {
		version[r.Digest] = r.Version
	}
	out := make([]wire.ReleaseInfo, 0, len(rs))
	for _, r := range rs {
		info := releaseInfo(r)
		for _, c := range cs {
			if heads[c.ID].Agent == r.Digest {
				info.Clusters++
				if a := agentInfo(c); a != nil && a.Version == r.Version && a.Arch == r.Arch {
					info.Running++
				}
			}
		}
		for _, k := range keys {
			if from, ok := deltaFrom(k, r.Digest); ok && version[from] != "" {
				info.Deltas = append(info.Deltas, version[from])
			}
		}
		slices.Sort(info.Deltas)
		out = append(out, info)
	}
	return out, nil
}

func releaseInfo(r store.Release) wire.ReleaseInfo {
	return wire.ReleaseInfo{
		AgentRelease: wire.AgentRelease{Version: r.Version, Arch: r.Arch, Digest: r.Digest, Size: r.Size},
		Targets:      r.Targets, TargetGroups: r.TargetGroups, CreatedAt: r.CreatedAt,
	}
}

// agentInfo is what the cluster's agent says of itself, nil when it has
// not said (before its first report, or an agent of protocol 1).
func agentInfo(c store.Cluster) *wire.AgentInfo {
	if len(c.Facts) == 0 {
		return nil
	}
	var f wire.Facts
	if json.Unmarshal(c.Facts, &f) != nil {
		return nil
	}
	return f.Agent
}

// targetRelease is a release with its targets parsed, for a pass.
type targetRelease struct {
	r         store.Release
	signed    *wire.SignedRelease
	selectors []labels.Selector
	groups    []labels.Selector
}

// loadReleases parses the releases for targeting, newest first.
func (h *Hub) loadReleases(ctx context.Context, allGroups map[string]labels.Selector) ([]targetRelease, error) {
	rs, err := h.store.ListReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing agent releases: %w", err)
	}
	out := make([]targetRelease, 0, len(rs))
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		tr := targetRelease{r: r, signed: &wire.SignedRelease{}}
		if err := json.Unmarshal(r.Signed, tr.signed); err != nil {
			h.log.Error("stored agent release does not decode", "version", r.Version, "arch", r.Arch, "err", err)
			continue
		}
		tr.selectors, tr.groups = h.parseTargets("release "+r.Version+" "+r.Arch, r.Targets, r.TargetGroups, allGroups)
		out = append(out, tr)
	}
	return out, nil
}

// releaseFor is the newest release that targets c and is built for the
// arch its agent runs on; nil when none (or the agent has not said).
// Without releases it reads nothing of c.
func (t targets) releaseFor(c store.Cluster) *targetRelease {
	if len(t.releases) == 0 {
		return nil
	}
	a := agentInfo(c)
	if a == nil || a.Arch == "" {
		return nil
	}
	set := labels.Set(clusterLabels(c))
	for i := range t.releases {
		tr := &t.releases[i]
		if tr.r.Arch == a.Arch && (matchesAny(tr.selectors, set) || matchesAny(tr.groups, set)) {
			return tr
		}
	}
	return nil
}

// digest is the release's digest, "" for none.
func (tr *targetRelease) digest() string {
	if tr == nil {
		return ""
	}
	return tr.r.Digest
}
