package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func decodeNumbers(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// FuzzCanonical: canonical bytes are a fixed point (objects are stored and
// verified by their hash, so encoding them again must not move it), and an
// empty merge patch, as the agent applies patches, gives an object back
// byte for byte.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":{"d":true,"c":null}}`, `{"a":"<b>&\u2028"}`, `{"i":10,"f":1.50,"e":1e400,"n":-0}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"\ud800"}}`, `[1,"x",{}]`, `"\xff"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decodeNumbers(data)
		if !ok {
			return
		}
		c1, err := Canonical(v)
		if err != nil {
			return // not encodable (a number literal JSON refuses): never hashed
		}
		v2, ok := decodeNumbers(c1)
		if !ok {
			t.Fatalf("canonical bytes do not decode: %s", c1)
		}
		c2, err := Canonical(v2)
		if err != nil || !bytes.Equal(c1, c2) {
			t.Fatalf("canonical bytes move when encoded again:\n%s\n%s (%v)", c1, c2, err)
		}
		if _, isObject := v.(map[string]any); !isObject {
			return
		}
		patched, err := PatchObject(c1, json.RawMessage(`{}`))
		if err != nil || !bytes.Equal(patched, c1) {
			t.Fatalf("empty patch changed the object:\n%s\n%s (%v)", c1, patched, err)
		}
	})
}

// FuzzDuration: a duration an operator sends either is refused or comes
// back from its own encoding unchanged.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"5m"`, `"1h2m3.5s"`, `"-1ns"`, `"9223372036s"`, `5`, `""`, `"1e3s"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Duration
		if d.UnmarshalJSON(data) != nil {
			return
		}
		enc, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalJSON(enc); err != nil || back != d {
			t.Fatalf("%s read as %v, encoded %s, read back %v (%v)", data, time.Duration(d), enc, time.Duration(back), err)
		}
	})
}
