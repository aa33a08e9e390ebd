// Package egress is the one HTTP client for everything a render fetches
// (Helm repository indexes and chart archives today). Renders act on
// what repositories say, and repositories are written by many teams, so
// the client treats every URL as hostile: it connects only to public
// addresses unless the operator allows a host (`flotilla hub
// --allow-chart-host`), checks each address as it is dialled (so names
// that resolve to internal addresses, DNS rebinding and redirects are
// caught alike), bounds every phase of a request in time and every body
// in size, and follows few redirects, never from https to http.
//
// Proxies: HTTP_PROXY, HTTPS_PROXY and NO_PROXY in the hub's environment
// are ignored for these requests. Through a proxy the hub would dial only
// the proxy, and the proxy would resolve and reach the chart host itself,
// internal or not, so the address check would mean nothing; and the
// hub's environment, set for other reasons, should not decide where
// renders go. A hub that can reach chart repositories only through a
// proxy needs an explicit proxy option, not built yet.
package egress
