package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/wire"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeRequest runs decode over a real request and recorder, as a
// handler would.
func decodeRequest(body []byte, encoding string, limit int64, v any) error {
	req := httptest.NewRequest("POST", "/v1/enroll", bytes.NewReader(body))
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	return decode(httptest.NewRecorder(), req, limit, time.Minute, v)
}

func TestDecode(t *testing.T) {
	valid := []byte(`{"token":"flt1.x","name":"edge-1","csr":"-----BEGIN CERTIFICATE REQUEST-----"}`)
	want := wire.EnrollRequest{Token: "flt1.x", Name: "edge-1", CSR: "-----BEGIN CERTIFICATE REQUEST-----"}
	bomb := gz(t, bytes.Repeat([]byte(" "), 10<<20)) // 10 MiB of spaces in ~10 KiB
	tests := []struct {
		name     string
		body     []byte
		encoding string
		limit    int64
		code     int // 0: decodes to want
	}{
		{"plain", valid, "", 1 << 10, 0},
		{"identity", valid, "identity", 1 << 10, 0},
		{"gzip", gz(t, valid), "gzip", 1 << 10, 0},
		{"trailing whitespace", append(valid, " \n\t"...), "", 1 << 10, 0},
		{"exactly the limit", valid, "", int64(len(valid)), 0},
		{"one byte over the limit", valid, "", int64(len(valid)) - 1, http.StatusRequestEntityTooLarge},
		{"inflates past the limit", bomb, "gzip", 64 << 10, http.StatusRequestEntityTooLarge},
		{"inflated one byte over", gz(t, valid), "gzip", int64(len(valid)) - 1, http.StatusRequestEntityTooLarge},
		{"unknown field", []byte(`{"token":"x","admin":true}`), "", 1 << 10, http.StatusBadRequest},
		{"trailing data", append(valid, `{}`...), "", 1 << 10, http.StatusBadRequest},
		{"two values", append(valid, valid...), "", 1 << 10, http.StatusBadRequest},
		{"not JSON", []byte("{not json"), "", 1 << 10, http.StatusBadRequest},
		{"empty", nil, "", 1 << 10, http.StatusBadRequest},
		{"not gzip", valid, "gzip", 1 << 10, http.StatusBadRequest},
		{"truncated gzip", gz(t, valid)[:20], "gzip", 1 << 10, http.StatusBadRequest},
		{"gzip then garbage", append(gz(t, valid), "garbage"...), "gzip", 1 << 10, http.StatusBadRequest},
		{"unsupported encoding", valid, "br", 1 << 10, http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got wire.EnrollRequest
			err := decodeRequest(tc.body, tc.encoding, tc.limit, &got)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("decode = %v", err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("decoded (-want +got):\n%s", diff)
				}
				return
			}
			if he := toHTTPError(err); err == nil || he.code != tc.code {
				t.Fatalf("decode = %v, want %d", err, tc.code)
			}
		})
	}
}

// A body that stops arriving ends with 408 naming the limit, not a held
// handler.
func TestDecodeSlowBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v wire.EnrollRequest
		err := decode(w, r, 1<<10, 100*time.Millisecond, &v)
		he := toHTTPError(err)
		w.WriteHeader(he.code)
		_, _ = io.WriteString(w, he.msg)
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte(`{"token":`)) }() // and then nothing more
	resp, err := http.Post(srv.URL, "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(msg), "100ms") {
		t.Errorf("slow body = %d %q, want 408 naming the deadline", resp.StatusCode, msg)
	}
}

// strictOracle says whether b is exactly one JSON object of an
// EnrollRequest's fields, decided without the code under test: encoding/
// json's Unmarshal (which refuses trailing data) plus a check of the keys.
func strictOracle(b []byte) (wire.EnrollRequest, bool) {
	var v wire.EnrollRequest
	if json.Unmarshal(b, &v) != nil {
		return v, false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(b, &keys) != nil {
		// null decodes into both as nothing; anything else is no object.
		return v, bytes.Equal(bytes.TrimSpace(b), []byte("null"))
	}
	for k := range keys {
		if !strings.EqualFold(k, "token") && !strings.EqualFold(k, "name") && !strings.EqualFold(k, "csr") {
			return v, false
		}
	}
	return v, true
}

// inflateOracle inflates b as a request body would be, reading at most
// limit+1 bytes so that a bomb costs nothing.
func inflateOracle(b []byte, encoding string, limit int64) ([]byte, error) {
	var r io.Reader = bytes.NewReader(b)
	if encoding == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	}
	return io.ReadAll(io.LimitReader(r, limit+1))
}

