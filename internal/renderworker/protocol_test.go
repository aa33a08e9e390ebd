package renderworker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/egress"
	"flotilla.io/flotilla/internal/helmrepo"
	"flotilla.io/flotilla/internal/render"
)

func TestReadFrame(t *testing.T) {
	frame := func(n uint32, body string) []byte {
		return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
	}
	tests := []struct {
		name string
		in   []byte
		want string
		err  string
	}{
		{name: "frame", in: frame(2, "{}"), want: "{}"},
		{name: "empty frame", in: frame(0, ""), want: ""},
		{name: "end of input", in: nil, err: "EOF"},
		{name: "cut header", in: []byte{0, 0}, err: "reading frame header: unexpected EOF"},
		{name: "cut body", in: frame(5, "{}"), err: "reading frame: unexpected EOF"},
		{name: "no body", in: frame(5, ""), err: "reading frame: unexpected EOF"},
		{name: "too long", in: frame(17, ""), err: "frame of 17 bytes, more than the 16 allowed"},
		{name: "longest", in: frame(1<<32-1, ""), err: "frame of 4294967295 bytes, more than the 16 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFrame(bytes.NewReader(tt.in), 16)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("readFrame error = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("readFrame = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzReadFrame: what readFrame accepts is what writeFrame writes, never
// longer than allowed, and the rest of the input is left unread.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}', 'x'})
	f.Add([]byte{0, 0, 1, 0})
	f.Add([]byte{255, 255, 255, 255, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		got, err := readFrame(r, 64)
		if err != nil {
			if len(got) != 0 {
				t.Fatal("data with an error")
			}
			return
		}
		if len(got) > 64 {
			t.Fatalf("read a frame of %d bytes", len(got))
		}
		var buf bytes.Buffer
		if err := writeFrame(&buf, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, buf.Bytes()) {
			t.Fatalf("frame %q is not the prefix of %q", buf.Bytes(), data)
		}
		if r.Len() != len(data)-buf.Len() {
			t.Fatalf("read past the frame")
		}
	})
}

// equalValues compares value trees with their Go types; NaN equals NaN.
func equalValues(a, b any) bool {
	return cmp.Equal(a, b, cmp.Comparer(func(x, y float64) bool {
		return x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y)
	}))
}

func TestValuesRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
	}{
		{name: "nil", in: nil},
		{name: "empty", in: map[string]any{}},
		{name: "types", in: map[string]any{
			"i": int64(1000000), "f": float64(1000000), "n": 7, "half": 0.5, "neg0": math.Copysign(0, -1),
			"big": int64(math.MaxInt64), "small": int64(math.MinInt64), "huge": math.MaxFloat64,
			"nan": math.NaN(), "inf": math.Inf(-1), "s": "x", "t": true, "null": nil,
			"list": []any{int64(1), 2.5, nil, "s", []any{}, map[string]any{}},
			"m":    map[string]any{"m": map[string]any{"i": "not a tag"}},
		}},
		{name: "keys that look like tags", in: map[string]any{"m": "s", "i": "1", "f": map[string]any{"n": nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := encodeValues(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeValues(data)
			if err != nil {
				t.Fatal(err)
			}
			if !equalValues(tt.in, got) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, tt.in)
			}
		})
	}
	if _, err := encodeValues(map[string]any{"a": []any{uint8(1)}}); err == nil || err.Error() != "encoding helm values: values.a[0] is a uint8, which a render worker cannot be given" {
		t.Errorf("encoding a uint8: %v", err)
	}
}

