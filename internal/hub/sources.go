package hub

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// DefaultPoll is a source's poll interval when none is given.
const DefaultPoll = time.Minute

// minPoll keeps a mistyped interval from hammering a Git server.
const minPoll = time.Second

// AddSource creates or replaces a source and fetches it at once.
func (h *Hub) AddSource(ctx context.Context, spec wire.SourceSpec) (wire.SourceInfo, error) {
	s, err := sourceFromSpec(spec)
	if err != nil {
		return wire.SourceInfo{}, err
	}
	old, err := h.store.GetSource(ctx, s.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return wire.SourceInfo{}, fmt.Errorf("loading source %s: %w", s.Name, err)
	}
	retarget := err == nil && (!slices.Equal(old.Targets, s.Targets) || !slices.Equal(old.TargetGroups, s.TargetGroups))
	if err := h.store.PutSource(ctx, s); err != nil {
		return wire.SourceInfo{}, fmt.Errorf("storing source %s: %w", s.Name, err)
	}
	h.log.Info("source saved", "source", s.Name, "repo", redactURL(s.Repo), "branch", s.Branch, "paths", s.Paths, "targets", s.Targets)
	// Clusters that gain or lose the source follow at once with what is
	// loaded; a new commit follows the fetch.
	if retarget {
		h.queue.markAll()
	}
	select {
	case h.syncNow <- s.Name:
	default: // the loop is busy; the source is due anyway since it was never fetched or changed
	}
	return sourceInfo(s, 0), nil
}

func sourceFromSpec(spec wire.SourceSpec) (store.Source, error) {
	if errs := validation.IsDNS1123Label(spec.Name); len(errs) > 0 {
		return store.Source{}, errorf(Invalid, "source name %q: %s", spec.Name, errs[0])
	}
	if spec.Repo == "" {
		return store.Source{}, errorf(Invalid, "source %s: a repository URL is required", spec.Name)
	}
	if err := checkTargets("source "+spec.Name, spec.Targets, spec.TargetGroups); err != nil {
		return store.Source{}, err
	}
	paths := make([]string, 0, len(spec.Paths))
	for _, p := range spec.Paths {
		clean := path.Clean(strings.TrimPrefix(p, "/"))
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return store.Source{}, errorf(Invalid, "source %s: path %q leaves the repository", spec.Name, p)
		}
		paths = append(paths, clean)
	}
	poll := time.Duration(spec.Poll)
	switch {
	case poll == 0:
		poll = DefaultPoll
	case poll < minPoll:
		return store.Source{}, errorf(Invalid, "source %s: poll interval must be at least %s", spec.Name, minPoll)
	}
	branch := spec.Branch
	if branch == "" {
		branch = "main"
	}
	return store.Source{Name: spec.Name, Repo: spec.Repo, Branch: branch, Paths: paths, Poll: poll, Targets: spec.Targets, TargetGroups: spec.TargetGroups}, nil
}

// checkTargets validates the target selectors and group names of a
// source or release (what names it in messages).
func checkTargets(what string, targets, groups []string) error {
	for _, t := range targets {
		if _, err := labels.Parse(t); err != nil {
			return &Error{Kind: Invalid, Msg: fmt.Sprintf("%s: target %q is not a label selector", what, t), Err: err}
		}
	}
	for _, g := range groups {
		if errs := validation.IsDNS1123Label(g); len(errs) > 0 {
			return errorf(Invalid, "%s: target group %q: %s", what, g, errs[0])
		}
	}
	return nil
}

// Sources lists sources with their last fetch.
func (h *Hub) Sources(ctx context.Context) ([]wire.SourceInfo, error) {
	ss, err := h.store.ListSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing sources: %w", err)
	}
	bs, err := h.store.ListBundles(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing bundles: %w", err)
	}
	count := map[string]int{}
	for _, b := range bs {
		count[b.Source]++
	}
	out := make([]wire.SourceInfo, 0, len(ss))
	for _, s := range ss {
		info := sourceInfo(s, count[s.Name])
		if f, failing := h.backoff.get(s.Name); failing {
			next := f.next.UTC()
			info.Failures, info.NextFetch = f.count, &next
		}
		out = append(out, info)
	}
	return out, nil
}

// DeleteSource removes a source; its bundles leave every manifest.
func (h *Hub) DeleteSource(ctx context.Context, name string) error {
	if err := h.store.DeleteSource(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(NotFound, "source %q not found", name)
		}
		return fmt.Errorf("deleting source %s: %w", name, err)
	}
	h.mu.Lock()
	delete(h.loaded, name)
	h.mu.Unlock()
	h.forgetRenders()
	h.backoff.forget(name)
	h.log.Info("source deleted", "source", name)
	h.queue.markAll()
	return nil
}

func sourceInfo(s store.Source, bundles int) wire.SourceInfo {
	info := wire.SourceInfo{
		SourceSpec: wire.SourceSpec{Name: s.Name, Repo: redactURL(s.Repo), Branch: s.Branch, Paths: s.Paths, Poll: wire.Duration(s.Poll), Targets: s.Targets, TargetGroups: s.TargetGroups},
		Commit:     s.Commit,
		Error:      s.Error,
		Bundles:    bundles,
	}
	if !s.FetchedAt.IsZero() {
		t := s.FetchedAt
		info.FetchedAt = &t
	}
	return info
}

// redactURL hides a password in a repository URL before it is shown or logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