// FuzzDecodeBody checks the decoding of request bodies from outside:
// never more than the limit is read or accepted, as sent or inflated;
// every refusal is 400, 413 or 415 (never a 5xx); and a body is accepted
// exactly when it is valid and within its limit, with the value a plain
// JSON decoding gives.
func FuzzDecodeBody(f *testing.F) {
	valid := []byte(`{"token":"flt1.aHR0cHM6Ly9odWI.sha256:00.id.secret","name":"edge-1","csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"}`)
	f.Add(valid, uint8(0), uint16(4096))
	f.Add(valid, uint8(1), uint16(4096))
	f.Add(gz(f, valid), uint8(2), uint16(4096))
	f.Add(gz(f, bytes.Repeat([]byte("{"), 100_000)), uint8(2), uint16(4096))
	f.Add(valid, uint8(0), uint16(40))
	f.Add([]byte(`{"Token":"x","extra":1}`), uint8(0), uint16(4096))
	f.Add([]byte(`null`), uint8(1), uint16(4096))
	f.Add([]byte(`{"token":"x"} {}`), uint8(0), uint16(4096))
	f.Add(valid, uint8(3), uint16(4096))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, limit16 uint16) {
		limit := int64(limit16%8192) + 1
		sent, encoding := body, ""
		switch mode % 4 {
		case 1:
			sent, encoding = gz(t, body), "gzip"
		case 2:
			encoding = "gzip" // the fuzzer's own bytes as a gzip stream
		case 3:
			encoding = "compress"
		}

		inflated, err := readBody(bytes.NewReader(sent), encoding, limit)
		if int64(len(inflated)) > limit {
			t.Fatalf("readBody returned %d bytes, limit %d", len(inflated), limit)
		}
		if err != nil && inflated != nil {
			t.Fatal("readBody returned bytes with an error")
		}

		var got wire.EnrollRequest
		err = decodeRequest(sent, encoding, limit, &got)
		if encoding == "compress" {
			if toHTTPError(err).code != http.StatusUnsupportedMediaType {
				t.Fatalf("unknown encoding = %v, want 415", err)
			}
			return
		}
		plain, inflErr := inflateOracle(sent, encoding, limit)
		want, valid := strictOracle(plain)
		fits := int64(len(sent)) <= limit && inflErr == nil && int64(len(plain)) <= limit
		if err != nil {
			he := toHTTPError(err)
			switch he.code {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("decode = %d %v, want 400 or 413", he.code, err)
			}
			if he.code == http.StatusRequestEntityTooLarge && fits {
				t.Fatalf("413 for a body of %d bytes sent, %d inflated, limit %d", len(sent), len(plain), limit)
			}
			if fits && valid {
				t.Fatalf("refused a valid body within its limit: %v", err)
			}
			return
		}
		if !fits {
			t.Fatalf("accepted a body of %d bytes sent, %d inflated (%v), limit %d", len(sent), len(plain), inflErr, limit)
		}
		if !valid {
			t.Fatalf("accepted %q, which is not one EnrollRequest object", plain)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("decoded (-oracle +got):\n%s", diff)
		}
	})
}

// FuzzDecodeRoundTrip checks that what a client sends (marshalled,
// compressed as the agent compresses) decodes to what it meant.
func FuzzDecodeRoundTrip(f *testing.F) {
	f.Add("flt1.aHR0cHM6Ly9odWI.sha256:00.id.secret", "edge-1", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
	f.Add("", "", "")
	f.Add(strings.Repeat("x", maxEnrollBody), "n", "c")
	f.Add("\u2028<>&\"\\", "名前", "\x00\x1f")
	f.Fuzz(func(t *testing.T, token, name, csr string) {
		if !utf8.ValidString(token) || !utf8.ValidString(name) || !utf8.ValidString(csr) {
			t.Skip("JSON carries only valid UTF-8")
		}
		in := wire.EnrollRequest{Token: token, Name: name, CSR: csr}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		sent, encoding := wire.CompressRequest(b)
		var got wire.EnrollRequest
		err = decodeRequest(sent, encoding, maxEnrollBody, &got)
		if len(b) > maxEnrollBody {
			if toHTTPError(err).code != http.StatusRequestEntityTooLarge {
				t.Fatalf("body of %d bytes, limit %d: decode = %v, want 413", len(b), maxEnrollBody, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("decode = %v", err)
		}
		if diff := cmp.Diff(in, got); diff != "" {
			t.Fatalf("round trip (-sent +got):\n%s", diff)
		}
	})
}
