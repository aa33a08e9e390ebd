package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestShed(t *testing.T) {
	s := &server{log: slog.New(slog.DiscardHandler), slots: make(chan struct{}, 1), queueWait: 20 * time.Millisecond}
	release := make(chan struct{})
	entered := make(chan struct{})
	h := s.shed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	first := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(first, httptest.NewRequest("POST", "/v1/agent/status", nil))
		close(done)
	}()
	<-entered

	shed := httptest.NewRecorder()
	h.ServeHTTP(shed, httptest.NewRequest("POST", "/v1/agent/status", nil))
	if shed.Code != http.StatusServiceUnavailable {
		t.Fatalf("second request = %d, want 503 once it waited out the queue while the only slot is taken", shed.Code)
	}
	if n, err := strconv.Atoi(shed.Header().Get("Retry-After")); err != nil || n < 1 || n > 5 {
		t.Errorf("Retry-After = %q, want 1..5 seconds", shed.Header().Get("Retry-After"))
	}

	// A request that queues while the slot is taken is served when it frees.
	queued := httptest.NewRecorder()
	queuedDone := make(chan struct{})
	s.queueWait = time.Minute
	go func() {
		s.shed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })).
			ServeHTTP(queued, httptest.NewRequest("POST", "/v1/agent/status", nil))
		close(queuedDone)
	}()

	close(release)
	<-done
	<-queuedDone
	if queued.Code != http.StatusNoContent {
		t.Errorf("queued request = %d, want 204 once the slot freed", queued.Code)
	}
	if first.Code != http.StatusNoContent {
		t.Errorf("first request = %d", first.Code)
	}
	// The slot is free again: the next request is served.
	ok := httptest.NewRecorder()
	s.shed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })).
		ServeHTTP(ok, httptest.NewRequest("POST", "/v1/agent/status", nil))
	if ok.Code != http.StatusNoContent {
		t.Errorf("request after release = %d, want 204", ok.Code)
	}
}
