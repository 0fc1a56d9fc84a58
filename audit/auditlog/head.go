package auditlog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Head is a statement of the tree: the log it is (Origin), its size and
// its root hash. Its text is a C2SP tlog-checkpoint:
//
//	<origin>
//	<size>
//	<root, base64>
//
// A store signs a head, as a note, with every batch of leaves it appends
// (so that nothing can be appended without the key) and keeps some of
// them as checkpoints.
type Head struct {
	Origin string    `json:"origin"`
	Size   int64     `json:"size"`
	Root   tlog.Hash `json:"root"` // base64 in JSON
}

// Text is h as the body of a note.
func (h Head) Text() string {
	return h.Origin + "\n" + strconv.FormatInt(h.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(h.Root[:]) + "\n"
}

// ParseHead reads the body of a head's note (extension lines after the
// root are allowed and ignored).
func ParseHead(text string) (Head, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Head{}, errors.New("auditlog: not a tree head (origin, size, root hash)")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return Head{}, fmt.Errorf("auditlog: tree head: bad size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Head{}, fmt.Errorf("auditlog: tree head: bad root hash %q", lines[2])
	}
	h := Head{Origin: lines[0], Size: size}
	copy(h.Root[:], root)
	return h, nil
}

// Sign returns h as a note signed by signer, or, with a nil signer, its
// text alone (an unsigned head).
func Sign(h Head, signer note.Signer) (string, error) {
	if signer == nil {
		return h.Text(), nil
	}
	msg, err := note.Sign(&note.Note{Text: h.Text()}, signer)
	if err != nil {
		return "", fmt.Errorf("auditlog: sign tree head: %w", err)
	}
	return string(msg), nil
}

// ErrUnsigned is returned, wrapped, by OpenHead for a head that carries no
// signature.
var ErrUnsigned = errors.New("auditlog: tree head is not signed")

// OpenHead reads a head's note. With verifiers it checks that a known key
// signed it, and fails otherwise (ErrUnsigned for a head without any
// signature); with nil verifiers it only reads the text, signed or not.
func OpenHead(msg string, verifiers note.Verifiers) (Head, error) {
	split := strings.LastIndex(msg, "\n\n")
	if verifiers == nil || split < 0 {
		text := msg
		if split >= 0 {
			text = msg[:split+1]
		}
		h, err := ParseHead(text)
		if err == nil && verifiers != nil {
			return Head{}, ErrUnsigned
		}
		return h, err
	}
	n, err := note.Open([]byte(msg), verifiers)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var names []string
		for _, sig := range unverified.Note.UnverifiedSigs {
			names = append(names, fmt.Sprintf("%s+%08x", sig.Name, sig.Hash))
		}
		return Head{}, fmt.Errorf("auditlog: tree head not signed by a known key (signed by %s)", strings.Join(names, ", "))
	case errors.As(err, &invalid):
		return Head{}, fmt.Errorf("auditlog: tree head: the signature of key %s+%08x is wrong", invalid.Name, invalid.Hash)
	case err != nil:
		return Head{}, fmt.Errorf("auditlog: tree head: %w", err)
	}
	return ParseHead(n.Text)
}
