package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/gateway"
)

// dropped are request headers never forwarded: the client's credential,
// and what would let it speak as someone else (the API server trusts the
// X-Remote-* ones only from an authenticating proxy's client
// certificate, which Warden does not send; they go all the same).
func dropped(h string) bool {
	h = strings.ToLower(h)
	return h == "authorization" || h == "proxy-authorization" || h == "cookie" ||
		strings.HasPrefix(h, "impersonate-") || strings.HasPrefix(h, "x-remote-")
}

// gatedTransport passes the grant's gate (its audit intent is written)
// before anything reaches the API server.
type gatedTransport struct {
	rt http.RoundTripper
	gr *gateway.Grant
}

func (t gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.gr.Gate(r.Context()); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return t.rt.RoundTrip(r)
}

// statusWriter remembers the status code the client was sent.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// Hijack for an upgrade).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// forward sends the decided request to the API server as the grant's
// credential: the client's Authorization and Impersonate-* headers
// removed, the body exactly the one classified, the answer streamed back
// as it comes (watch, logs -f) and an upgrade (exec, attach,
// port-forward) passed through. The grant is finished when the answer
// ends.
func (c *client) forward(w http.ResponseWriter, r *http.Request, k cluster, gr *gateway.Grant, rest string, body []byte, upgrade bool, m *masker, rec Recording, logs *logMasker) {
	target, rt, err := k.Upstream(gr.Credential, upgrade)
	if err != nil {
		gr.Finish(context.WithoutCancel(r.Context()), gateway.Outcome{Err: err})
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "the cluster cannot be reached: "+err.Error())
		return
	}
	var upstreamErr error
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
			out.URL.Path = strings.TrimSuffix(target.Path, "/") + rest
			out.URL.RawPath = ""
			out.URL.RawQuery = r.URL.RawQuery
			out.Host = target.Host
			for h := range out.Header {
				if dropped(h) {
					out.Header.Del(h)
				}
			}
			if body != nil {
				out.Body = io.NopCloser(bytes.NewReader(body))
				out.ContentLength = int64(len(body))
				out.Header.Set("Content-Length", strconv.Itoa(len(body)))
				out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			} else if !upgrade {
				out.Body, out.ContentLength = http.NoBody, 0
				out.Header.Del("Content-Length")
			}
			if logs != nil {
				out.Header.Del("Accept-Encoding") // plain text, for the detectors
			}
			if rec != nil {
				// No extension (permessage-deflate): the recorder reads the
				// frames as they pass. (It also ends a stream whose frames
				// carry one anyway.)
				out.Header.Del("Sec-Websocket-Extensions")
			}
			if m != nil {
				// JSON, uncompressed (the transport's own gzip is undone by
				// it), so that every value can be masked.
				out.Header.Set("Accept", m.accept)
				out.Header.Del("Accept-Encoding")
			}
		},
		Transport:     gatedTransport{rt: rt, gr: gr},
		FlushInterval: -1, // watch events and followed logs as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			upstreamErr = err
			var me *maskError
			if errors.As(err, &me) {
				writeStatus(w, http.StatusBadGateway, metav1.StatusReasonInternalError, "the answer is withheld: "+me.Error())
				return
			}
			writeStatus(w, http.StatusBadGateway, metav1.StatusReasonServiceUnavailable, "the API server could not be reached: "+scrub(err))
		},
	}
	if m != nil {
		rp.ModifyResponse = m.modify
	}
	if logs != nil {
		rp.ModifyResponse = logs.modify
	}
	if rec != nil {
		defer rec.Close()
		rp.ModifyResponse = func(resp *http.Response) error {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				rwc, ok := resp.Body.(io.ReadWriteCloser)
				if !ok {
					return errors.New("the API server's upgraded stream cannot be recorded")
				}
				rs, err := newRecordedStream(rwc, rec, resp.Header.Get("Upgrade"))
				if err != nil {
					rwc.Close()
					return err
				}
				resp.Body = rs
			}
			return nil
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	aborted := serveAbortable(rp, sw, r)
	out := gateway.Outcome{}
	if m != nil {
		if n := m.masked.Load(); n > 0 {
			out.Masked = map[string]int64{"secret": n}
		}
	}
	if logs != nil {
		out.Masked = logs.masked()
	}
	switch {
	case aborted && r.Context().Err() == nil:
		// The answer broke off while the client still listened.
		out.Err = fmt.Errorf("kubernetes: the API server's answer broke off")
	case upstreamErr != nil:
		out.Err = fmt.Errorf("kubernetes: %s", scrub(upstreamErr))
	case sw.code >= 400:
		out.Failed = fmt.Sprintf("the API server answered %d %s", sw.code, http.StatusText(sw.code))
	}
	if e := gr.Finish(context.WithoutCancel(r.Context()), out); e != nil {
		c.e.log.Error("kubernetes request: audit outcome", "session", c.session, "err", e)
	}
	if aborted {
		// What httputil.ReverseProxy does when copying the answer fails
		// (here: once the outcome is recorded): the server drops the
		// stream rather than end it as if complete.
		panic(http.ErrAbortHandler)
	}
}

// serveAbortable runs rp and reports whether it aborted the answer
// midway (its panic with http.ErrAbortHandler when copying fails, as when
// a client stops `logs -f` or `get -w`), so that the caller still records
// the outcome. Any other panic is not ours to catch.
func serveAbortable(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			aborted = true
		}
	}()
	rp.ServeHTTP(w, r)
	return false
}

// scrub keeps an upstream error's text free of what a URL could carry.
func scrub(err error) string {
	s := err.Error()
	if i := strings.Index(s, "Bearer "); i >= 0 {
		s = s[:i] + "Bearer ***"
	}
	return s
}
