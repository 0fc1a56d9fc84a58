package mysql

import "github.com/wardenhq/warden/policy/sqlclass"

// kindMask is a set of Kinds; bit i is kindsBySeverity[i]. It mirrors the
// PostgreSQL classifier's, so both order Kinds the same way.
type kindMask uint8

var kindsBySeverity = [...]sqlclass.Kind{
	sqlclass.KindRead, sqlclass.KindTransaction, sqlclass.KindSession, sqlclass.KindWrite,
	sqlclass.KindUtility, sqlclass.KindDDL, sqlclass.KindDCL,
}

func kindBit(k sqlclass.Kind) kindMask {
	for i, kk := range kindsBySeverity {
		if kk == k {
			return 1 << i
		}
	}
	return 1 << (len(kindsBySeverity) - 1) // unknown: most severe
}

func (m kindMask) with(k sqlclass.Kind) kindMask { return m | kindBit(k) }

// primary is the most severe kind in m; an empty set is a write (fail
// closed: a statement the walk gave no kind to is not a read).
func (m kindMask) primary() sqlclass.Kind {
	for i := len(kindsBySeverity) - 1; i >= 0; i-- {
		if m&(1<<i) != 0 {
			return kindsBySeverity[i]
		}
	}
	return sqlclass.KindWrite
}

func (m kindMask) list() []sqlclass.Kind {
	var out []sqlclass.Kind
	for i, k := range kindsBySeverity {
		if m&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = []sqlclass.Kind{sqlclass.KindWrite}
	}
	return out
}