func TestDecodeValuesRefuses(t *testing.T) {
	tests := []struct{ in, err string }{
		{`{"m":{"a":{"i":"x"}}}`, `decoding helm values: values.a: strconv.ParseInt: parsing "x": invalid syntax`},
		{`{"m":{"a":{"q":"1"}}}`, `decoding helm values: values.a: unknown tag "q"`},
		{`{"m":{"a":{"i":"1","f":"2"}}}`, `decoding helm values: values.a: an object with 2 keys`},
		{`{"m":{"a":{"i":1}}}`, `decoding helm values: values.a: a number that is a float64`},
		{`{"m":{"a":[1]}}`, `decoding helm values: values.a[0]: unexpected float64`},
		{`{"m":[]}`, `decoding helm values: values: a map that is a []interface {}`},
		{`"x"`, `decoding helm values: not a map`},
		{`{`, `decoding helm values: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if _, err := decodeValues(json.RawMessage(tt.in)); err == nil || err.Error() != tt.err {
				t.Errorf("decodeValues error = %v, want %s", err, tt.err)
			}
		})
	}
}

// FuzzValues: values decoded as fleet.yaml and values files decode them
// (integers as int64, or every number as float64) cross to a worker with
// their Go types; and whatever decodeValues accepts, it accepts again
// after encoding, unchanged.
func FuzzValues(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb: 1.0\nc: 1e6\nd: [1, x, null, {e: true}]\n", "{}", "a: {m: {i: '1'}}\n",
		"a: 9007199254740993\nb: -0.0\n", `{"m":{"a":{"f":"NaN"}}}`, `{"m":{"a":[{"n":"3"}, "s"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var asFile, asFleet map[string]any
		if yaml.Unmarshal(data, &asFile) == nil {
			if js, err := yaml.YAMLToJSON(data); err == nil {
				_ = utiljson.Unmarshal(js, &asFleet)
			}
		}
		for _, v := range []map[string]any{asFile, asFleet} {
			enc, err := encodeValues(v)
			if err != nil {
				t.Fatalf("encoding %#v: %v", v, err)
			}
			got, err := decodeValues(enc)
			if err != nil {
				t.Fatalf("decoding %s: %v", enc, err)
			}
			if !equalValues(v, got) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, v)
			}
		}
		v, err := decodeValues(data)
		if err != nil {
			return
		}
		enc, err := encodeValues(v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		again, err := decodeValues(enc)
		if err != nil || !equalValues(v, again) {
			t.Fatalf("decoded %#v, then %#v, %v", v, again, err)
		}
	})
}

func TestEncodeOptions(t *testing.T) {
	in := render.Options{
		ChartCacheDir:        "/var/lib/flotilla/charts",
		AllowRemoteKustomize: true,
		Limits:               render.Limits{MaxObjects: 7, MaxBytes: 8, Timeout: 9 * time.Second},
		Egress:               egress.Policy{AllowHosts: []string{"charts.internal", "10.0.0.0/8"}, Timeout: time.Minute},
		ChartLimits:          helmrepo.Limits{MaxIndexBytes: 1 << 20},
		Logger:               slog.Default(),
	}
	data, err := encodeOptions(in)
	if err != nil {
		t.Fatal(err)
	}
	var got render.Options
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := in
	want.Logger = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options crossed as %+v, want %+v", got, want)
	}
}

// TestLossless: an option JSON would drop is refused, not lost.
func TestLossless(t *testing.T) {
	type opts struct {
		Hosts   []string
		Skipped string `json:"-"`
		hidden  int
	}
	tests := []struct {
		name string
		in   opts
		err  string
	}{
		{name: "exported", in: opts{Hosts: []string{"a"}}},
		{name: "empty list stays empty", in: opts{Hosts: []string{}}},
		{name: "tagged out", in: opts{Skipped: "x"}, err: "renderworker.opts.Skipped does not survive JSON"},
		{name: "unexported", in: opts{hidden: 1}, err: "renderworker.opts.hidden does not survive JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lossless(tt.in)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Errorf("lossless error = %v, want %q", err, tt.err)
			}
		})
	}
	// A func cannot cross even when nil: the pool will not start, rather
	// than start without it.
	type hooked struct{ Hook func() }
	if _, err := lossless(hooked{}); err == nil || err.Error() != "json: unsupported type: func()" {
		t.Errorf("lossless of a func field: %v", err)
	}
}

func TestWireErrors(t *testing.T) {
	limit := &render.LimitError{What: "bundle renders more than 5 objects", Flag: render.FlagMaxObjects}
	tests := []struct {
		name string
		err  error
	}{
		{name: "plain", err: errors.New("rendering bundle a: boom")},
		{name: "located", err: &render.Error{File: "a/b.yaml", Line: 3, Err: errors.New("missing kind")}},
		{name: "limit", err: limit},
		{name: "located limit", err: &render.Error{File: "a/b.yaml", Line: 30, Err: limit}},
		{name: "wrapped located limit", err: &render.Error{File: "a/b.yaml", Line: 30, Err: wrap("items[3]: ", limit)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(toWire(tt.err))
			if err != nil {
				t.Fatal(err)
			}
			var w wireError
			if err := json.Unmarshal(data, &w); err != nil {
				t.Fatal(err)
			}
			got := w.err()
			if got.Error() != tt.err.Error() {
				t.Errorf("message %q, want %q", got, tt.err)
			}
			checkSameKind(t, tt.err, got)
		})
	}
}

type wrapped struct {
	prefix string
	err    error
}

func (w wrapped) Error() string { return w.prefix + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func wrap(prefix string, err error) error { return wrapped{prefix, err} }

// TestServeRefuses: a worker given a bad hello says why and stops.
func TestServeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		hello string
		err   string
	}{
		{name: "not JSON", hello: "x", err: "hello is not JSON"},
		{name: "other version", hello: `{"version":99,"options":{}}`, err: "protocol version 99, this worker speaks 1"},
		{name: "bad options", hello: `{"version":1,"options":{"Limits":1}}`, err: "decoding render options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in, out bytes.Buffer
			if err := writeFrame(&in, []byte(tt.hello)); err != nil {
				t.Fatal(err)
			}
			err := Serve(t.Context(), &in, &out, ServeOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Serve error = %v, want %q", err, tt.err)
			}
			data, err := readFrame(&out, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var r ready
			if err := json.Unmarshal(data, &r); err != nil || !strings.Contains(r.Err, tt.err) {
				t.Errorf("ready = %s, %v", data, err)
			}
			if _, err := readFrame(&out, 1<<20); !errors.Is(err, io.EOF) {
				t.Errorf("more after ready: %v", err)
			}
		})
	}
}
