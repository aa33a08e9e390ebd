package api

import (
	"context"
	"errors"
	"testing"
)

func TestPollsNewestWins(t *testing.T) {
	p := newPolls()
	ctx := context.Background()

	first, replaced, releaseFirst := p.hold(ctx, "c1", "192.0.2.1:1000")
	if replaced != nil {
		t.Fatalf("first poll replaced %+v", replaced)
	}
	other, replaced, releaseOther := p.hold(ctx, "c2", "192.0.2.9:1000")
	if replaced != nil {
		t.Fatal("a poll of another cluster replaced one")
	}
	defer releaseOther()

	second, replaced, releaseSecond := p.hold(ctx, "c1", "192.0.2.1:2000")
	if replaced == nil || replaced.remote != "192.0.2.1:1000" || replaced.took {
		t.Fatalf("second poll replaced %+v, want the first, which replaced nothing", replaced)
	}
	if !errors.Is(context.Cause(first), errSuperseded) {
		t.Errorf("first poll's context: cause %v, want errSuperseded", context.Cause(first))
	}
	if second.Err() != nil || other.Err() != nil {
		t.Error("the newer poll or another cluster's poll ended")
	}

	// The old poll leaving does not unregister the new one.
	releaseFirst()
	_, replaced, releaseThird := p.hold(ctx, "c1", "192.0.2.2:3000")
	if replaced == nil || replaced.remote != "192.0.2.1:2000" || !replaced.took {
		t.Fatalf("third poll replaced %+v, want the second, which had itself replaced one", replaced)
	}
	releaseSecond()
	releaseThird()

	// Once every poll ended, a new one replaces nothing: sequential polls
	// (every agent's normal life) never trip this.
	_, replaced, release := p.hold(ctx, "c1", "192.0.2.1:4000")
	defer release()
	if replaced != nil {
		t.Errorf("a poll after the others ended replaced %+v", replaced)
	}
}
