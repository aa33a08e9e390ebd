package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// pushTimeout bounds uploading one agent build.
const pushTimeout = 10 * time.Minute

// PushRelease uploads an agent build with its definition.
func (o *Operator) PushRelease(ctx context.Context, spec wire.ReleaseSpec, binary []byte) (wire.ReleaseInfo, error) {
	q := url.Values{"version": {spec.Version}, "arch": {spec.Arch}, "target": spec.Targets, "targetGroup": spec.TargetGroups}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.c.base, "/")+"/v1/releases?"+q.Encode(), bytes.NewReader(binary))
	if err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", o.c.auth)
	hc := *o.c.http
	hc.Timeout = pushTimeout
	resp, err := hc.Do(req)
	if err != nil {
		return wire.ReleaseInfo{}, fmt.Errorf("POST /v1/releases: %w", err)
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return wire.ReleaseInfo{}, err
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.c.base, "/")+path, nil)
	if err != nil {
		return "", 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set(wire.ProtocolHeader, fmt.Sprint(wire.ProtocolVersion))
	resp, err := a.c.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return "", 0, err
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

// answerError is the hub's error answer as an *Error, nil for success.
func answerError(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	he := &Error{Status: resp.StatusCode}
	var we wire.Error
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&we) == nil {
		he.Reason, he.Message = we.Reason, we.Message
	}
	return he
}
