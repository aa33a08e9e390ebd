package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// maxUpdateMessage bounds the message of an agent update outcome.
const maxUpdateMessage = 4096

// ReportStatus records what a cluster's agent reports.
func (h *Hub) ReportStatus(ctx context.Context, clusterID string, r wire.StatusReport) error {
	if r.AppliedGeneration < 0 || r.AppliedGeneration >= maxGeneration {
		return errorf(Invalid, "applied generation %d is out of range", r.AppliedGeneration)
	}
	for _, b := range r.Bundles {
		if !knownState(b.State) {
			return errorf(Invalid, "bundle %s: unknown state %q", b.Name, b.State)
		}
	}
	if u := r.AgentUpdate; u != nil {
		switch {
		case u.State != wire.UpdateDone && u.State != wire.UpdateFailed && u.State != wire.UpdateRefused:
			return errorf(Invalid, "agent update: unknown state %q", u.State)
		case len(u.Version) > maxFactString || len(u.Message) > maxUpdateMessage:
			return errorf(Invalid, "agent update: version or message too long")
		}
	}
	if r.Facts != nil {
		if err := h.recordFacts(ctx, clusterID, *r.Facts); err != nil {
			return err
		}
		// Facts live with the cluster; the stored report need not repeat them.
		r.Facts = nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if err := h.statuses.put(ctx, h.store, store.ClusterStatus{ClusterID: clusterID, Report: data, ReceivedAt: h.now().UTC()}); err != nil {
		return fmt.Errorf("storing status: %w", err)
	}
	m, err := h.store.GetManifest(ctx, clusterID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("loading manifest: %w", err)
	}
	if r.AppliedGeneration > m.Generation {
		// The agent applied a generation this hub does not have (it was
		// restored from an older backup): the same content issued above
		// it lets the cluster follow the hub again.
		h.log.Warn("agent is ahead of the hub, reissuing", "cluster", clusterID, "applied", r.AppliedGeneration, "generation", m.Generation)
		h.queue.markClusters(r.AppliedGeneration, clusterID)
	}
	return nil
}

func knownState(s string) bool {
	for _, k := range wire.States {
		if k == s {
			return true
		}
	}
	return false
}

// statusView joins clusters with their manifests and reports.
type statusView struct {
	clusters []store.Cluster
	desired  map[string]int64
	reports  map[string]wire.StatusReport
	// agents is the version of the agent release each cluster's manifest
	// names, by cluster ID.
	agents map[string]string
}

func (h *Hub) loadStatusView(ctx context.Context) (statusView, error) {
	cs, err := h.store.ListClusters(ctx)
	if err != nil {
		return statusView{}, fmt.Errorf("listing clusters: %w", err)
	}
	v := statusView{clusters: cs, desired: map[string]int64{}, reports: map[string]wire.StatusReport{}, agents: map[string]string{}}
	heads, err := h.store.ListManifestHeads(ctx)
	if err != nil {
		return statusView{}, fmt.Errorf("listing manifests: %w", err)
	}
	rs, err := h.store.ListReleases(ctx)
	if err != nil {
		return statusView{}, fmt.Errorf("listing agent releases: %w", err)
	}
	version := map[string]string{}
	for _, r := range rs {
		version[r.Digest] = r.Version
	}
	for _, c := range cs {
		v.desired[c.ID] = heads[c.ID].Generation
		if d := heads[c.ID].Agent; d != "" {
			v.agents[c.ID] = version[d]
		}
	}
	sts, err := h.store.ListStatuses(ctx)
	if err != nil {
		return statusView{}, fmt.Errorf("listing statuses: %w", err)
	}
	for _, s := range sts {
		var r wire.StatusReport
		if err := json.Unmarshal(s.Report, &r); err != nil {
			h.log.Error("stored status does not decode", "cluster", s.ClusterID, "err", err)
			continue
		}
		v.reports[s.ClusterID] = r
	}
	return v, nil
}

// Clusters lists clusters with their state.
func (h *Hub) Clusters(ctx context.Context) ([]wire.ClusterInfo, error) {
	v, err := h.loadStatusView(ctx)
	if err != nil {
		return nil, err
	}
	now := h.now()
	out := make([]wire.ClusterInfo, 0, len(v.clusters))
	for _, c := range v.clusters {
		r, reported := v.reports[c.ID]
		lastSeen := h.lastSeen(c)
		info := wire.ClusterInfo{
			ID:                c.ID,
			Name:              c.Name,
			Labels:            c.Labels,
			Connected:         h.waiters.polling(c.ID) || (!lastSeen.IsZero() && now.Sub(lastSeen) < h.longPoll+15*time.Second),
			DesiredGeneration: v.desired[c.ID],
			AppliedGeneration: r.AppliedGeneration,
			Bundles:           r.Bundles,

			DesiredAgentVersion: v.agents[c.ID],
			AgentUpdate:         r.AgentUpdate,
		}
		if a := agentInfo(c); a != nil {
			info.AgentVersion = a.Version
		}
		if info.Labels == nil {
			info.Labels = map[string]string{}
		}
		if info.Bundles == nil {
			info.Bundles = []wire.BundleStatus{}
		}
		if !lastSeen.IsZero() {
			t := lastSeen
			info.LastSeen = &t
			if !info.Connected {
				info.DisconnectedSince = &t
			}
		}
		if len(c.Facts) > 0 {
			var f wire.Facts
			if json.Unmarshal(c.Facts, &f) == nil {
				info.Facts = &f
			}
		}
		info.State, info.Message = clusterState(reported, r, info.DesiredGeneration)
		out = append(out, info)
	}
	return out, nil
}

// clusterState summarises a cluster as its worst bundle, as Fleet does.
func clusterState(reported bool, r wire.StatusReport, desired int64) (state, msg string) {
	switch {
	case !reported:
		return wire.StatePending, "agent has not reported yet"
	case r.Error != "":
		return wire.StateErrApplied, r.Error
	case r.AppliedGeneration < desired:
		return wire.StateWaitApplied, fmt.Sprintf("applied generation %d, desired %d", r.AppliedGeneration, desired)
	}
	state = wire.StateReady
	for _, b := range r.Bundles {
		if severity(b.State) > severity(state) {
			state, msg = b.State, b.Name+": "+b.Message
		}
	}
	return state, msg
}

// severity orders states from best to worst for summaries.
func severity(state string) int {
	switch state {
	case wire.StateReady:
		return 0
	case wire.StatePending:
		return 1
	case wire.StateOutOfSync:
		return 2
	case wire.StateWaitApplied:
		return 3
	case wire.StateNotReady:
		return 4
	case wire.StateModified:
		return 5
	default: // ErrApplied and anything unknown
		return 6
	}
}

// Bundles lists bundles with how many clusters they target and in which state.
func (h *Hub) Bundles(ctx context.Context) ([]wire.BundleInfo, error) {
	bs, err := h.store.ListBundles(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing bundles: %w", err)
	}
	t, err := h.loadTargets(ctx)
	if err != nil {
		return nil, err
	}
	v, err := h.loadStatusView(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.BundleInfo, 0, len(bs))
	for _, b := range bs {
		objects, renderErr := h.renders.summary(b.Name, b.Commit)
		info := wire.BundleInfo{Name: b.Name, Source: b.Source, Path: b.Path, Commit: b.Commit, Objects: objects, Error: b.Error, Warnings: b.Warnings, States: map[string]int{}}
		if info.Error == "" {
			info.Error = renderErr
		}
		for _, s := range wire.States {
			info.States[s] = 0
		}
		for _, c := range v.clusters {
			if !t.targeted(b.Source, labels.Set(clusterLabels(c))) {
				continue
			}
			info.Clusters++
			info.States[bundleStateOn(v, c.ID, b.Name)]++
		}
		out = append(out, info)
	}
	return out, nil
}

// bundleStateOn is a bundle's state on one cluster: what the agent reported
// for the desired generation, else Pending or WaitApplied.
func bundleStateOn(v statusView, clusterID, bundle string) string {
	r, ok := v.reports[clusterID]
	if !ok {
		return wire.StatePending
	}
	for _, b := range r.Bundles {
		if b.Name == bundle {
			if b.Generation < v.desired[clusterID] {
				return wire.StateWaitApplied
			}
			return b.State
		}
	}
	return wire.StateWaitApplied
}
