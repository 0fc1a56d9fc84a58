package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxKeySetBytes bounds a JWKS document.
const maxKeySetBytes = 1 << 20

// keyFetchLimiter is the HTTP transport of an issuer's go-oidc remote key
// set. go-oidc fetches the JWKS again whenever a token names a key id it
// has not cached, or its signature does not verify, which is how it follows
// key rotation; but it does so for every such token, so anyone could make
// Warden fetch the identity provider's keys once per request. This
// transport lets at most one fetch of the JWKS URL reach the network per
// interval and answers the others with the last document fetched: a token
// signed by a key published since then is refused until the interval has
// passed, which a provider that announces keys before using them never
// notices.
type keyFetchLimiter struct {
	base     http.RoundTripper
	url      string
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	last   time.Time // of the last fetch that reached the network
	header http.Header
	body   []byte // the last document fetched, nil before the first success
}

func (t *keyFetchLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() != t.url {
		return t.base.RoundTrip(req)
	}
	t.mu.Lock()
	if !t.last.IsZero() && t.now().Sub(t.last) < t.interval {
		header, body := t.header, t.body
		t.mu.Unlock()
		if body == nil {
			return nil, errors.New("the last fetch of the signing keys failed; not fetching again so soon")
		}
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: header.Clone(), Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
		}, nil
	}
	t.last = t.now()
	t.mu.Unlock()

	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	if len(body) > maxKeySetBytes {
		return nil, fmt.Errorf("the signing key set is larger than %d bytes", maxKeySetBytes)
	}
	t.mu.Lock()
	t.header, t.body = resp.Header.Clone(), body
	t.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
