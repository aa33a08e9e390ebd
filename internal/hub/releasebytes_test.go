package hub

import (
	"bytes"
	"strings"
	"testing"
)

// TestGunzipRefusesOversize: a build that decompresses to more than the
// limit is refused, not cut short to a build no agent could run.
func TestGunzipRefusesOversize(t *testing.T) {
	z, err := gzipBest(bytes.Repeat([]byte("x"), 1001))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := gunzip(z, 1001); err != nil || len(b) != 1001 {
		t.Errorf("gunzip at the limit = %d bytes, %v", len(b), err)
	}
	if b, err := gunzip(z, 1000); err == nil || !strings.Contains(err.Error(), "more than 1000 bytes") {
		t.Errorf("gunzip over the limit = %d bytes, %v; want refused", len(b), err)
	}
}
