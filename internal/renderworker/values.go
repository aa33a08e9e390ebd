package renderworker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Helm values hold int64 (fleet.yaml) and float64 (values files, decoded
// as Helm decodes them) side by side, and a template prints float64(1e6)
// as "1e+06" but int64(1000000) as "1000000": plain JSON would lose which
// is which. So values cross as JSON in which strings, booleans, null and
// lists stand for themselves and every object is tagged by its one key:
// {"m": map}, {"i": "int64"}, {"n": "int"}, {"f": "float64"}. Numbers are
// written as strings, so that NaN, infinities and 64-bit integers survive.

// encodeValues encodes a Helm value tree with its Go types.
func encodeValues(v map[string]any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	t, err := tagValue(v)
	if err != nil {
		return nil, fmt.Errorf("encoding helm values: %w", err)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encoding helm values: %w", err)
	}
	return data, nil
}

// valueError is a value that cannot cross, named by its path. The path is
// built only for it, as the error returns through the tree, not for
// every value that crosses.
type valueError struct {
	path string // from the root: ".a[0].b"
	msg  string // after the path: " is a uint8, ..." or ": unknown tag ..."
	err  error  // the cause, if any
}

func (e *valueError) Error() string { return "values" + e.path + e.msg }
func (e *valueError) Unwrap() error { return e.err }

// under returns err with step put in front of its path: the value that
// failed is under step.
func under(err error, step string) error {
	var ve *valueError
	if errors.As(err, &ve) {
		ve.path = step + ve.path
	}
	return err
}

func tagValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case int64:
		return map[string]string{"i": strconv.FormatInt(x, 10)}, nil
	case int:
		return map[string]string{"n": strconv.Itoa(x)}, nil
	case float64:
		return map[string]string{"f": strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			t, err := tagValue(e)
			if err != nil {
				return nil, under(err, "."+k)
			}
			m[k] = t
		}
		return map[string]any{"m": m}, nil
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			t, err := tagValue(e)
			if err != nil {
				return nil, under(err, "["+strconv.Itoa(i)+"]")
			}
			l[i] = t
		}
		return l, nil
	}
	return nil, &valueError{msg: fmt.Sprintf(" is a %T, which a render worker cannot be given", v)}
}

// decodeValues reverses encodeValues.
func decodeValues(data json.RawMessage) (map[string]any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var t any
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decoding helm values: %w", err)
	}
	v, err := untagValue(t)
	if err != nil {
		return nil, fmt.Errorf("decoding helm values: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding helm values: not a map")
	}
	return m, nil
}

// badTag is a value that does not decode, its path to be filled in.
func badTag(format string, args ...any) error {
	return &valueError{msg: ": " + fmt.Sprintf(format, args...)}
}

func untagValue(t any) (any, error) {
	switch x := t.(type) {
	case nil, bool, string:
		return x, nil
	case []any:
		for i, e := range x {
			v, err := untagValue(e)
			if err != nil {
				return nil, under(err, "["+strconv.Itoa(i)+"]")
			}
			x[i] = v
		}
		return x, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, badTag("an object with %d keys", len(x))
		}
		for tag, e := range x {
			return untagOne(tag, e)
		}
	}
	return nil, badTag("unexpected %T", t)
}

func untagOne(tag string, e any) (any, error) {
	if tag == "m" {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, badTag("a map that is a %T", e)
		}
		for k, x := range m {
			v, err := untagValue(x)
			if err != nil {
				return nil, under(err, "."+k)
			}
			m[k] = v
		}
		return m, nil
	}
	s, ok := e.(string)
	if !ok {
		return nil, badTag("a number that is a %T", e)
	}
	var v any
	var err error
	switch tag {
	case "i":
		v, err = strconv.ParseInt(s, 10, 64)
	case "n":
		v, err = strconv.Atoi(s)
	case "f":
		v, err = strconv.ParseFloat(s, 64)
	default:
		return nil, badTag("unknown tag %q", tag)
	}
	if err != nil {
		return nil, &valueError{msg: ": " + err.Error(), err: err}
	}
	return v, nil
}
