package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// journal is the intent log in front of the database. BeginAsync appends
// each intent to it and the writer moves intents into the database in
// batches; when a store opens, the intents of processes that are gone are
// replayed from their journals (replay.go).
//
// An append is a copy into a shared memory mapping of the journal file:
// once copied, the data is in the kernel's page cache, the file's own
// pages, and survives a crash of Warden exactly as what write(2) wrote
// does, or a WAL commit with synchronous=NORMAL (none of them survives a
// power loss without fsync). It costs no system call.
//
// Each Warden process has its own journal, a series of segment files next
// to the database: <db>-intentlog.<host>.<pid>.<start>.<n>. A segment is
// preallocated (a full disk fails the append that needs a new segment,
// instead of faulting on a page) and filled with records one after the
// other, under a mutex:
//
//	length uint32 | CRC-32C of the payload uint32 | payload | zeros to 8 bytes
//
// The payload is the event's JSON (appendEvent): an intent (status running,
// BeginAsync) or an outcome (any other status: the columns Finish
// records, Intent.Complete). A record is whole once its
// header is stored, after its payload; the records end at a zero header,
// and at a record a crash cut short, whose checksum fails. A full segment
// gives way to a new one, and is removed once all its intents are in the
// database.
type journal struct {
	prefix  string // <db>-intentlog.<host>.<pid>.<start>
	segSize int    // size of a new segment, unless a record needs more

	mu      sync.Mutex
	checked time.Time  // when the database file and the segment were last found in place
	seg     *segment   // appended to
	sealed  []*segment // full, with intents not yet in the database
	next    int        // number of the next segment
}

// segment is one file of a journal.
type segment struct {
	path      string
	f         *os.File // open while appended to
	data      []byte   // its mapping, while appended to
	off       int      // where the next record goes
	appended  int64    // records in it; under journal.mu
	committed int64    // of those, records now in the database; under journal.mu
}

const (
	// segmentSize is the size of a segment: about 1,500 intents of
	// the proxy.
	segmentSize = 1 << 20
	// segmentHeader is the magic string at the start of a segment;
	// records follow.
	segmentHeader = "WARDEN-INTENTS-1"
	// recordHeader is the size of a record's length and checksum.
	recordHeader = 8
)

// checkEvery bounds how often append looks for the database file and the
// journal segment.
const checkEvery = 100 * time.Millisecond

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is a record's checksum: CRC-32C, which CPUs compute in hardware.
func checksum(payload []byte) uint32 { return crc32.Checksum(payload, castagnoli) }

// journalPrefix names the journal of this process for the database at path.
func journalPrefix(path string) string {
	return path + "-intentlog." + processInstance()
}

// newJournal creates this process's journal, with its first segment.
func newJournal(dbPath string) (*journal, error) {
	j := &journal{prefix: journalPrefix(dbPath), segSize: segmentSize}
	if err := j.rotate(0); err != nil {
		return nil, err
	}
	return j, nil
}

// recordSize is the space a record with n bytes of payload takes.
func recordSize(n int) int { return (recordHeader + n + 7) &^ 7 }

// append writes one intent and returns the segment that holds it, for
// settled. It fails if the journal or the database file is gone (removed
// or replaced), so that an intent is not written where nobody will find
// it; both are looked for at most every checkEvery, and once one is gone,
// every append fails.
func (j *journal) append(payload []byte, check func() error) (*segment, error) {
	sum := checksum(payload)
	j.mu.Lock()
	defer j.mu.Unlock()
	if now := time.Now(); now.Sub(j.checked) > checkEvery {
		if err := check(); err != nil {
			return nil, err
		}
		if err := j.seg.check(); err != nil {
			return nil, err
		}
		j.checked = now
	}
	need := recordSize(len(payload))
	if j.seg.off+need > len(j.seg.data) {
		if err := j.rotate(need); err != nil {
			return nil, err
		}
	}
	if err := j.seg.write(payload, sum); err != nil {
		// Whatever went wrong with this segment, the next append starts
		// another.
		j.seg.off = len(j.seg.data)
		return nil, err
	}
	j.seg.appended++
	return j.seg, nil
}

