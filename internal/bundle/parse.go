package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FleetFile is the name Parse reports in its messages.
const FleetFile = "fleet.yaml"

// maxNodes bounds the YAML nodes Parse visits, aliases included, so that
// an alias bomb is an error instead of an exhausted machine.
const maxNodes = 1 << 20

// ParseError is a fleet.yaml that cannot be read, with the line at fault.
type ParseError struct {
	File string // as shown in the message; FleetFile unless set by the caller
	Line int    // 0 if unknown
	Path string // key path, e.g. "kustomize.dir" or "dependsOn[0]"
	Msg  string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Parse reads a fleet.yaml. Unknown keys and ignored content come back as
// warnings; a value of the wrong shape is a *ParseError naming its line.
// Scalars are accepted for string fields as Fleet accepts them (sigs.k8s.io/yaml
// turns `version: 1.2` into "1.2"), and YAML 1.1 booleans (yes/no/on/off) for
// boolean fields.
func Parse(data []byte) (Options, []string, error) {
	var opts Options
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return opts, nil, nil
		}
		return opts, nil, syntaxError(err)
	}
	d := &decoder{budget: maxNodes}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		d.warnf(line, "only the first YAML document is read")
	} else if !errors.Is(err, io.EOF) {
		return opts, nil, syntaxError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if err := d.decode(root, reflect.ValueOf(&opts).Elem(), ""); err != nil {
		return Options{}, d.warnings, err
	}
	if err := validate(&opts); err != nil {
		return Options{}, d.warnings, err
	}
	return opts, d.warnings, nil
}

// syntaxError turns the YAML library's "yaml: line 7: msg" into a ParseError.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return &ParseError{File: FleetFile, Line: line, Msg: msg}
}

// validStates are the bundle states dependsOn.acceptedStates may name.
const validStates = "Ready, NotReady, WaitApplied, ErrApplied, OutOfSync, Pending, Modified"

