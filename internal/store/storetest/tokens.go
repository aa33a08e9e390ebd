package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

var tokenTests = []test{
	{"create and get", testTokenCreateGet},
	{"get missing", testTokenGetMissing},
	{"duplicate id", testTokenDuplicate},
	{"list sorted by creation", testTokenList},
	{"consume", testTokenConsume},
	{"consume until exhausted", testTokenConsumeUntilExhausted},
	{"concurrent consumes", testTokenConsumeConcurrent},
}

func token(id string, maxUses int, expires time.Time) store.Token {
	return store.Token{
		ID:         id,
		SecretHash: []byte{0xde, 0xad, 0xbe, 0xef, 0x00, byte(len(id))},
		Labels:     map[string]string{"fleet": "trucks"},
		CreatedAt:  t0,
		ExpiresAt:  expires,
		MaxUses:    maxUses,
	}
}

func testTokenCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tok := range []store.Token{
		token("t1", 3, t0.Add(time.Hour)),
		token("t2", 0, time.Time{}),
		{ID: "t3", SecretHash: []byte{1}, CreatedAt: t0, Uses: 2, MaxUses: 5},
	} {
		must(t, "creating "+tok.ID, s.CreateToken(ctx, tok))
		got, err := s.GetToken(ctx, tok.ID)
		must(t, "getting "+tok.ID, err)
		diff(t, "token "+tok.ID, tok, got)
	}
}

func testTokenGetMissing(t *testing.T, s store.Store) {
	_, err := s.GetToken(t.Context(), "nope")
	wantErr(t, "getting a missing token", err, store.ErrNotFound)
}

func testTokenDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "creating", s.CreateToken(ctx, token("t1", 1, time.Time{})))
	wantErr(t, "creating again", s.CreateToken(ctx, token("t1", 9, time.Time{})), store.ErrExists)
	got, err := s.GetToken(ctx, "t1")
	must(t, "getting", err)
	diff(t, "original token", token("t1", 1, time.Time{}), got)
}

func testTokenList(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want []store.Token
	for i, id := range []string{"c", "a", "b"} {
		tok := token(id, 1, time.Time{})
		tok.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		want = append(want, tok)
	}
	for _, i := range []int{1, 2, 0} {
		must(t, "creating", s.CreateToken(ctx, want[i]))
	}
	got, err := s.ListTokens(ctx)
	must(t, "listing", err)
	diff(t, "tokens", want, got)
}

func testTokenConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	exhausted := token("exhausted", 2, time.Time{})
	exhausted.Uses = 2
	for _, tok := range []store.Token{
		token("unlimited", 0, time.Time{}),
		token("limited", 2, t0.Add(time.Hour)),
		token("expiring", 0, t0),
		exhausted,
		func() store.Token { tok := exhausted; tok.ID = "exhausted-and-expired"; tok.ExpiresAt = t0; return tok }(),
	} {
		must(t, "creating "+tok.ID, s.CreateToken(ctx, tok))
	}
	tests := []struct {
		name     string
		id       string
		now      time.Time
		wantErr  error
		wantUses int
	}{
		{"unlimited", "unlimited", t0, nil, 1},
		{"unlimited again", "unlimited", t0.Add(time.Hour), nil, 2},
		{"limited", "limited", t0, nil, 1},
		{"before expiry", "expiring", t0.Add(-time.Nanosecond), nil, 1},
		{"at expiry", "expiring", t0, store.ErrExpired, 0},
		{"after expiry", "expiring", t0.Add(time.Second), store.ErrExpired, 0},
		{"exhausted", "exhausted", t0, store.ErrExhausted, 0},
		{"expired wins over exhausted", "exhausted-and-expired", t0.Add(time.Second), store.ErrExpired, 0},
		{"missing", "nope", t0, store.ErrNotFound, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ConsumeToken(ctx, tc.id, tc.now)
			wantErr(t, "consuming", err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if got.ID != tc.id || got.Uses != tc.wantUses {
				t.Errorf("consumed token %q with %d uses, want %q with %d", got.ID, got.Uses, tc.id, tc.wantUses)
			}
			stored, err := s.GetToken(ctx, tc.id)
			must(t, "getting", err)
			diff(t, "returned vs stored token", stored, got)
		})
	}
	// Failed consumes must not count a use.
	got, err := s.GetToken(ctx, "expiring")
	must(t, "getting", err)
	if got.Uses != 1 {
		t.Errorf("expired token has %d uses after failed consumes, want 1", got.Uses)
	}
}

func testTokenConsumeUntilExhausted(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "creating", s.CreateToken(ctx, token("t1", 3, time.Time{})))
	for want := 1; want <= 3; want++ {
		got, err := s.ConsumeToken(ctx, "t1", t0)
		must(t, "consuming", err)
		if got.Uses != want {
			t.Errorf("use %d: token has %d uses", want, got.Uses)
		}
	}
	_, err := s.ConsumeToken(ctx, "t1", t0)
	wantErr(t, "consuming a fourth time", err, store.ErrExhausted)
	got, err := s.GetToken(ctx, "t1")
	must(t, "getting", err)
	if got.Uses != 3 {
		t.Errorf("exhausted token has %d uses, want 3", got.Uses)
	}
}

func testTokenConsumeConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const uses, callers = 5, 20
	must(t, "creating", s.CreateToken(ctx, token("t1", uses, t0.Add(time.Hour))))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards the following
		ok   int
		seen = map[int]bool{}
		errs []error
	)
	for range callers {
		wg.Go(func() {
			got, err := s.ConsumeToken(ctx, "t1", t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				seen[got.Uses] = true
			case !errors.Is(err, store.ErrExhausted):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("consuming concurrently: %v", err)
	}
	if ok != uses {
		t.Errorf("%d of %d concurrent consumes succeeded, want %d", ok, callers, uses)
	}
	// Each success must have observed a distinct count.
	diff(t, "use counts returned", map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}, seen)
}
