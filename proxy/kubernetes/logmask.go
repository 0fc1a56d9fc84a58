package kubernetes

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/masking"
)

// logMasker runs a pods/log answer (plain or followed) through the
// masking detectors of the deciding rule, as kubectl_logs does: each
// line as it streams, passed on once it has ended (a followed log stays
// live), a value split across reads still found.
type logMasker struct {
	gr *gateway.Grant
	sw masking.StreamWriter
}

func (m *logMasker) modify(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		return fmt.Errorf("a log answered with encoding %q, which Warden cannot mask", enc)
	}
	mb := &maskedBody{src: resp.Body, buf: make([]byte, 32<<10)}
	sw, err := m.gr.Stream(context.WithoutCancel(resp.Request.Context()), &mb.out)
	if err != nil {
		return err
	}
	m.sw, mb.sw = sw, sw
	resp.Body = mb
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	return nil
}

// masked is what the detectors found, by kind.
func (m *logMasker) masked() map[string]int64 {
	if m.sw == nil {
		return nil
	}
	return m.sw.Summary()
}

// maskedBody reads the upstream answer through the masker: what it reads
// is written to the masker, which passes the masked text on into out,
// where Read takes it from.
type maskedBody struct {
	src    io.ReadCloser
	sw     masking.StreamWriter
	buf    []byte
	out    bytes.Buffer
	srcErr error
}

func (b *maskedBody) Read(p []byte) (int, error) {
	for b.out.Len() == 0 && b.srcErr == nil {
		n, err := b.src.Read(b.buf)
		if n > 0 {
			if _, werr := b.sw.Write(b.buf[:n]); werr != nil {
				return 0, werr
			}
			// A line has ended: pass on what is held, so that a followed
			// log shows it now; a line still being written waits for its
			// end (the masker bounds what it holds).
			if b.buf[n-1] == '\n' {
				if ferr := b.sw.Flush(); ferr != nil {
					return 0, ferr
				}
			}
		}
		if err != nil {
			b.srcErr = err
			if cerr := b.sw.Close(); cerr != nil {
				return 0, cerr
			}
		}
	}
	if b.out.Len() > 0 {
		return b.out.Read(p)
	}
	return 0, b.srcErr
}

func (b *maskedBody) Close() error { return b.src.Close() }
