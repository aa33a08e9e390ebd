package sim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/clientconfig"
)

// rendersMetric counts bundle renders in the hub.
const rendersMetric = "flotilla_hub_renders_total"

// operatorGet does an authenticated GET against the operator API.
func operatorGet(ctx context.Context, admin, path string) (*http.Response, error) {
	cfg, err := clientconfig.Load(admin)
	if err != nil {
		return nil, fmt.Errorf("loading admin config: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cfg.CA)) {
		return nil, errors.New("admin config holds no CA certificate")
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Hub, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	return c.Do(req)
}

func healthy(ctx context.Context, admin string) error {
	resp, err := operatorGet(ctx, admin, "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}

// renders reads the hub's render counter from /metrics; -1 when the hub
// does not serve it.
func renders(ctx context.Context, admin string) (int64, error) {
	resp, err := operatorGet(ctx, admin, "/metrics")
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("metrics answered %d", resp.StatusCode)
	}
	return parseCounter(bufio.NewScanner(resp.Body), rendersMetric)
}

// parseCounter finds an unlabelled sample of name in Prometheus text.
func parseCounter(sc *bufio.Scanner, name string) (int64, error) {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		fields := strings.Fields(rest)
		if !ok || !strings.HasPrefix(rest, " ") || len(fields) == 0 {
			continue
		}
		f, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return -1, fmt.Errorf("parsing %s: %w", name, err)
		}
		return int64(f), nil
	}
	if err := sc.Err(); err != nil {
		return -1, fmt.Errorf("reading metrics: %w", err)
	}
	return -1, fmt.Errorf("metric %s not found", name)
}
