package kubeapply

import (
	"context"
	"fmt"
)

// Restore applies again the members of set that refs cover (every member
// when refs is empty), as Apply applies them, and nothing else: no
// inventory write, no prune. It puts back what drifted from a set already
// applied as it is now, whose inventory records every member, with one
// write per member named rather than one per member of the set. One
// object's failure is reported in Result; the error is for the set's name
// and the context.
func (a *Applier) Restore(ctx context.Context, set Set, refs []ObjectRef) (Result, error) {
	if err := validateSetName(set.Name); err != nil {
		return Result{}, err
	}
	items := a.members(ctx, set, refs)
	a.applyItems(ctx, &resolver{mapper: a.mapper}, items)
	result := Result{Applied: make([]ObjectResult, len(items))}
	for i, it := range items {
		result.Applied[i] = ObjectResult{Ref: it.ref, Err: it.err}
	}
	if err := ctx.Err(); err != nil {
		return result, fmt.Errorf("restoring set %s: %w", set.Name, err)
	}
	a.log.Info("restored members", "set", set.Name, "objects", len(items), "failed", result.Failed())
	return result, nil
}