// validate checks what the schema alone cannot, as Fleet does.
func validate(o *Options) error {
	for i, dep := range o.DependsOn {
		path := fmt.Sprintf("dependsOn[%d]", i)
		if dep.Name == "" && dep.Selector == nil {
			return &ParseError{File: FleetFile, Path: path, Msg: "must specify either name or selector"}
		}
		for j, s := range dep.AcceptedStates {
			if !contains(strings.Split(validStates, ", "), s) {
				return &ParseError{File: FleetFile, Path: fmt.Sprintf("%s.acceptedStates[%d]", path, j),
					Msg: fmt.Sprintf("invalid state %q, valid states are %s", s, validStates)}
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decoder fills Go values from YAML nodes, driven by the json tags of the
// target types.
type decoder struct {
	warnings []string
	budget   int // nodes left to visit
}

func (d *decoder) warnf(line int, format string, args ...any) {
	where := FleetFile
	if line > 0 {
		where = fmt.Sprintf("%s:%d", FleetFile, line)
	}
	d.warnings = append(d.warnings, where+": "+fmt.Sprintf(format, args...))
}

func fail(n *yaml.Node, path, format string, args ...any) error {
	return &ParseError{File: FleetFile, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// resolve follows aliases and charges the node budget.
func (d *decoder) resolve(n *yaml.Node, path string) (*yaml.Node, error) {
	for depth := 0; n.Kind == yaml.AliasNode; depth++ {
		if n.Alias == nil || depth > 100 {
			return nil, fail(n, path, "unresolvable alias")
		}
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		return nil, fail(n, path, "document too large or too deeply aliased")
	}
	return n, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	n, err := d.resolve(n, path)
	if err != nil {
		return err
	}
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if v.Kind() != reflect.Pointer && reflect.PointerTo(v.Type()).Implements(jsonUnmarshaler) {
		return d.decodeJSON(n, v.Addr().Interface().(json.Unmarshaler), path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := d.decode(n, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fail(n, path, "expected string")
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		b, ok := scalarBool(n)
		if !ok {
			return fail(n, path, "expected boolean")
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			return fail(n, path, "expected integer")
		}
		v.SetInt(i)
		return nil
	case reflect.Slice:
		return d.decodeSlice(n, v, path)
	case reflect.Map:
		return d.decodeMap(n, v, path)
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Interface:
		x, err := d.generic(n, path)
		if err != nil {
			return err
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
		return nil
	}
	return fail(n, path, "cannot decode into %s", v.Type())
}

// decodeJSON serves types with their own JSON form, such as IntOrString.
func (d *decoder) decodeJSON(n *yaml.Node, u json.Unmarshaler, path string) error {
	x, err := d.generic(n, path)
	if err != nil {
		return err
	}
	data, err := json.Marshal(x)
	if err != nil {
		return fail(n, path, "%v", err)
	}
	if err := u.UnmarshalJSON(data); err != nil {
		return fail(n, path, "%v", err)
	}
	return nil
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.SequenceNode {
		return fail(n, path, "expected a list")
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) error {
	if v.Type().Key().Kind() != reflect.String {
		return fail(n, path, "cannot decode into %s", v.Type())
	}
	pairs, err := d.pairs(n, path)
	if err != nil {
		return err
	}
	m := reflect.MakeMapWithSize(v.Type(), len(pairs))
	for _, p := range pairs {
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.decode(p.value, elem, join(path, p.key)); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	pairs, err := d.pairs(n, path)
	if err != nil {
		return err
	}
	fields := fieldsOf(v.Type())
	for _, p := range pairs {
		index, ok := fields[p.key]
		if !ok {
			d.warnf(p.line, "unknown key %q", join(path, p.key))
			continue
		}
		if err := d.decode(p.value, v.FieldByIndex(index), join(path, p.key)); err != nil {
			return err
		}
	}
	return nil
}

// fieldsOf maps a struct's keys (json tag names) to field indexes, with the
// fields of embedded structs inlined as encoding/json does.
func fieldsOf(t reflect.Type) map[string][]int {
	fields := make(map[string][]int)
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			index := append(append([]int(nil), prefix...), i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index)
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, taken := fields[name]; !taken {
				fields[name] = index
			}
		}
	}
	walk(t, nil)
	return fields
}

type pair struct {
	key   string
	line  int
	value *yaml.Node
}

// pairs lists a mapping's entries in order, expanding merge keys (<<) and
// refusing duplicate keys.
func (d *decoder) pairs(n *yaml.Node, path string) ([]pair, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fail(n, path, "expected a mapping")
	}
	var out, merged []pair
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := d.resolve(n.Content[i], path)
		if err != nil {
			return nil, err
		}
		val := n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			m, err := d.mergePairs(val, path)
			if err != nil {
				return nil, err
			}
			merged = append(merged, m...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fail(k, path, "expected a string key")
		}
		if seen[k.Value] {
			return nil, fail(k, join(path, k.Value), "duplicate key")
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, line: k.Line, value: val})
	}
	// Explicit keys win over merged ones, and the first merged source wins.
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func (d *decoder) mergePairs(n *yaml.Node, path string) ([]pair, error) {
	n, err := d.resolve(n, path)
	if err != nil {
		return nil, err
	}
	if n.Kind == yaml.SequenceNode {
		var out []pair
		for _, item := range n.Content {
			p, err := d.mergePairs(item, path)
			if err != nil {
				return nil, err
			}
			out = append(out, p...)
		}
		return out, nil
	}
	return d.pairs(n, path)
}

// generic converts a node into JSON-shaped Go values: map[string]any,
// []any, string, int64, float64, bool and nil.
func (d *decoder) generic(n *yaml.Node, path string) (any, error) {
	n, err := d.resolve(n, path)
	if err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		pairs, err := d.pairs(n, path)
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(pairs))
		for _, p := range pairs {
			x, err := d.generic(p.value, join(path, p.key))
			if err != nil {
				return nil, err
			}
			m[p.key] = x
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			x, err := d.generic(item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			s[i] = x
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n, path)
	}
	return nil, fail(n, path, "unexpected YAML node")
}

func scalar(n *yaml.Node, path string) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		b, _ := scalarBool(n)
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fail(n, path, "invalid integer %q", n.Value)
		}
		return f, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fail(n, path, "invalid number %q", n.Value)
		}
		if f != f || f > maxFloat || f < -maxFloat {
			return nil, fail(n, path, "number %q cannot be represented in JSON", n.Value)
		}
		return f, nil
	}
	// Strings, timestamps, binary and custom tags keep their text.
	return n.Value, nil
}

const maxFloat = 1.7976931348623157e308

// scalarBool reads a boolean, accepting the YAML 1.1 words Fleet's YAML
// library accepts.
func scalarBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	if n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return false, false
	}
	switch n.Value {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE":
		return true, true
	case "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
