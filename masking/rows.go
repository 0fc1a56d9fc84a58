package masking

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/wardenhq/warden/masking/detect"
)

// colPlan is how one output column is masked.
type colPlan struct {
	rule   *columnRule // mask every value with this rule
	label  detect.Kind // the rule's label for this column
	source string      // the masked source column, schema.table.column
	key    int         // index of the rule's summary counter
	detect bool        // run the profile's detectors over every value
}

// rowMasker masks the rows of one result. It is used by one goroutine.
type rowMasker struct {
	plans   []colPlan
	scanner *detect.Scanner
	// strict: column rules apply; a value past the planned columns (a
	// connector disagreeing with its own column list) is withheld.
	strict bool

	counts detect.Counts
	keys   []string
	byKey  []int64
	buf    [24]byte
}

// key returns the index of a summary counter.
func (m *rowMasker) key(k string) int {
	for i, have := range m.keys {
		if have == k {
			return i
		}
	}
	m.keys = append(m.keys, k)
	m.byKey = append(m.byKey, 0)
	return len(m.keys) - 1
}

// MaskRow implements RowMasker.
func (m *rowMasker) MaskRow(vals []any) {
	for i, v := range vals {
		if v == nil {
			continue
		}
		if i >= len(m.plans) {
			if m.strict {
				vals[i] = nil
			} else if m.scanner != nil {
				vals[i] = m.detectValue(v)
			}
			continue
		}
		p := &m.plans[i]
		switch {
		case p.rule != nil:
			out, null := p.rule.replacer.Replace(p.label, textOf(v))
			if null {
				vals[i] = nil
			} else {
				vals[i] = out
			}
			m.byKey[p.key]++
		case p.detect:
			vals[i] = m.detectValue(v)
		}
	}
}

// detectValue runs the detectors over one value. Text, JSON documents and
// numbers that could hold a card or phone number are scanned; a masked
// number becomes text.
func (m *rowMasker) detectValue(v any) any {
	switch x := v.(type) {
	case string:
		out, changed, null := m.scanner.Mask(x, &m.counts)
		switch {
		case null:
			return nil
		case changed:
			return out
		}
	case json.RawMessage:
		out, changed, null := m.scanner.Mask(string(x), &m.counts)
		switch {
		case null:
			return nil
		case changed:
			return json.RawMessage(out)
		}
	case json.Number:
		out, changed, null := m.scanner.Mask(string(x), &m.counts)
		switch {
		case null:
			return nil
		case changed:
			return out
		}
	case int64:
		// Fewer than ten digits holds no card or phone number.
		if x > -1e9 && x < 1e9 {
			return v
		}
		s := string(strconv.AppendInt(m.buf[:0], x, 10))
		out, changed, null := m.scanner.Mask(s, &m.counts)
		switch {
		case null:
			return nil
		case changed:
			return out
		}
	case float64:
		if math.Abs(x) < 1e9 || math.Abs(x) >= 1e19 || x != math.Trunc(x) {
			return v
		}
		s := strconv.FormatFloat(x, 'f', -1, 64)
		out, changed, null := m.scanner.Mask(s, &m.counts)
		switch {
		case null:
			return nil
		case changed:
			return out
		}
	}
	return v
}

// textOf is a value's text, as a column rule masks it: a JSON string is
// masked without its quotes.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.RawMessage:
		if len(x) > 0 && x[0] == '"' {
			var s string
			if json.Unmarshal(x, &s) == nil {
				return s
			}
		}
		return string(x)
	case json.Number:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// Summary implements RowMasker: masked values per column rule source
// ("column:public.customers.ssn") and masked matches per detector kind
// ("detector:email"). Never a value.
func (m *rowMasker) Summary() map[string]int64 {
	var out map[string]int64
	put := func(k string, n int64) {
		if n == 0 {
			return
		}
		if out == nil {
			out = map[string]int64{}
		}
		out[k] += n
	}
	for i, k := range m.keys {
		put(k, m.byKey[i])
	}
	m.counts.Each(func(k detect.Kind, n int) { put("detector:"+string(k), int64(n)) })
	return out
}
