package hubclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"spaces", " 7 ", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"capped", "999999999999", maxRetryAfter},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "Fri, 27 Nov 2026 12:00:00 GMT", "-1", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 || d > maxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v, outside [0, %v]", s, d, maxRetryAfter)
		}
	})
}

func TestRetryAfterFromAnswer(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		code   int
		header string
		want   time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, "30", 30 * time.Second},
		{"503 date", http.StatusServiceUnavailable, now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{"409 superseded long-poll", http.StatusConflict, "30", 30 * time.Second},
		{"500 ignores it", http.StatusInternalServerError, "30", 0},
	}
	// Every call reads an error answer the same way, JSON or raw body.
	ctx := context.Background()
	calls := []struct {
		name string
		call func(*client) error
	}{
		{"do", func(c *client) error {
			_, err := c.do(ctx, http.MethodGet, "/", nil, nil)
			return err
		}},
		{"DownloadRelease", func(c *client) error {
			_, _, err := (&Agent{c: c}).DownloadRelease(ctx, "digest", "", io.Discard, 1<<20)
			return err
		}},
		{"PushRelease", func(c *client) error {
			_, err := (&Operator{c: c}).PushRelease(ctx, wire.ReleaseSpec{Version: "v1", Arch: "amd64"}, []byte("build"))
			return err
		}},
	}
	for _, tc := range tests {
		for _, call := range calls {
			t.Run(tc.name+"/"+call.name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", tc.header)
					w.WriteHeader(tc.code)
					_, _ = w.Write([]byte(`{"reason":"Busy","message":"shedding load"}`))
				}))
				defer srv.Close()
				c := &client{base: srv.URL, http: srv.Client(), now: func() time.Time { return now }}
				err := call.call(c)
				var he *Error
				if !errors.As(err, &he) || he.Status != tc.code || he.Reason != "Busy" || he.Message != "shedding load" {
					t.Fatalf("error = %v, want the hub's %d Busy answer", err, tc.code)
				}
				if got := RetryAfter(err); got != tc.want {
					t.Errorf("RetryAfter = %v, want %v", got, tc.want)
				}
			})
		}
	}
}
