package mysql

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder turns one column's values, as the driver scanned them, into
// JSON-friendly values (connectors.Rows): numbers as int64, float64 or
// json.Number, JSON documents as json.RawMessage, text as string, binary
// data as a string when it is UTF-8 text and as "0x" and hex otherwise.
type decoder int

const (
	decText    decoder = iota // scanned into sql.RawBytes
	decInt                    // int64 from the driver
	decUint                   // uint64 from the driver (BIGINT UNSIGNED)
	decFloat32                // float32 from the driver (FLOAT)
	decFloat64                // float64 from the driver (DOUBLE)
	decDecimal                // exact decimal text
	decJSON                   // a JSON document
	decBinary                 // bytes that may not be text
	decBit                    // BIT(n): big-endian bits
)

// decoderFor chooses by the driver's type name (ColumnType.DatabaseTypeName).
func decoderFor(dbType string) decoder {
	switch dbType {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
		return decInt
	case "UNSIGNED BIGINT":
		return decUint
	case "FLOAT":
		return decFloat32
	case "DOUBLE":
		return decFloat64
	case "DECIMAL":
		return decDecimal
	case "JSON":
		return decJSON
	case "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "GEOMETRY":
		return decBinary
	case "BIT":
		return decBit
	}
	return decText
}

// scanTarget is what the driver scans a column of d into.
func (d decoder) scanTarget() any {
	switch d {
	case decInt, decUint, decFloat32, decFloat64:
		return new(any)
	}
	return new(sql.RawBytes)
}

// decode converts a scanned value; raw bytes are copied, never kept.
func (d decoder) decode(dest any) any {
	if p, ok := dest.(*any); ok {
		switch v := (*p).(type) {
		case nil:
			return nil
		case int64:
			return v
		case uint64:
			if v <= math.MaxInt64 {
				return int64(v)
			}
			return json.Number(strconv.FormatUint(v, 10))
		case float32:
			// The shortest text of the float32, read as a float64: 0.1,
			// not 0.10000000149011612.
			f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
			return f
		case float64:
			return v
		case []byte:
			return string(v)
		default:
			return v
		}
	}
	raw := *dest.(*sql.RawBytes)
	if raw == nil {
		return nil
	}
	switch d {
	case decDecimal:
		return json.Number(string(raw))
	case decJSON:
		if json.Valid(raw) {
			return json.RawMessage(append([]byte(nil), raw...))
		}
		return string(raw)
	case decBinary:
		if utf8.Valid(raw) {
			return string(raw)
		}
		return "0x" + hex.EncodeToString(raw)
	case decBit:
		if len(raw) <= 8 {
			var n uint64
			for _, b := range raw {
				n = n<<8 | uint64(b)
			}
			if n <= math.MaxInt64 {
				return int64(n)
			}
		}
		return "0x" + hex.EncodeToString(raw)
	}
	return string(raw)
}

// typeName is a column's type as MySQL writes it ("int unsigned",
// "varchar").
func typeName(dbType string) string {
	t := strings.ToLower(dbType)
	if rest, ok := strings.CutPrefix(t, "unsigned "); ok {
		return rest + " unsigned"
	}
	if t == "" {
		return "unknown"
	}
	return t
}
