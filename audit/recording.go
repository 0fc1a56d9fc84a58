package audit

import (
	"context"
	"errors"
	"io"
	"strings"
)

// MaxRecordingChunk is the largest chunk Recordings.AppendRecording
// accepts, in bytes.
const MaxRecordingChunk = 1 << 20

// ErrChunkExists is returned, wrapped, by AppendRecording for a chunk
// whose recording and sequence number are stored already: a chunk is
// never overwritten.
var ErrChunkExists = errors.New("audit: recording chunk already stored")

// Recordings keeps session recordings: what an interactive session or a
// command showed and was sent, as package recording writes it (asciicast
// v2), kept in chunks. A recording belongs to the audit event of the
// operation it recorded (an exec or a shell) and has that event's ID; it
// may be written before the event is readable (the event's intent may be
// recorded asynchronously). Every method is safe for concurrent use.
// Recordings arrive masked: a store keeps their bytes as they are.
type Recordings interface {
	// AppendRecording stores chunk as chunk seq of recording id (an event
	// ID, IDLen characters) and returns once it is durable, as every
	// write of a Store. Chunks are appended in order: seq 0 first, then
	// 1, 2, ..., each once; a seq already stored is refused with
	// ErrChunkExists (the stored chunk is kept), a seq whose predecessor
	// is missing is refused, and so is an empty chunk or one larger than
	// MaxRecordingChunk. The store keeps chunk's bytes, not chunk: the
	// caller may reuse it once AppendRecording returns.
	AppendRecording(ctx context.Context, id string, seq int, chunk []byte) error

	// Recording returns the chunks of recording id, concatenated in seq
	// order, read as the reader is read (with ctx): a recording still
	// being written reads as far as it was stored. It returns ErrNotFound,
	// wrapped, if no chunk of id is stored.
	Recording(ctx context.Context, id string) (io.Reader, error)

	// SessionRecordings lists the recordings of the events of session,
	// in event ID order (oldest first); none is an empty list, not an
	// error. A recording whose event is not readable yet is in no
	// session's list.
	SessionRecordings(ctx context.Context, session string) ([]RecordingInfo, error)
}

// RecordingInfo describes one stored recording.
type RecordingInfo struct {
	ID     string `json:"id"`     // the event it recorded
	Chunks int    `json:"chunks"` // how many chunks are stored
	Size   int64  `json:"size"`   // their bytes, all together
}

// IsEventID reports whether id has the shape of an event ID: IDLen
// characters of Crockford base32, upper case, as IDGenerator makes them.
func IsEventID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := range len(id) {
		if strings.IndexByte(crockford, id[i]) < 0 {
			return false
		}
	}
	return true
}
