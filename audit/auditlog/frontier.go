package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Frontier is what a writer keeps of the tree to extend it and compute its
// root: the tree's size and the roots of its complete subtrees, largest
// (leftmost) first, one per bit set in the size (a "compact range"), so
// never more than 64 hashes. The zero Frontier is the empty tree.
type Frontier struct {
	size  int64
	roots []tlog.Hash
}

// Size is the number of leaves.
func (f *Frontier) Size() int64 { return f.size }

// Append adds the leaf whose hash is h.
func (f *Frontier) Append(h tlog.Hash) {
	// The subtrees of equal size merge, as a binary counter carries.
	for n := f.size; n&1 == 1; n >>= 1 {
		h = tlog.NodeHash(f.roots[len(f.roots)-1], h)
		f.roots = f.roots[:len(f.roots)-1]
	}
	f.roots = append(f.roots, h)
	f.size++
}

// Root is the tree's hash, as tlog.TreeHash computes it.
func (f *Frontier) Root() tlog.Hash {
	if f.size == 0 {
		h, _ := tlog.TreeHash(0, nil)
		return h
	}
	h := f.roots[len(f.roots)-1]
	for i := len(f.roots) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.roots[i], h)
	}
	return h
}

// Clone returns a copy that appends without changing f.
func (f *Frontier) Clone() Frontier {
	return Frontier{size: f.size, roots: append(make([]tlog.Hash, 0, len(f.roots)+1), f.roots...)}
}

// MarshalBinary encodes f: the size (8 bytes, big endian), then the roots.
func (f *Frontier) MarshalBinary() ([]byte, error) {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(f.roots)*tlog.HashSize), uint64(f.size))
	for _, h := range f.roots {
		b = append(b, h[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encodes.
func (f *Frontier) UnmarshalBinary(b []byte) error {
	if len(b) < 8 || (len(b)-8)%tlog.HashSize != 0 {
		return errors.New("auditlog: frontier: bad length")
	}
	size := int64(binary.BigEndian.Uint64(b))
	n := (len(b) - 8) / tlog.HashSize
	if size < 0 || bits.OnesCount64(uint64(size)) != n {
		return fmt.Errorf("auditlog: frontier: %d hashes for a tree of %d leaves", n, size)
	}
	roots := make([]tlog.Hash, n)
	for i := range roots {
		copy(roots[i][:], b[8+i*tlog.HashSize:])
	}
	*f = Frontier{size: size, roots: roots}
	return nil
}
