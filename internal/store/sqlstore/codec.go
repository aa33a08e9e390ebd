package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// toNanos encodes t as UTC unix-nanoseconds, 0 for the zero time (so the
// Unix epoch itself reads back as the zero time). Unix nanoseconds in an
// int64 cover the years 1678 to 2262; times outside are refused rather than
// silently wrapped.
func toNanos(t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	n := t.UnixNano()
	if !time.Unix(0, n).Equal(t) {
		return 0, fmt.Errorf("time %s out of range", t.UTC().Format(time.RFC3339))
	}
	return n, nil
}

// fromNanos decodes toNanos's encoding, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// toJSON encodes a map or list column.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// fromJSON decodes a map or list column into v.
func fromJSON(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decoding JSON column: %w", err)
	}
	return nil
}

// blob returns b, or an empty slice when b is nil, so that NOT NULL blob
// columns accept an empty value.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
