package kubeclass

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// parseJSON reads a stream of JSON objects (kubectl reads a manifest
// whose first character is '{' so), refusing duplicate keys.
func parseJSON(data []byte) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []document
	for i := 1; ; i++ {
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		line := lineAt(data, off+len(data[off:])-len(bytes.TrimLeftFunc(data[off:], unicode.IsSpace)))
		if err != nil {
			return nil, syntaxErr(i, line, "%v", err)
		}
		if tok != json.Delim('{') {
			return nil, refused(i, line, "", "a JSON manifest is a stream of JSON objects, and this is a %s", jsonTokenType(tok))
		}
		j := jsonReader{dec: dec, data: data, doc: i}
		v, err := j.object("", 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, document{index: i, line: line, value: v})
	}
	return docs, nil
}

type jsonReader struct {
	dec  *json.Decoder
	data []byte
	doc  int
}

func (j *jsonReader) fail(path, format string, args ...any) error {
	return refused(j.doc, lineAt(j.data, int(j.dec.InputOffset())), path, format, args...)
}

func (j *jsonReader) syntax(err error) error {
	return syntaxErr(j.doc, lineAt(j.data, int(j.dec.InputOffset())), "%v", err)
}

// object reads the rest of an object whose '{' was read.
func (j *jsonReader) object(path string, depth int) (map[string]any, error) {
	if depth > MaxDepth {
		return nil, j.fail(path, "nested deeper than %d levels", MaxDepth)
	}
	m := map[string]any{}
	for j.dec.More() {
		tok, err := j.dec.Token()
		if err != nil {
			return nil, j.syntax(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, j.fail(path, "a key that is not a string")
		}
		if _, dup := m[key]; dup {
			return nil, j.fail(path, "duplicate key %q: Warden refuses duplicate keys, which parsers resolve differently", key)
		}
		v, err := j.value(join(path, key), depth+1)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if _, err := j.dec.Token(); err != nil { // '}'
		return nil, j.syntax(err)
	}
	return m, nil
}

func (j *jsonReader) value(path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, j.fail(path, "nested deeper than %d levels", MaxDepth)
	}
	tok, err := j.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, j.syntax(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return j.object(path, depth)
		case '[':
			s := []any{}
			for j.dec.More() {
				v, err := j.value(fmt.Sprintf("%s[%d]", path, len(s)), depth+1)
				if err != nil {
					return nil, err
				}
				s = append(s, v)
			}
			if _, err := j.dec.Token(); err != nil { // ']'
				return nil, j.syntax(err)
			}
			return s, nil
		}
		return nil, j.fail(path, "unexpected %v", t)
	case json.Number:
		return j.number(path, t)
	case string, bool, nil:
		return t, nil
	}
	return nil, j.fail(path, "unexpected token %v", tok)
}

// number is n as the value Warden sends: an integer as int64 (or
// uint64), anything else as float64; a number that would change on the
// way (an integer too large) is refused.
func (j *jsonReader) number(path string, n json.Number) (any, error) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		return nil, j.fail(path, "an integer out of range")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, j.fail(path, "a number out of range")
	}
	return f, nil
}

func jsonTokenType(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "list"
		}
		return "stray " + t.String()
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}
