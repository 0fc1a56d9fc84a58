package kubeclass

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// Limits of a manifest.
const (
	// MaxManifestBytes bounds a manifest's length: the API server's own
	// limit of a request body is 3 MiB.
	MaxManifestBytes = 3 << 20
	// MaxObjects bounds the objects of a manifest, the items of its
	// Lists included.
	MaxObjects = 256
	// MaxDepth bounds the nesting of mappings and sequences.
	MaxDepth = 100
)

// document is one document of a manifest, parsed.
type document struct {
	index int // 1-based
	line  int // its first line in the manifest (0: unknown)
	value map[string]any
}

// parseDocuments splits a manifest into its documents and parses each,
// strictly: see the package documentation for what is refused. Empty
// documents (only comments, or null) are skipped, as kubectl skips them.
func parseDocuments(data []byte) ([]document, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if len(trimmed) == 0 {
		return nil, refused(0, 0, "", "the manifest is empty")
	}
	var docs []document
	var err error
	if trimmed[0] == '{' { // kubectl's test: a stream of JSON objects
		docs, err = parseJSON(data)
	} else {
		docs, err = parseYAML(data)
	}
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, refused(0, 0, "", "the manifest holds no object (only comments or empty documents)")
	}
	return docs, nil
}

// checkText refuses a text too long, not UTF-8, or with characters that
// parsers read differently.
func checkText(data []byte) error {
	switch {
	case len(data) > MaxManifestBytes:
		return refused(0, 0, "", "the manifest is %d bytes, longer than the limit of %d", len(data), MaxManifestBytes)
	case !utf8.Valid(data):
		return syntaxErr(0, 0, "invalid UTF-8")
	}
	if i := bytes.IndexFunc(data, forbidden); i >= 0 {
		r, _ := utf8.DecodeRune(data[i:])
		return syntaxErr(0, lineAt(data, i), "character %U: manifests may hold tabs and line feeds (a carriage return only before a line feed), and no other control character or line separator", r)
	}
	if bytes.Count(data, []byte("\r")) != bytes.Count(data, []byte("\r\n")) {
		return syntaxErr(0, lineAt(data, bytes.Index(data, []byte("\r"))), "a carriage return not followed by a line feed (YAML reads it as a line break, kubectl's document splitter does not)")
	}
	return nil
}

// forbidden are the characters a manifest may not hold: control
// characters other than tab, line feed and carriage return, and the
// line breaks of YAML 1.1 (which kubectl's parser reads as line breaks,
// and the splitter does not).
func forbidden(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r == 0x2028 || r == 0x2029 || r == 0xfeff:
		return true
	}
	return false
}

func lineAt(data []byte, off int) int {
	if off < 0 || off > len(data) {
		return 0
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// parseYAML splits data into documents with kubectl's own splitter
// (k8s.io/apimachinery's YAMLReader: a line that begins with "---" and
// holds nothing else but a comment) and parses each chunk, which must
// hold one YAML document at most.
func parseYAML(data []byte) ([]document, error) {
	starts := chunkLines(data)
	rd := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for i := 1; ; i++ {
		chunk, err := rd.Read()
		if err == io.EOF {
			break
		}
		line := 0
		if i-1 < len(starts) {
			line = starts[i-1]
		}
		if err != nil {
			// The splitter's error quotes the line: say what is wrong
			// without it (it may be anyone's data).
			return nil, syntaxErr(i, line, "a line that begins with --- has text after it (kubectl's document separator is a line of its own: ---, then nothing but a comment)")
		}
		v, err := parseChunk(chunk, i, line)
		if err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, document{index: i, line: line, value: v})
		}
	}
	return docs, nil
}

// chunkLines returns the first line of every chunk kubectl's splitter
// yields from data, for error messages.
func chunkLines(data []byte) []int {
	var starts []int
	start, inChunk := 1, false
	for n, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "---"); ok {
			if t := strings.TrimSpace(rest); t == "" || t[0] == '#' {
				if inChunk {
					starts = append(starts, start)
				}
				start, inChunk = n+2, false
				continue
			}
		}
		inChunk = true
	}
	if inChunk {
		starts = append(starts, start)
	}
	return starts
}

