package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// mapPopulate maps a segment's pages at once, cheaper than a page fault
// for each on first write.
const mapPopulate = syscall.MAP_POPULATE

// preallocate gives f size bytes of disk blocks, so that writing through
// a mapping of it cannot run out of space (a page fault) where a write(2)
// would have returned ENOSPC.
func preallocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return writeZeros(f, size)
	}
	return err
}
