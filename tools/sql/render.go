package sql

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxCellWidth bounds a cell in the text rendering; the structured result
// always carries the full value.
const maxCellWidth = 80

// alignRows is the most rows rendered as an aligned table; longer results
// are rendered unpadded, which costs a model far fewer tokens.
const alignRows = 50

// renderQuery renders a result as text: an aligned table like psql for
// short results, " | "-separated lines for long ones.
func renderQuery(r *QueryResult) string {
	var b strings.Builder
	if len(r.Columns) > 0 && len(r.Rows) > alignRows {
		b.Grow(len(r.Rows) * len(r.Columns) * 12)
		for i, c := range r.Columns {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(c.Name)
		}
		b.WriteByte('\n')
		for _, row := range r.Rows {
			for j, v := range row {
				if j > 0 {
					b.WriteString(" | ")
				}
				b.WriteString(cellText(v))
			}
			b.WriteByte('\n')
		}
		renderFooter(&b, r)
		return b.String()
	}
	if len(r.Columns) == 0 {
		fmt.Fprintf(&b, "%s\n", nonEmpty(r.CommandTag, "OK"))
	} else {
		cells := make([][]string, len(r.Rows))
		width := make([]int, len(r.Columns))
		for i, c := range r.Columns {
			width[i] = utf8.RuneCountInString(c.Name)
		}
		for i, row := range r.Rows {
			cells[i] = make([]string, len(row))
			for j, v := range row {
				s := cellText(v)
				cells[i][j] = s
				width[j] = max(width[j], utf8.RuneCountInString(s))
			}
		}
		for i, c := range r.Columns {
			if i > 0 {
				b.WriteString(" | ")
			}
			pad(&b, c.Name, width[i])
		}
		b.WriteByte('\n')
		for i := range r.Columns {
			if i > 0 {
				b.WriteString("-+-")
			}
			b.WriteString(strings.Repeat("-", width[i]))
		}
		b.WriteByte('\n')
		for _, row := range cells {
			for j, s := range row {
				if j > 0 {
					b.WriteString(" | ")
				}
				pad(&b, s, width[j])
			}
			b.WriteByte('\n')
		}
	}
	renderFooter(&b, r)
	return b.String()
}

// renderFooter writes the row count, masking and provenance lines.
func renderFooter(b *strings.Builder, r *QueryResult) {
	if len(r.Columns) > 0 {
		fmt.Fprintf(b, "(%d row%s", r.RowCount, plural(r.RowCount))
		if r.Truncated {
			fmt.Fprintf(b, "; truncated at max_rows=%d, more rows exist", r.MaxRows)
		}
		b.WriteString(")\n")
	}
	if len(r.Masked) > 0 {
		keys := make([]string, 0, len(r.Masked))
		for k := range r.Masked {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, r.Masked[k])
		}
		fmt.Fprintf(b, "masked: %s\n", strings.Join(parts, ", "))
	}
	mode := "read-only"
	if !r.ReadOnly {
		mode = "read-write"
	}
	fmt.Fprintf(b, "connection %s, %s, %.1f ms, audit %s\n", r.Connection, mode, r.ElapsedMs, r.AuditID)
}

func cellText(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		s = x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return string(x)
	case json.RawMessage:
		s = string(x)
	default:
		s = fmt.Sprint(x)
	}
	if strings.ContainsAny(s, "\n\r\t") {
		s = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
	}
	if utf8.RuneCountInString(s) > maxCellWidth {
		s = string([]rune(s)[:maxCellWidth-1]) + "…"
	}
	return s
}

func pad(b *strings.Builder, s string, w int) {
	b.WriteString(s)
	for n := utf8.RuneCountInString(s); n < w; n++ {
		b.WriteByte(' ')
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func renderSchema(r *SchemaResult) string {
	var b strings.Builder
	if len(r.Tables) == 0 {
		fmt.Fprintf(&b, "No tables you may read on %s match.\n", r.Connection)
		return b.String()
	}
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "%s.%s (%s)\n", t.Schema, t.Name, t.Kind)
		for _, c := range t.Columns {
			null := ""
			if !c.Nullable {
				null = " not null"
			}
			fmt.Fprintf(&b, "  %-30s %s%s\n", c.Name, c.Type, null)
		}
	}
	return b.String()
}