// parseChunk parses one chunk of a YAML stream: nil for an empty one.
func parseChunk(chunk []byte, doc, line int) (map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(chunk))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, syntaxErr(doc, line, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, refused(doc, line, "", "the document holds a second YAML document that kubectl's splitter does not see (a '...' end marker, or '---' with text after it): write each object after a line of its own that is only ---")
	}
	c := converter{doc: doc, base: line}
	if len(root.Content) != 1 {
		return nil, syntaxErr(doc, line, "not a YAML document")
	}
	v, err := c.value(root.Content[0], "", 0)
	if err != nil {
		return nil, err
	}
	// What kubectl reads: sigs.k8s.io/yaml (YAML 1.1, as the API
	// machinery decodes YAML). Both readings must agree exactly.
	theirs, err := sigsyaml.YAMLToJSONStrict(chunk)
	if err != nil {
		return nil, refused(doc, line, "", "kubectl's YAML parser refuses the document: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	ours, err := json.Marshal(v)
	if err != nil {
		return nil, refused(doc, line, "", "the document cannot be written as JSON: %v", err)
	}
	if !bytes.Equal(ours, theirs) {
		path := firstDifference(ours, theirs)
		return nil, refused(doc, line, path, "kubectl would read the document otherwise than Warden does (its YAML 1.1 reads unquoted yes, no, on, off, y and n as booleans, and a key that is not a string as one): quote the value, or write true or false")
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, refused(doc, line, "", "a document must be an object (a mapping with apiVersion and kind), not a %s", typeName(v))
	}
	return m, nil
}

// converter turns YAML nodes into JSON values, refusing what Warden
// does not read.
type converter struct {
	doc, base int
}

func (c *converter) line(n *yaml.Node) int {
	if c.base == 0 || n.Line == 0 {
		return 0
	}
	return c.base + n.Line - 1
}

func (c *converter) value(n *yaml.Node, path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, refused(c.doc, c.line(n), path, "nested deeper than %d levels", MaxDepth)
	}
	if err := c.plain(n, path); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		lines := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if err := c.plain(k, path); err != nil {
				return nil, err
			}
			if k.Kind != yaml.ScalarNode {
				return nil, refused(c.doc, c.line(k), path, "a key that is not a string")
			}
			switch k.ShortTag() {
			case "!!str":
			case "!!merge":
				return nil, refused(c.doc, c.line(k), path, "the YAML merge key <<: Warden refuses merge keys (write the fields out)")
			default:
				return nil, refused(c.doc, c.line(k), path, "the key %q is a %s, not a string: quote it", k.Value, strings.TrimPrefix(k.ShortTag(), "!!"))
			}
			key := k.Value
			if first, dup := lines[key]; dup {
				return nil, refused(c.doc, c.line(k), path, "duplicate key %q (first at line %d): Warden refuses duplicate keys, which parsers resolve differently", key, first)
			}
			lines[key] = c.line(k)
			v, err := c.value(vn, join(path, key), depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			v, err := c.value(e, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		return c.scalar(n, path)
	}
	return nil, refused(c.doc, c.line(n), path, "an unexpected YAML node")
}

// plain refuses what makes a node stand for another or change type:
// aliases, anchors and explicit tags.
func (c *converter) plain(n *yaml.Node, path string) error {
	switch {
	case n.Kind == yaml.AliasNode:
		return refused(c.doc, c.line(n), path, "the YAML alias *%s: Warden refuses anchors and aliases (write the value out)", n.Value)
	case n.Anchor != "":
		return refused(c.doc, c.line(n), path, "the YAML anchor &%s: Warden refuses anchors and aliases (write the value out)", n.Anchor)
	case n.Style&yaml.TaggedStyle != 0:
		return refused(c.doc, c.line(n), path, "the explicit YAML tag %s: Warden refuses tags (quote a string instead)", n.Tag)
	}
	return nil
}

func (c *converter) scalar(n *yaml.Node, path string) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, refused(c.doc, c.line(n), path, "a boolean Warden cannot read")
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return u, nil
		}
		return nil, refused(c.doc, c.line(n), path, "an integer out of range")
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, refused(c.doc, c.line(n), path, "a number JSON cannot hold (infinite, not a number, or out of range)")
		}
		return f, nil
	}
	return nil, refused(c.doc, c.line(n), path, "a %s value, which JSON cannot hold", strings.TrimPrefix(n.ShortTag(), "!!"))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" || strings.ContainsAny(key, ".[]\"' ") {
		return path + "[" + strconv.Quote(key) + "]"
	}
	return path + "." + key
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "number"
}

// firstDifference is the path of the first value two JSON texts differ
// at ("" when unknown).
func firstDifference(a, b []byte) string {
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&va) != nil || db.Decode(&vb) != nil {
		return ""
	}
	p, _ := diff(va, vb, "")
	return p
}

func diff(a, b any, path string) (string, bool) {
	switch ta := a.(type) {
	case map[string]any:
		tb, ok := b.(map[string]any)
		if !ok {
			return path, true
		}
		keys := make([]string, 0, len(ta)+len(tb))
		for k := range ta {
			keys = append(keys, k)
		}
		for k := range tb {
			if _, ok := ta[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			va, oka := ta[k]
			vb, okb := tb[k]
			if oka != okb {
				return join(path, k), true
			}
			if p, d := diff(va, vb, join(path, k)); d {
				return p, true
			}
		}
		return "", false
	case []any:
		tb, ok := b.([]any)
		if !ok || len(ta) != len(tb) {
			return path, true
		}
		for i := range ta {
			if p, d := diff(ta[i], tb[i], fmt.Sprintf("%s[%d]", path, i)); d {
				return p, true
			}
		}
		return "", false
	}
	if a != b {
		return path, true
	}
	return "", false
}
