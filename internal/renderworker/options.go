package renderworker

import (
	"encoding/json"
	"fmt"
	"reflect"

	"flotilla.io/flotilla/internal/render"
)

// encodeOptions writes the render options every worker renders with:
// all of them but Logger, which cannot cross a process boundary (the
// egress policy charts are fetched under is plain data and crosses). A field that JSON would drop or change (tagged "-",
// unexported, a func) is an error here rather than an option the workers
// silently lack.
func encodeOptions(o render.Options) (json.RawMessage, error) {
	o.Logger = nil
	data, err := lossless(o)
	if err != nil {
		return nil, fmt.Errorf("encoding render options for workers: %w", err)
	}
	return data, nil
}

// lossless encodes a struct as JSON, and refuses one that does not decode
// back equal.
func lossless[T any](v T) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var back T
	if err := json.Unmarshal(data, &back); err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(v, back) {
		a := reflect.ValueOf(v)
		return nil, fmt.Errorf("%s.%s does not survive JSON", a.Type(), firstDifference(a, reflect.ValueOf(back)))
	}
	return data, nil
}

// firstDifference names the first field of two structs of one type that
// differ; an unexported field differs when it is set.
func firstDifference(a, b reflect.Value) string {
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if !fa.CanInterface() {
			if !fa.IsZero() {
				return a.Type().Field(i).Name
			}
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			return a.Type().Field(i).Name
		}
	}
	return "?"
}
