package sqlclass

// kindMask is a set of Kinds; bit i is kindsBySeverity[i].
type kindMask uint8

var kindsBySeverity = [...]Kind{KindRead, KindTransaction, KindSession, KindWrite, KindUtility, KindDDL, KindDCL}

func kindBit(k Kind) kindMask {
	for i, kk := range kindsBySeverity {
		if kk == k {
			return 1 << i
		}
	}
	// An unknown Kind is a programming error; treat it as the most severe.
	return 1 << (len(kindsBySeverity) - 1)
}

func (m kindMask) with(k Kind) kindMask { return m | kindBit(k) }

// primary is the most severe kind in m; an empty set is a write (fail
// closed: a statement the walk gave no kind to is not a read).
func (m kindMask) primary() Kind {
	for i := len(kindsBySeverity) - 1; i >= 0; i-- {
		if m&(1<<i) != 0 {
			return kindsBySeverity[i]
		}
	}
	return KindWrite
}

func (m kindMask) list() []Kind {
	var out []Kind
	for i, k := range kindsBySeverity {
		if m&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = []Kind{KindWrite}
	}
	return out
}
