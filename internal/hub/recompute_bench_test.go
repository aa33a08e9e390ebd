package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// BenchmarkRecomputeAll measures one manifest computation for every cluster
// after a commit: 2,000 clusters in 10 groups, 20 bundles of 25 objects,
// renders cached after the first iteration as for unchanged render inputs.
func BenchmarkRecomputeAll(b *testing.B) {
	ctx := context.Background()
	fetcher := &dirFetcher{}
	h, db := newTestHub(b, fetcher)
	const clusters, groups, bundles, objects = 2000, 10, 20, 25
	for i := range clusters {
		c := store.Cluster{ID: fmt.Sprintf("c%05d", i), Name: fmt.Sprintf("edge-%05d", i), Labels: map[string]string{"group": fmt.Sprintf("g%d", i%groups)}, CreatedAt: time.Now()}
		if err := db.CreateCluster(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := h.AddSource(ctx, wire.SourceSpec{Name: "fleet", Repo: "unused", Targets: []string{"group"}}); err != nil {
		b.Fatal(err)
	}
	files := map[string]string{}
	for bi := range bundles {
		files[fmt.Sprintf("b%02d/fleet.yaml", bi)] = "defaultNamespace: app\n"
		for oi := range objects {
			files[fmt.Sprintf("b%02d/cm%02d.yaml", bi, oi)] = configMapYAML(fmt.Sprintf("cm%02d", oi), "v")
		}
	}
	fetcher.commit(b, "commit-0", files)
	h.syncByName(ctx, "fleet")
	settle(b, h)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// A new generation each time: the floor forces reissue of the
		// same content, which costs what a changed commit costs minus renders.
		cs, _ := db.ListClusters(ctx)
		floors := make(map[string]int64, len(cs))
		for _, c := range cs {
			floors[c.ID] = int64(1000 + i)
		}
		if err := h.compute(ctx, work{clusters: floors}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*clusters), "µs/cluster")
}
