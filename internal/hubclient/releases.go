package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// pushTimeout bounds uploading one agent build.
const pushTimeout = 10 * time.Minute

// PushRelease uploads an agent build with its definition.
func (o *Operator) PushRelease(ctx context.Context, spec wire.ReleaseSpec, binary []byte) (wire.ReleaseInfo, error) {
	q := url.Values{"version": {spec.Version}, "arch": {spec.Arch}, "target": spec.Targets, "targetGroup": spec.TargetGroups}
	req, err := o.c.newRequest(ctx, http.MethodPost, "/v1/releases?"+q.Encode(), bytes.NewReader(binary))
	if err != nil {
		return wire.ReleaseInfo{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	hc := *o.c.http
	hc.Timeout = pushTimeout
	resp, err := hc.Do(req)
	if err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("POST /v1/releases: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return wire.ReleaseInfo{}, o.c.errorFrom(resp)
	}
	var out wire.ReleaseInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&out); err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("decoding answer to POST /v1/releases: %w", err)
	}
	return out, nil
}

// Releases lists agent releases.
func (o *Operator) Releases(ctx context.Context) ([]wire.ReleaseInfo, error) {
	var out []wire.ReleaseInfo
	_, err := o.c.do(ctx, http.MethodGet, "/v1/releases", nil, &out)
	return out, err
}

// DownloadRelease writes the agent release its manifest names (digest) to
// w, at most limit bytes: a delta from the build the agent runs (from),
// or the build gzipped whole, as the returned encoding says. The caller
// verifies what it makes of it.
func (a *Agent) DownloadRelease(ctx context.Context, digest, from string, w io.Writer, limit int64) (encoding string, n int64, err error) {
	q := url.Values{"digest": {digest}}
	if from != "" {
		q.Set("from", from)
	}
	path := "/v1/agent/release?" + q.Encode()
	req, err := a.c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := a.c.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return "", 0, a.c.errorFrom(resp)
	}
	encoding = resp.Header.Get(wire.ReleaseEncodingHeader)
	if encoding != wire.ReleaseGzip && encoding != wire.ReleaseDelta {
		return "", 0, fmt.Errorf("GET %s: unknown release encoding %q", path, encoding)
	}
	n, err = io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return "", n, fmt.Errorf("downloading agent release: %w", err)
	}
	if n > limit {
		return "", n, fmt.Errorf("downloading agent release: more than %d bytes", limit)
	}
	return encoding, n, nil
}
