//go:build !linux

package sqlite

import "os"

// mapPopulate: pages are mapped on first write.
const mapPopulate = 0

// preallocate gives f size bytes of disk blocks, so that writing through
// a mapping of it cannot run out of space (a page fault) where a write(2)
// would have returned ENOSPC.
func preallocate(f *os.File, size int64) error { return writeZeros(f, size) }
