package agent

import (
	"context"
	"runtime"

	"flotilla.io/flotilla/internal/wire"
)

// factsLoop gathers the cluster's facts at start and every FactsInterval,
// and hands them to the outbox, which sends them when they change.
func (a *Agent) factsLoop(ctx context.Context) {
	for {
		next := a.opts.FactsInterval
		f, err := a.opts.Applier.Facts(ctx)
		if err != nil {
			a.log.Warn("gathering cluster facts failed", "err", err)
			next = a.opts.Resync
		} else {
			a.outbox.setFacts(wire.Facts{
				Arch: f.Arch, OS: f.OS, KubernetesVersion: f.KubernetesVersion,
				Nodes: f.Nodes, MemoryGiB: f.MemoryGiB,
				RuntimeClasses: f.RuntimeClasses, APIVersions: f.APIVersions,
				Agent: &wire.AgentInfo{Version: a.opts.Version, Arch: runtime.GOARCH},
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-a.clock.After(next):
		}
	}
}
