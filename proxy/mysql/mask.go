package mysql

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/wardenhq/warden/masking"
)

// Masking of a result: each row's values are decoded into the
// JSON-friendly values masking works on (as run_query's are: integers,
// floats, exact decimals as json.Number, text as strings, binary data as
// a string when it is UTF-8 and "0x" and hex otherwise), the row masker
// runs, and each value it changed is written back as text. The masker is
// built from the result's columns — each with the origin its column
// definition reports — and the statement, whose lineage analysis
// (vitess's parser) resolves each output column to its source columns:
// an alias is still the masked column, and an output computed from a
// masked one is refused.

// maskerTimeout bounds the catalog look-ups masking makes for a result.
const maskerTimeout = 30 * time.Second

// startMasking builds the result's row masker; an error refuses the
// result before any row is sent.
func (r *result) startMasking(ctx context.Context) error {
	if r.gr.Decision.Masking == "" {
		return nil
	}
	cols := make([]masking.Column, len(r.fields))
	for i, f := range r.fields {
		// The column definition's origin (schema, org_table, org_name):
		// masking adds it to what the statement's lineage finds.
		cols[i] = masking.Column{Name: f.Name, Type: strings.ToLower(f.Type.String()),
			Origin: masking.ColumnName{Schema: f.Database, Table: f.OrgTable, Column: f.OrgName}}
	}
	mctx, cancel := context.WithTimeout(ctx, maskerTimeout)
	defer cancel()
	rm, err := r.gr.Masker(mctx, cols)
	if err != nil {
		return err
	}
	if rm == nil {
		return nil
	}
	r.masker = rm
	n := len(r.fields)
	vals := make([]any, 2*n)
	r.vals, r.orig = vals[:n:n], vals[n:]
	return nil
}

// mask masks one row in place. A masked value that its column's type
// cannot carry in the binary protocol refuses the result.
func (r *result) mask(row []sqltypes.Value) error {
	if len(row) != len(r.fields) {
		return fmt.Errorf("a row of %d values for %d columns", len(row), len(r.fields))
	}
	for i, v := range row {
		r.vals[i] = decode(v)
		r.orig[i] = r.vals[i]
	}
	r.masker.MaskRow(r.vals)
	for i := range row {
		if same(r.orig[i], r.vals[i]) {
			continue
		}
		nv, err := encode(r.fields[i], r.vals[i], r.binary)
		if err != nil {
			return err
		}
		row[i] = nv
	}
	return nil
}

// decode turns a text-protocol value into masking's value.
func decode(v sqltypes.Value) any {
	if v.IsNull() {
		return nil
	}
	raw := v.Raw()
	t := v.Type()
	switch {
	case sqltypes.IsSigned(t):
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return n
		}
	case sqltypes.IsUnsigned(t):
		if n, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
			if n <= math.MaxInt64 {
				return int64(n)
			}
			return json.Number(raw)
		}
	case sqltypes.IsFloat(t):
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return f
		}
	case sqltypes.IsDecimal(t):
		return json.Number(raw)
	case t == sqltypes.TypeJSON:
		if json.Valid(raw) {
			return json.RawMessage(raw)
		}
	case sqltypes.IsBinary(t) || t == sqltypes.Bit:
		if !utf8.Valid(raw) {
			return "0x" + hex.EncodeToString(raw)
		}
	}
	return string(raw)
}

// same reports whether masking left a value as it was.
func same(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || x != x && y != y)
	case json.Number:
		y, ok := b.(json.Number)
		return ok && x == y
	case json.RawMessage:
		y, ok := b.(json.RawMessage)
		return ok && bytes.Equal(x, y)
	}
	return false
}

// encode writes a masked value back for column f. In the text protocol
// any text goes; in the binary protocol the value must be one the
// column's type encodes (a number for a numeric column, text for a text
// one), or the result is refused.
func encode(f *querypb.Field, v any, binary bool) (sqltypes.Value, error) {
	var text string
	switch x := v.(type) {
	case nil:
		return sqltypes.NULL, nil
	case string:
		text = x
	case int64:
		text = strconv.FormatInt(x, 10)
	case float64:
		text = strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		text = string(x)
	case json.RawMessage:
		text = string(x)
	case bool:
		text = "0"
		if x {
			text = "1"
		}
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return sqltypes.Value{}, fmt.Errorf("masking: a masked value of column %q cannot be written: %v", f.Name, err)
		}
		text = string(b)
	}
	t := f.Type
	if sqltypes.IsTextOrBinary(t) || t == sqltypes.TypeJSON || t == sqltypes.Enum || t == sqltypes.Set || !binary {
		return sqltypes.MakeTrusted(t, []byte(text)), nil
	}
	nv, err := sqltypes.NewValue(t, []byte(text))
	if err != nil || sqltypes.IsDateOrTime(t) || t == sqltypes.Bit || t == sqltypes.Geometry {
		return sqltypes.Value{}, &maskTypeError{column: f.Name, typ: strings.ToLower(t.String())}
	}
	return nv, nil
}

// maskTypeError refuses a binary-protocol result whose masked value its
// column's type cannot carry.
type maskTypeError struct{ column, typ string }

func (e *maskTypeError) Error() string {
	return fmt.Sprintf("refused by masking: column %q (%s) is masked to a value its type cannot carry in the binary protocol; select it as text (CAST(%s AS CHAR) is refused too: run the statement without a prepared statement)", e.column, e.typ, e.column)
}
