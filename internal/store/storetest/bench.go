package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

// Bench runs the store benchmarks on the hot paths of the hub: agents
// reporting status, renders storing objects, agents fetching objects. open
// must return an empty store and close it with b.Cleanup.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("PutStatus", func(b *testing.B) { benchPutStatus(b, open(b), 1) })
	b.Run("PutStatuses100", func(b *testing.B) { benchPutStatus(b, open(b), 100) })
	b.Run("PutObjects1000", func(b *testing.B) { benchPutObjects(b, open(b)) })
	b.Run("GetObjects500", func(b *testing.B) { benchGetObjects(b, open(b)) })
}

// benchPutStatus writes batches of n statuses; per-status cost is the
// figure to compare.
func benchPutStatus(b *testing.B, s store.Store, n int) {
	ctx := b.Context()
	const clusters = 1000
	report := bytes.Repeat([]byte(`{"bundle":"apps","ready":true},`), 32) // about 1 KiB, a typical body
	ids := make([]string, clusters)
	for i := range ids {
		ids[i] = fmt.Sprintf("cluster-%05d", i)
	}
	b.ReportAllocs()
	i := 0
	batch := make([]store.ClusterStatus, n)
	for b.Loop() {
		for j := range batch {
			batch[j] = store.ClusterStatus{ClusterID: ids[i%clusters], Report: report, ReceivedAt: t0.Add(time.Duration(i))}
			i++
		}
		if err := s.PutStatuses(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/status")
}

// objects returns n objects of about 600 bytes whose hashes start at
// first.
func objects(first, n int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := first; i < first+n; i++ {
		m[fmt.Sprintf("sha256:%064x", i)] = fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d"},"data":{"k":"%0512d"}}`, i, i)
	}
	return m
}

func benchPutObjects(b *testing.B, s store.Store) {
	ctx := b.Context()
	const n = 1000
	b.ReportAllocs()
	for i := range b.N {
		b.StopTimer()
		batch := objects(i*n, n) // new hashes every time: inserts, not no-ops
		b.StartTimer()
		if err := s.PutObjects(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "objects/s")
}

func benchGetObjects(b *testing.B, s store.Store) {
	ctx := b.Context()
	const stored, n = 5000, 500
	if err := s.PutObjects(ctx, objects(0, stored)); err != nil {
		b.Fatal(err)
	}
	// Every tenth hash, so the rows asked for are spread over the table.
	var hashes []string
	for i := 0; len(hashes) < n; i += stored / n {
		hashes = append(hashes, fmt.Sprintf("sha256:%064x", i))
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.GetObjects(ctx, hashes)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != n {
			b.Fatalf("got %d objects, want %d", len(got), n)
		}
	}
}
