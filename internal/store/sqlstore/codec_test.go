package sqlstore

import (
	"testing"
	"time"
)

func TestNanos(t *testing.T) {
	tests := []struct {
		name    string
		in      time.Time
		want    int64
		wantErr bool
	}{
		{"zero", time.Time{}, 0, false},
		{"utc", time.Unix(1, 2).UTC(), 1_000_000_002, false},
		{"other zone", time.Unix(1, 2).In(time.FixedZone("x", 3600)), 1_000_000_002, false},
		{"before 1678", time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), 0, true},
		{"after 2262", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toNanos(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("toNanos(%v) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if back := fromNanos(got); !back.Equal(tc.in) || back.Location() != time.UTC {
				t.Errorf("fromNanos(%d) = %v, want %v in UTC", got, back, tc.in)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name     string
		numbered bool
		in, want string
	}{
		{"question marks kept", false, "a = ? AND b IN (?,?)", "a = ? AND b IN (?,?)"},
		{"numbered", true, "a = ? AND b IN (?,?)", "a = $1 AND b IN ($2,$3)"},
		{"none", true, "SELECT 1", "SELECT 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &dialect{numbered: tc.numbered}
			if got := d.rebind(tc.in); got != tc.want {
				t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		name       string
		rows, cols int
		want       string
	}{
		{"list", 3, 0, "?,?,?"},
		{"one row", 1, 2, "(?,?)"},
		{"rows", 2, 3, "(?,?,?),(?,?,?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := placeholders(tc.rows, tc.cols); got != tc.want {
				t.Errorf("placeholders(%d, %d) = %q, want %q", tc.rows, tc.cols, got, tc.want)
			}
		})
	}
}
