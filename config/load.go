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
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, strictly decodes and validates a configuration file.
// The error, if any, is an Errors listing every problem with file:line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates configuration text; path is used for
// positions in errors and to resolve relative paths.
func Parse(path string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path %s: %w", path, err)
	}
	cfg := &Config{Path: path, Dir: filepath.Dir(abs), pos: positions{}}

	errs, decoded := decodeStrict(path, data, cfg, cfg.pos)
	if decoded {
		errs = append(errs, cfg.loadIncludes()...)
		errs = append(errs, cfg.validate()...)
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			if errs[i].File != errs[j].File {
				return errs[i].File == path
			}
			return errs[i].Line < errs[j].Line
		})
		return nil, errs
	}
	return cfg, nil
}

// decodeStrict decodes YAML text into v (a pointer to a struct), reporting
// unknown keys and misplaced values with their positions, and records the
// position of every value in pos.
func decodeStrict(path string, data []byte, v any, pos positions) (errs Errors, decoded bool) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return Errors{yamlError(path, err)}, false
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return Errors{{File: path, Msg: "the file is empty; see docs/configuration.md for the expected shape"}}, false
	}
	// Report shape problems (unknown keys, lists where mappings belong) and
	// value problems together, so one run shows everything to fix.
	w := &walker{file: path, pos: pos}
	w.check(root.Content[0], reflect.TypeOf(v).Elem(), "")
	errs = w.errs
	if err := root.Content[0].Decode(v); err != nil {
		if len(errs) == 0 {
			errs = append(errs, yamlError(path, err))
		}
		return errs, false
	}
	return errs, true
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into positioned Errors.
func yamlError(file string, err error) *Error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	if m := yamlLine.FindStringSubmatch(strings.TrimSpace(msg)); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// walker checks a YAML tree against the Go types it will decode into, so
// that an unknown or misplaced key is an error with its position, and
// records where every value was written.
type walker struct {
	file string
	pos  positions
	errs Errors
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
)

func (w *walker) errorf(n *yaml.Node, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
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
	if reflect.PointerTo(t).Implements(unmarshalerType) || t == durationType {
		return
	}
	where := path
	if where == "" {
		where = "the top level"
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.errorf(n, "%s: expected a mapping of %s, got %s", where, strings.Join(fieldNames(t), ", "), describe(n))
			return
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				w.errorf(k, "unknown key %q in %s (expected one of: %s)", k.Value, where, strings.Join(fieldNames(t), ", "))
				continue
			}
			w.check(v, ft, join(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.errorf(n, "%s: expected a list, got %s", where, describe(n))
			return
		}
		for i, el := range n.Content {
			w.check(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.errorf(n, "%s: expected a mapping, got %s", where, describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.errorf(n, "%s: expected a single value (%s), got %s", where, t.Kind(), describe(n))
		}
	}
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
		return errs
	}
	return nil
}
