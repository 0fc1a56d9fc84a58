package detect

// Counts tallies masked matches per kind. It holds numbers only, never a
// value. The zero Counts is ready to use; it is not safe for concurrent use.
type Counts struct {
	n [numKinds]int
}

// Get returns the count for kind k.
func (c *Counts) Get(k Kind) int {
	if i, ok := indexOf(k); ok {
		return c.n[i]
	}
	return 0
}

// Total returns the sum over all kinds.
func (c *Counts) Total() int {
	t := 0
	for _, n := range c.n {
		t += n
	}
	return t
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	for i, n := range o.n {
		c.n[i] += n
	}
}

// Each calls fn for every kind with a non-zero count, most specific first.
func (c *Counts) Each(fn func(k Kind, n int)) {
	for i, n := range c.n {
		if n != 0 {
			fn(kindNames[i], n)
		}
	}
}
