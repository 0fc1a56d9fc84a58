package sqlclass

// KindSet is a set of Kinds, ordered by severity (read, transaction,
// session, write, utility, ddl, dcl); the MySQL classifier sums up with it
// too, so both order Kinds alike. Bit i is kindsBySeverity[i].
type KindSet uint8

var kindsBySeverity = [...]Kind{KindRead, KindTransaction, KindSession, KindWrite, KindUtility, KindDDL, KindDCL}

func kindBit(k Kind) KindSet {
	for i, kk := range kindsBySeverity {
		if kk == k {
			return 1 << i
		}
	}
	// An unknown Kind is a programming error; treat it as the most severe.
	return 1 << (len(kindsBySeverity) - 1)
}

// With is m with k added.
func (m KindSet) With(k Kind) KindSet { return m | kindBit(k) }

// Primary is the most severe kind in m; an empty set is a write (fail
// closed: a statement the walk gave no kind to is not a read).
func (m KindSet) Primary() Kind {
	for i := len(kindsBySeverity) - 1; i >= 0; i-- {
		if m&(1<<i) != 0 {
			return kindsBySeverity[i]
		}
	}
	return KindWrite
}

// List is m's kinds, least severe first; an empty set is [write].
func (m KindSet) List() []Kind {
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

// kindStringLists holds, for every KindSet, its kinds as policy names
// them (least severe first), built once: the classifier's facts share
// them, so the common sets cost no allocation per statement. Read-only.
var kindStringLists = func() (t [1 << len(kindsBySeverity)][]string) {
	for m := range t {
		for _, k := range KindSet(m).List() {
			t[m] = append(t[m], string(k))
		}
	}
	return t
}()

// setOf is the set of ks.
func setOf(ks []Kind) KindSet {
	var m KindSet
	for _, k := range ks {
		m = m.With(k)
	}
	return m
}
