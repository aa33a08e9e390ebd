package agent

import "time"

// Clock is the time the agent's waits and timestamps use; tests inject a
// fake one so that backoff and timeouts are tested without sleeping.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed, as time.After does.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