// check fails if the segment's file was removed (or replaced by another).
func (sg *segment) check() error {
	fi, err := sg.f.Stat()
	if err != nil {
		return fmt.Errorf("intent journal: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		return errors.New("intent journal was removed")
	}
	return nil
}

// write copies a record into the mapping: the payload, then the header. A
// fault on the mapping (the file cut short underneath us, an I/O error)
// fails the write instead of crashing the process.
func (sg *segment) write(payload []byte, sum uint32) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			err = fmt.Errorf("intent journal %s: fault writing its mapping (was the file cut short?): %v", sg.path, fault)
		} else if r != nil {
			panic(r)
		}
	}()
	rec := sg.data[sg.off : sg.off+recordSize(len(payload))]
	copy(rec[recordHeader:], payload)
	binary.LittleEndian.PutUint64(rec, uint64(len(payload))|uint64(sum)<<32)
	sg.off += len(rec)
	return nil
}

// rotate starts a new segment with room for a record of need bytes; the
// current one is sealed, or removed if all its intents are in the
// database.
func (j *journal) rotate(need int) error {
	size := max(j.segSize, len(segmentHeader)+need)
	size = (size + os.Getpagesize() - 1) &^ (os.Getpagesize() - 1)
	var sg *segment
	for {
		var err error
		sg, err = createSegment(j.prefix+"."+strconv.Itoa(j.next), size)
		j.next++
		// Another store of this process, on the same database, may have
		// taken the name.
		if errors.Is(err, os.ErrExist) && j.next < 1<<20 {
			continue
		}
		if err != nil {
			return fmt.Errorf("intent journal: %w", err)
		}
		break
	}
	if old := j.seg; old != nil {
		old.unmap()
		if old.committed == old.appended {
			os.Remove(old.path)
		} else {
			j.sealed = append(j.sealed, old)
		}
	}
	j.seg = sg
	return nil
}

func createSegment(path string, size int) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := preallocate(f, int64(size)); err != nil {
		return fail(fmt.Errorf("allocate %s: %w", path, err))
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|mapPopulate)
	if err != nil {
		return fail(fmt.Errorf("map %s: %w", path, err))
	}
	sg := &segment{path: path, f: f, data: data, off: len(segmentHeader)}
	copy(data, segmentHeader)
	return sg, nil
}

// writeZeros fills f with size zero bytes, which allocates its blocks
// where fallocate(2) is not available.
func writeZeros(f *os.File, size int64) error {
	zeros := make([]byte, 64<<10)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	return nil
}

// unmap releases the segment's mapping and file; it takes no more records.
func (sg *segment) unmap() error {
	var errs []error
	if sg.data != nil {
		errs = append(errs, syscall.Munmap(sg.data))
		sg.data = nil
	}
	if sg.f != nil {
		errs = append(errs, sg.f.Close())
		sg.f = nil
	}
	return errors.Join(errs...)
}

// settled records that the intents of ops in segs (one entry per intent)
// are now in the database, and removes the sealed segments whose intents
// all are.
func (j *journal) settled(segs []*segment) {
	var done []string
	j.mu.Lock()
	for _, sg := range segs {
		sg.committed++
	}
	kept := j.sealed[:0]
	for _, sg := range j.sealed {
		if sg.committed == sg.appended {
			done = append(done, sg.path)
		} else {
			kept = append(kept, sg)
		}
	}
	clear(j.sealed[len(kept):])
	j.sealed = kept
	j.mu.Unlock()
	for _, path := range done {
		os.Remove(path)
	}
}

// close removes the segments whose intents all reached the database; the
// next Warden to open the store replays the others.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for _, sg := range append(j.sealed, j.seg) {
		if sg == nil {
			continue
		}
		errs = append(errs, sg.unmap())
		if sg.committed == sg.appended {
			os.Remove(sg.path)
		}
	}
	j.sealed, j.seg = nil, nil
	return errors.Join(errs...)
}
