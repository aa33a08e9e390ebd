package sqlstore

import (
	"testing"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/store/storetest"
)

func BenchmarkSQLite(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openTemp(b) })
}
