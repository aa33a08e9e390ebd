package renderworker

import (
	"encoding/json"
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
	t, err := tagValue(v, "")
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encoding helm values: %w", err)
	}
	return data, nil
}

func tagValue(v any, path string) (any, error) {
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
			t, err := tagValue(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			m[k] = t
		}
		return map[string]any{"m": m}, nil
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			t, err := tagValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			l[i] = t
		}
		return l, nil
	}
	return nil, fmt.Errorf("encoding helm values: %s is a %T, which a render worker cannot be given", pathOrRoot(path), v)
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
	v, err := untagValue(t, "")
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding helm values: not a map")
	}
	return m, nil
}

func untagValue(t any, path string) (any, error) {
	switch x := t.(type) {
	case nil, bool, string:
		return x, nil
	case []any:
		for i, e := range x {
			v, err := untagValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			x[i] = v
		}
		return x, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("decoding helm values: %s: an object with %d keys", pathOrRoot(path), len(x))
		}
		for tag, e := range x {
			return untagOne(tag, e, path)
		}
	}
	return nil, fmt.Errorf("decoding helm values: %s: unexpected %T", pathOrRoot(path), t)
}

func untagOne(tag string, e any, path string) (any, error) {
	if tag == "m" {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("decoding helm values: %s: a map that is a %T", pathOrRoot(path), e)
		}
		for k, x := range m {
			v, err := untagValue(x, path+"."+k)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	}
	s, ok := e.(string)
	if !ok {
		return nil, fmt.Errorf("decoding helm values: %s: a number that is a %T", pathOrRoot(path), e)
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
		return nil, fmt.Errorf("decoding helm values: %s: unknown tag %q", pathOrRoot(path), tag)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding helm values: %s: %w", pathOrRoot(path), err)
	}
	return v, nil
}

func pathOrRoot(path string) string {
	if path == "" {
		return "values"
	}
	return "values" + path
}
