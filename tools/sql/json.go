package sql

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/wardenhq/warden/internal/jsonenc"
)

// MarshalJSON encodes a query result without reflection: results are the
// largest thing Warden sends, and encoding/json's generic path for [][]any
// dominated the cost of a 1,000-row call.
func (r *QueryResult) MarshalJSON() ([]byte, error) {
	n := 256
	for _, row := range r.Rows {
		n += 4 + 16*len(row)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"connection":`...)
	b = jsonenc.AppendString(b, r.Connection)
	b = append(b, `,"columns":[`...)
	for i, c := range r.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = jsonenc.AppendString(b, c.Name)
		b = append(b, `,"type":`...)
		b = jsonenc.AppendString(b, c.Type)
		b = append(b, '}')
	}
	b = append(b, `],"rows":[`...)
	for i, row := range r.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, v := range row {
			if j > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, v); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `],"row_count":`...)
	b = strconv.AppendInt(b, int64(r.RowCount), 10)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, r.Truncated)
	b = append(b, `,"max_rows":`...)
	b = strconv.AppendInt(b, int64(r.MaxRows), 10)
	b = append(b, `,"elapsed_ms":`...)
	b = jsonenc.AppendFloat(b, r.ElapsedMs)
	if r.CommandTag != "" {
		b = append(b, `,"command_tag":`...)
		b = jsonenc.AppendString(b, r.CommandTag)
	}
	b = append(b, `,"read_only":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	if len(r.Masked) > 0 {
		m, err := json.Marshal(r.Masked)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"masked":`...)
		b = append(b, m...)
	}
	if r.AuditID != "" {
		b = append(b, `,"audit_id":`...)
		b = jsonenc.AppendString(b, r.AuditID)
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonenc.AppendString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return jsonenc.AppendString(b, strconv.FormatFloat(x, 'g', -1, 64)), nil
		}
		return jsonenc.AppendFloat(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case json.Number:
		if x == "" {
			return append(b, '0'), nil
		}
		return append(b, x...), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(b, "null"...), nil
		}
		return append(b, x...), nil
	}
	m, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, m...), nil
}
