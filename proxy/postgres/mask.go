package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	pgconnector "github.com/wardenhq/warden/connectors/postgres"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/masking"
)

// rowMasker masks DataRow messages in place: each value is decoded to the
// JSON-friendly value masking works on (as run_query's results are), the
// masker runs, and the values it changed are encoded again, in the
// column's format, with the message's lengths recomputed on encoding.
type rowMasker struct {
	rm     masking.RowMasker
	oids   []uint32
	binary []bool
	names  []string
	vals   []any
	orig   []any
	types  *pgtype.Map
}

// startMasking builds the masker of a portal's result before its first
// row, from the columns the target described.
func (s *session) startMasking(po *portal) {
	if po.call == nil || po.call.Decision.Masking == "" {
		return
	}
	var rc *resultCols
	if po.fields == nil && po.st.described {
		// A prepared statement's result, described once: its columns are
		// worked out once per result formats.
		if c := po.st.cols; c != nil && slices.Equal(c.formats, po.formats) {
			rc = c
		} else {
			rc = newResultCols(withFormats(po.st.fields, po.formats), po.formats)
			po.st.cols = rc
		}
	} else if c := po.st.portalCols; c != nil && sameSlice(po.fields, po.st.portalFields) && slices.Equal(c.formats, po.formats) {
		// The portal was described as the statement's last one was.
		rc = c
	} else {
		rc = newResultCols(po.fields, po.formats)
		if sameSlice(po.fields, po.st.portalFields) {
			po.st.portalCols = rc
		}
	}
	rm, err := po.call.Masker(context.Background(), rc.cols) // masking bounds its own catalog look-ups
	if err != nil {
		po.refusal = err
		s.cancelStatement(po)
		return
	}
	if rm == nil {
		return
	}
	n := len(rc.cols)
	vals := make([]any, 2*n)
	po.masker = &rowMasker{rm: rm, types: s.types, oids: rc.oids, binary: rc.binary, names: rc.names, vals: vals[:n:n], orig: vals[n:]}
}

// sameSlice reports whether a and b are the same non-empty slice.
func sameSlice(a, b []pgproto3.FieldDescription) bool {
	return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0]
}

// resultCols is what masking needs to know of a result's columns; shared,
// never changed once made.
type resultCols struct {
	formats []int16 // the Bind's result formats it was made for
	cols    []masking.Column
	oids    []uint32
	binary  []bool
	names   []string
}

func newResultCols(fields []pgproto3.FieldDescription, formats []int16) *resultCols {
	n := len(fields)
	rc := &resultCols{formats: slices.Clone(formats), cols: make([]masking.Column, n),
		oids: make([]uint32, n), binary: make([]bool, n), names: make([]string, n)}
	for i, f := range fields {
		name := string(f.Name)
		rc.cols[i] = masking.Column{Name: name, Type: pgconnector.TypeName(f.DataTypeOID), TableOID: f.TableOID, Attribute: f.TableAttributeNumber}
		rc.oids[i], rc.binary[i], rc.names[i] = f.DataTypeOID, f.Format == 1, name
	}
	return rc
}

// withFormats applies a Bind's result format codes to a statement's
// fields, as PostgreSQL does for the portal.
func withFormats(fields []pgproto3.FieldDescription, formats []int16) []pgproto3.FieldDescription {
	out := make([]pgproto3.FieldDescription, len(fields))
	copy(out, fields)
	for i := range out {
		switch {
		case len(formats) == 0:
			out[i].Format = 0
		case len(formats) == 1:
			out[i].Format = formats[0]
		case i < len(formats):
			out[i].Format = formats[i]
		}
	}
	return out
}

// mask rewrites one row. An error refuses the result: a binary value
// masking cannot read, or a masked value the column's binary format
// cannot hold.
func (m *rowMasker) mask(s *session, dr *pgproto3.DataRow) error {
	if len(dr.Values) != len(m.oids) {
		return &gateway.Error{Code: gateway.CodeInternal, Message: "the row does not match its description, so it was not returned"}
	}
	for i, v := range dr.Values {
		if v == nil {
			m.vals[i] = nil
		} else if m.binary[i] {
			x, err := m.decodeBinary(i, v)
			if err != nil {
				return err
			}
			m.vals[i] = x
		} else {
			m.vals[i] = pgconnector.DecodeText(m.oids[i], v)
		}
		m.orig[i] = m.vals[i]
	}
	m.rm.MaskRow(m.vals)
	for i := range m.vals {
		if same(m.vals[i], m.orig[i]) {
			continue
		}
		b, err := m.encode(i, m.vals[i])
		if err != nil {
			return err
		}
		dr.Values[i] = b
	}
	return nil
}

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
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && x == y
	case json.RawMessage:
		y, ok := b.(json.RawMessage)
		return ok && string(x) == string(y)
	}
	return false
}

// textLike are the types whose binary format is their text (jsonb with a
// version byte).
func textLike(oid uint32) bool {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.JSONOID, pgtype.XMLOID, 705 /* unknown */ :
		return true
	}
	return false
}

// decodeBinary reads a binary value as masking sees values: its text form
// (PostgreSQL's output syntax), decoded like a text-format value.
func (m *rowMasker) decodeBinary(i int, v []byte) (any, error) {
	oid := m.oids[i]
	switch {
	case textLike(oid):
		return string(v), nil
	case oid == pgtype.JSONBOID:
		if len(v) > 0 && v[0] == 1 {
			return json.RawMessage(append([]byte(nil), v[1:]...)), nil
		}
	}
	dt, ok := m.types.TypeForOID(oid)
	if ok {
		val, err := dt.Codec.DecodeValue(m.types, oid, pgtype.BinaryFormatCode, v)
		if err == nil {
			txt, err := m.types.Encode(oid, pgtype.TextFormatCode, val, nil)
			if err == nil && txt != nil {
				return pgconnector.DecodeText(oid, txt), nil
			}
		}
	}
	return nil, &gateway.Error{Code: gateway.CodeDenied,
		Message: fmt.Sprintf("column %q (type OID %d) was asked for in binary format, which Warden cannot read to mask it", m.names[i], oid),
		Hint:    "Ask for text results (for pgx: QueryExecModeExec or a text format code), or cast the column to text"}
}

// encode writes a masked value in its column's format.
func (m *rowMasker) encode(i int, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var txt []byte
	switch x := v.(type) {
	case string:
		txt = []byte(x)
	case int64:
		txt = strconv.AppendInt(nil, x, 10)
	case float64:
		txt = strconv.AppendFloat(nil, x, 'g', -1, 64)
	case bool:
		txt = []byte{'f'}
		if x {
			txt[0] = 't'
		}
	case json.Number:
		txt = []byte(x)
	case json.RawMessage:
		txt = []byte(x)
	default:
		txt = fmt.Appendf(nil, "%v", x)
	}
	if !m.binary[i] {
		return txt, nil
	}
	oid := m.oids[i]
	switch {
	case textLike(oid):
		return txt, nil
	case oid == pgtype.JSONBOID:
		return append([]byte{1}, txt...), nil
	}
	return nil, &gateway.Error{Code: gateway.CodeDenied,
		Message: fmt.Sprintf("column %q is masked, and its masked value cannot be sent in binary format (type OID %d)", m.names[i], oid),
		Hint:    "Ask for text results, or cast the column to text"}
}
