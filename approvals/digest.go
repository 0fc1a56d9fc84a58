package approvals

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// digestVersion changes whenever what the digest covers does, so that an
// old digest never matches a new call by accident.
const digestVersion = "warden-approval-v1"

// Digest binds a call: the requester (subject and issuer), the connection,
// the tool, the exact arguments and the policy version. Arguments are
// compared as JSON values (object keys in any order, numbers exactly as
// written), so the same call sent by another client library has the same
// digest, and any change to a value — the SQL, max_rows, the
// justification — makes another one.
func Digest(subject, issuer, connection, tool string, args json.RawMessage, policyVersion string) (string, error) {
	canon, err := canonicalJSON(args)
	if err != nil {
		return "", fmt.Errorf("approvals: digest: %w", err)
	}
	h := sha256.New()
	// Length-prefixed fields: no two different calls encode alike.
	for _, f := range [][]byte{[]byte(digestVersion), []byte(subject), []byte(issuer), []byte(connection), []byte(tool), canon, []byte(policyVersion)} {
		fmt.Fprintf(h, "%d:", len(f))
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalJSON re-encodes a JSON value with sorted object keys, no
// insignificant space, and numbers as written.
func canonicalJSON(raw json.RawMessage) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("arguments are not JSON: %w", err)
	}
	if dec.Decode(new(any)) != io.EOF {
		return nil, fmt.Errorf("arguments hold more than one JSON value")
	}
	// encoding/json writes map keys sorted and json.Number as written.
	return json.Marshal(v)
}
