package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

// maxFileBytes bounds one file read without a budget (charts, the
// checkout Kustomize sees); larger ones are refused rather than read into
// memory.
const maxFileBytes = 32 << 20

// maxListDepth bounds Lists nested in Lists.
const maxListDepth = 8

// renderRaw reads every manifest file of a raw YAML bundle and applies
// its yaml.overlays.
func renderRaw(ctx context.Context, c *bundle.Checkout, b bundle.Bundle, overlays []string, bg *budget) ([]item, error) {
	skip := make(map[string]bool, len(b.Exclude))
	for _, x := range b.Exclude {
		skip[x] = true
	}
	files := make(map[string]rawFile)
	err := c.Walk(b.Path, bundle.WalkOptions{SkipHidden: true}, func(e bundle.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Err != nil {
			return &Error{File: e.Path, Err: e.Err}
		}
		if e.Dir {
			// A nested bundle is rendered on its own, as Discover found it.
			if skip[e.Path] || e.FleetFile() != "" {
				return fs.SkipDir
			}
			return nil
		}
		name := path.Base(e.Path)
		if !bundle.IsManifest(name) || isKustomization(name) {
			return nil
		}
		data, err := readEntry(e, bg)
		if err != nil {
			return err
		}
		files[bundleRel(b.Path, e.Path)] = rawFile{data: data, origin: e.Path}
		return nil
	})
	if err != nil {
		return nil, err
	}
	files, err = applyOverlays(files, overlays)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var items []item
	for _, n := range names {
		f := files[n]
		if items, err = decodeManifests(items, f.origin, f.data, bg); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// bundleRel makes a root-relative path relative to the bundle directory.
func bundleRel(dir, p string) string {
	if dir == "." {
		return p
	}
	return strings.TrimPrefix(p, dir+"/")
}

// readFile reads one file of the checkout, through its os.Root, after
// counting its size into bg (nil counts nothing), so that a file past the
// bundle's byte limit is never read.
func readFile(c *bundle.Checkout, rel string, bg *budget) ([]byte, error) {
	f, err := c.Open(rel)
	if err != nil {
		return nil, &Error{File: rel, Err: err}
	}
	return readOpen(f, rel, bg)
}

// readEntry is readFile for a file met by Walk, opened in its directory.
func readEntry(e bundle.Entry, bg *budget) ([]byte, error) {
	f, err := e.Open()
	if err != nil {
		return nil, &Error{File: e.Path, Err: err}
	}
	return readOpen(f, e.Path, bg)
}

// readOpen counts the open file's size into bg, then reads it and closes
// it: one open and one Stat per file.
func readOpen(f *bundle.File, rel string, bg *budget) ([]byte, error) {
	defer f.Close()
	if err := bg.file(f.Size()); err != nil {
		return nil, &Error{File: rel, Err: err}
	}
	data, err := f.ReadAll(maxFileBytes)
	if err != nil {
		return nil, &Error{File: rel, Err: err}
	}
	return data, nil
}

// decodeManifests decodes the objects of one manifest file: multi-document
// YAML, or one JSON value for a .json file. Empty documents are skipped and
// Lists are flattened. Every object must have apiVersion, kind and
// metadata.name. Errors are *Error naming file and line. Objects are
// appended to out and counted into bg as they are decoded, so that a file
// of many objects stops at the first one past the limit.
func decodeManifests(out []item, file string, data []byte, bg *budget) ([]item, error) {
	if strings.EqualFold(path.Ext(file), ".json") {
		// encoding/json first, for its syntax errors carry an offset.
		var raw json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, &Error{File: file, Line: jsonErrorLine(data, err), Err: err}
		}
		v, err := decodeJSON(data)
		if err != nil {
			return nil, &Error{File: file, Err: err}
		}
		return appendObjects(out, v, file, 1, "", 0, bg)
	}
	for _, doc := range splitDocuments(data) {
		js, err := yaml.YAMLToJSONStrict(doc.data)
		if err != nil {
			line, msg := yamlErrorLine(err)
			if line > 0 {
				line += doc.first - 1
			} else {
				line = doc.line
			}
			return nil, errorf(file, line, "%s", msg)
		}
		v, err := decodeJSON(js)
		if err != nil {
			return nil, &Error{File: file, Line: doc.line, Err: err}
		}
		if out, err = appendObjects(out, v, file, doc.line, "", 0, bg); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeJSON decodes JSON into JSON-shaped values with integers as int64,
// as unstructured objects hold them.
func decodeJSON(data []byte) (any, error) {
	var v any
	if err := utiljson.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func appendObjects(out []item, v any, file string, line int, where string, depth int, bg *budget) ([]item, error) {
	if v == nil {
		return out, nil // an empty document
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(file, line, "%sexpected an object, got %s", where, jsonType(v))
	}
	kind, _ := m["kind"].(string)
	if items, isList := m["items"].([]any); isList && strings.HasSuffix(kind, "List") {
		if depth >= maxListDepth {
			return nil, errorf(file, line, "%sLists nested too deeply", where)
		}
		for i, x := range items {
			var err error
			if out, err = appendObjects(out, x, file, line, fmt.Sprintf("%sitems[%d]: ", where, i), depth+1, bg); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if err := checkObject(m); err != nil {
		return nil, errorf(file, line, "%s%w", where, err)
	}
	if err := bg.object(); err != nil {
		return nil, errorf(file, line, "%s%w", where, err)
	}
	obj, size, err := canonical(m)
	if err != nil {
		return nil, errorf(file, line, "%s%w", where, err)
	}
	if err := bg.objectBytes(size); err != nil {
		return nil, errorf(file, line, "%s%w", where, err)
	}
	return append(out, item{obj: obj, file: file, line: line}), nil
}

// checkObject requires what every applied object needs.
func checkObject(m map[string]any) error {
	for _, f := range []string{"apiVersion", "kind"} {
		if s, ok := m[f].(string); !ok || s == "" {
			return fmt.Errorf("missing %s", f)
		}
	}
	meta, ok := m["metadata"].(map[string]any)
	if !ok {
		return errors.New("missing metadata.name")
	}
	if s, ok := meta["name"].(string); !ok || s == "" {
		return errors.New("missing metadata.name")
	}
	if ns, ok := meta["namespace"]; ok {
		if _, isString := ns.(string); !isString && ns != nil {
			return errors.New("metadata.namespace is not a string")
		}
	}
	return nil
}

// canonical round-trips an object through JSON once, so that it is a fixed
// point: encoding it and decoding it again yields equal values (a YAML 1.0
// that decodes to float64 becomes int64 here, not later). size is the
// length of its JSON.
func canonical(m map[string]any) (obj *unstructured.Unstructured, size int, err error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding object: %w", err)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(data, &out); err != nil {
		return nil, 0, fmt.Errorf("decoding object: %w", err)
	}
	return &unstructured.Unstructured{Object: out}, len(data), nil
}

func jsonType(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// document is one YAML document of a file.
type document struct {
	data  []byte
	first int // line of the document's first line in the file
	line  int // line of its first line with content, for messages
}

// splitDocuments splits multi-document YAML on "---" lines as kubectl does
// (a separator may be followed by spaces or a comment).
func splitDocuments(data []byte) []document {
	var docs []document
	cur := document{first: 1}
	var buf bytes.Buffer
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		n := i + 1
		if isSeparator(l) {
			cur.data = append([]byte(nil), buf.Bytes()...)
			docs = append(docs, cur)
			buf.Reset()
			cur = document{first: n + 1}
			continue
		}
		if cur.line == 0 && hasContent(l) {
			cur.line = n
		}
		buf.Write(l)
	}
	cur.data = buf.Bytes()
	docs = append(docs, cur)
	for i := range docs {
		if docs[i].line == 0 {
			docs[i].line = docs[i].first
		}
	}
	return docs
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

func hasContent(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) > 0 && t[0] != '#'
}

// yamlErrorLine extracts the line from "yaml: line 7: msg" (relative to the
// document) and returns the message without the prefixes.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if i := strings.Index(msg, "yaml: "); i >= 0 {
		msg = msg[i+len("yaml: "):]
	}
	// Strict decoding lists its errors on the lines that follow; the first
	// one is reported.
	if rest, ok := strings.CutPrefix(msg, "unmarshal errors:\n"); ok {
		msg, _, _ = strings.Cut(strings.TrimSpace(rest), "\n")
	}
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, msg
	}
	line, err := strconv.Atoi(num)
	if err != nil {
		return 0, msg
	}
	return line, text
}

// jsonErrorLine turns a JSON syntax error's byte offset into a line.
func jsonErrorLine(data []byte, err error) int {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return 0
	}
	off := min(int(se.Offset), len(data))
	return bytes.Count(data[:off], []byte("\n")) + 1
}
