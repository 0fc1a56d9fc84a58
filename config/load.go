package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, strictly decodes and validates a configuration file.
// The error, if any, is an Errors listing every problem with file:line.
func Load(path string) (*Config, error) {
	cfg, err := Check(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Check reads and checks a configuration file as Load does, for reporting
// every problem at once: with problems, it returns them (an Errors) and,
// unless the file could not be read or parsed at all, the configuration as
// far as it could be decoded, so that later stages (policy compilation) can
// check it too and the report can say what it holds. A configuration
// returned with an error must not be served.
func Check(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, errs := parse(path, data)
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

// Parse decodes and validates configuration text; path is used for
// positions in errors and to resolve relative paths.
func Parse(path string, data []byte) (*Config, error) {
	cfg, errs := parse(path, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// parse decodes, loads the included files of and validates configuration
// text. It returns the configuration (nil when the text is not YAML of a
// mapping at all) and every problem, settled (see Combine).
func parse(path string, data []byte) (*Config, Errors) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("config path: %v", err)}}
	}
	cfg := &Config{Path: path, Dir: filepath.Dir(abs), pos: positions{}}
	errs, decoded := decodeStrict(path, data, cfg, cfg.pos)
	if !decoded {
		return nil, settle(errs, path)
	}
	errs = append(errs, cfg.loadIncludes()...)
	errs = append(errs, cfg.validate()...)
	return cfg, settle(errs, path)
}

// decodeStrict decodes YAML text into v (a pointer to a struct). It checks
// the YAML tree against the Go types first, so that every unknown key,
// misplaced value and value of the wrong type is an error with its key
// path and position, records the position of every value in pos, and
// leaves the values in error out of the decoding, so that the rest of v is
// decoded. decoded is false when the text could not be parsed at all.
func decodeStrict(path string, data []byte, v any, pos positions) (errs Errors, decoded bool) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return Errors{syntaxError(path, err)}, false
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return Errors{{File: path, Msg: "the file is empty; see docs/configuration.md for the expected shape"}}, false
	}
	w := &walker{file: path, pos: pos}
	w.check(root.Content[0], reflect.TypeOf(v).Elem(), "")
	errs = w.errs
	// The walker has taken every value that would not decode out of the
	// tree: an error here is one it does not know of.
	if err := root.Content[0].Decode(v); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return append(errs, syntaxError(path, err)), false
		}
		for _, msg := range te.Errors {
			errs = append(errs, syntaxError(path, errors.New(msg)))
		}
	}
	return errs, true
}

var (
	yamlLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	integerText = regexp.MustCompile(`^[-+]?[0-9]+$`)
)

// syntaxError positions an error of the YAML parser. yaml.v3 reports
// syntax errors as text only ("yaml: line 3: mapping values are not
// allowed in this context"), so the line is read from it.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// walker checks a YAML tree against the Go types it will decode into, so
// that an unknown or misplaced key or a value of the wrong type is an error
// with its key path and position, and records where every value was
// written. A value that would not decode is taken out of the tree.
type walker struct {
	file string
	pos  positions
	errs Errors
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
)

func (w *walker) errorf(n *yaml.Node, key, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: n.Line, Column: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// reject records that the value n at path cannot be decoded and takes it
// out of the decoding: n becomes null, so its field keeps its zero value
// (and validation its default), and the rest of the file still decodes.
func (w *walker) reject(n *yaml.Node, e *Error) {
	e.File, e.undecoded = w.file, true
	w.errs = append(w.errs, e)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func (w *walker) rejectf(n *yaml.Node, key, format string, args ...any) {
	w.reject(n, &Error{Line: n.Line, Column: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	at := n // an alias is replaced itself, not the value it names
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		w.pos[path] = Pos{n.Line, n.Column}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	where := path
	if where == "" {
		where = "the top level"
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.rejectUnmarshaler(at, path, where, err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.rejectf(at, path, "%s: expected a mapping of %s, got %s", where, strings.Join(fieldNames(t), ", "), describe(n))
			return
		}
		w.checkFields(n, t, path, where)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.rejectf(at, path, "%s: expected a list, got %s", where, describe(n))
			return
		}
		for i, el := range n.Content {
			w.check(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.rejectf(at, path, "%s: expected a mapping, got %s", where, describe(n))
			return
		}
		w.dropRepeatedKeys(n, path)
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.rejectf(at, path, "%s: %s, got %s", where, expected(t), describe(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.rejectf(at, path, "%s: %s; got %s%s", where, expected(t), scalarText(n), hint(t, n))
		}
	}
}

// checkFields checks a mapping's keys against struct type t: each key must
// be one of its fields, once, and each value of its field's type. Merge
// keys (<<) bring in their mappings' keys, checked the same way.
func (w *walker) checkFields(n *yaml.Node, t reflect.Type, path, where string) {
	w.dropRepeatedKeys(n, path)
	fields := structFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			for _, m := range mergedMappings(v) {
				w.checkFields(m, t, path, where)
			}
			continue
		}
		ft, ok := fields[k.Value]
		if !ok {
			w.errorf(k, join(path, k.Value), "unknown key %q in %s (expected one of: %s)", k.Value, where, strings.Join(fieldNames(t), ", "))
			continue
		}
		w.check(v, ft, join(path, k.Value))
	}
}

// dropRepeatedKeys reports a key written twice in one mapping and takes
// the later one out: the first stands.
func (w *walker) dropRepeatedKeys(n *yaml.Node, path string) {
	first := map[string]*yaml.Node{}
	content := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() != "!!merge" {
			if f, ok := first[k.Value]; ok {
				w.errorf(k, join(path, k.Value), "%s: written twice (first at line %d); remove one", join(path, k.Value), f.Line)
				continue
			}
			first[k.Value] = k
		}
		content = append(content, k, v)
	}
	n.Content = content
}

// mergedMappings are the mappings a merge key's value names: one mapping,
// or a list of them.
func mergedMappings(v *yaml.Node) []*yaml.Node {
	resolve := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			return n.Alias
		}
		return n
	}
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, el := range v.Content {
			if m := resolve(el); m.Kind == yaml.MappingNode {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// rejectUnmarshaler reports the error of a type that decodes itself
// (MaskingStrategy): positioned where that type says, when it says.
func (w *walker) rejectUnmarshaler(n *yaml.Node, path, where string, err error) {
	e := &Error{Line: n.Line, Column: n.Column, Key: path, Msg: fmt.Sprintf("%s: %v", where, err)}
	var pe *Error
	if errors.As(err, &pe) {
		if pe.Line > 0 {
			e.Line, e.Column = pe.Line, pe.Column
		}
		if pe.Key != "" {
			e.Key = join(path, pe.Key)
		}
		e.Msg = fmt.Sprintf("%s: %s", e.Key, pe.Msg)
	}
	w.reject(n, e)
}

// expected says what a value of type t is, with an example.
func expected(t reflect.Type) string {
	if t == durationType {
		return "expected a duration such as 10s or 2m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "expected true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "expected a whole number such as 100"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "expected a whole number, 0 or more, such as 100"
	case reflect.Float32, reflect.Float64:
		return "expected a number such as 0.5"
	case reflect.String:
		return "expected a single value (text)"
	}
	return "expected a single value (" + t.Kind().String() + ")"
}

// hint says how to fix a value that is close to right.
func hint(t reflect.Type, n *yaml.Node) string {
	_, numErr := strconv.ParseFloat(n.Value, 64)
	switch {
	case t == durationType && numErr == nil:
		return " (add a unit)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && integerText.MatchString(n.Value):
		return " (out of range)"
	}
	return ""
}

// scalarText shows a scalar as written: text quoted, numbers and booleans
// bare.
func scalarText(n *yaml.Node) string {
	if n.ShortTag() == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// structFields maps YAML keys to field types, following inline fields.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for k := range structFields(t) {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// DecodeStrict decodes another YAML file of Warden's (policy tests, for
// example) into v, a pointer to a struct, with the same strictness and
// positioned errors as the configuration itself.
func DecodeStrict(path string, data []byte, v any) error {
	if errs, _ := decodeStrict(path, data, v, positions{}); len(errs) > 0 {
		return settle(errs, path)
	}
	return nil
}
