package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/budget"
)

// What the connector and the wire proxy (proxy/postgres) share about
// PostgreSQL: how values, errors and logins are handled, in one place.

// DecodeText turns a text-format value into a JSON-friendly Go value
// (what masking works on and run_query returns). It copies: a driver's
// buffer is reused by the next row.
func DecodeText(oid uint32, b []byte) any {
	if b == nil {
		return nil
	}
	switch oid {
	case 16:
		return len(b) == 1 && b[0] == 't'
	case 20, 21, 23, 26:
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return n
		}
	case 700, 701:
		if f, err := strconv.ParseFloat(string(b), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	case 1700:
		s := string(b)
		if json.Valid(b) {
			return json.Number(s)
		}
		return s
	case 114, 3802:
		return json.RawMessage(append([]byte(nil), b...))
	}
	return string(b)
}

// TypeName names a built-in type by OID ("integer"), others "oid:N".
func TypeName(oid uint32) string {
	if n, ok := builtinTypes[oid]; ok {
		return n
	}
	return "oid:" + strconv.FormatUint(uint64(oid), 10)
}

// TargetError is the connector error of a PostgreSQL error: a
// *connectors.TargetError safe to show, matching the sentinel its SQLSTATE
// means (a statement timeout, a write in a read-only transaction, a server
// going away). A cancel by request (57014 without "timeout") is not a
// timeout.
func TargetError(code, message, detail, hint string) error {
	var sentinel error
	switch code {
	case "57014":
		if strings.Contains(message, "timeout") {
			sentinel = connectors.ErrTimeout
		}
	case "25006":
		sentinel = connectors.ErrReadOnly
	case "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004":
		sentinel = connectors.ErrUnavailable
	}
	return connectors.NewTargetError(code, message, detail, hint, sentinel)
}

// ScrubSecret removes secret from an error's text, in case a driver
// echoed it.
func ScrubSecret(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// DialRequest asks for a protocol connection of the connection's own.
type DialRequest struct {
	// Credential is who logs in: a minted role, or (static) the
	// configured admin user.
	Credential connectors.Credential
	// Params are session settings passed at login (display settings a
	// client asked for). search_path and standard_conforming_strings are
	// always Warden's, as on every session the connector opens.
	Params map[string]string
	// StatementTimeout is the session's statement_timeout (0: the
	// server's).
	StatementTimeout time.Duration
	// BuildFrontend, when set, builds the protocol frontend of the
	// connection (the proxy writes through its own writer).
	BuildFrontend pgconn.BuildFrontendFunc
}

// Dial logs in to the target, as req.Credential, and hands the raw
// protocol connection over: the wire proxy relays its own messages on it.
// The caller owns the connection and must close it. An error never holds
// a secret.
func (p *Postgres) Dial(ctx context.Context, req DialRequest) (*pgconn.HijackedConn, error) {
	if p.isClosed() {
		return nil, connectors.ErrClosed
	}
	cfg := p.pool.Config().ConnConfig.Config.Copy()
	switch req.Credential.Mode {
	case "", connectors.ModeStatic:
	case connectors.ModeJIT:
		if req.Credential.Password == nil {
			return nil, errors.New("postgres: a just-in-time credential without a password")
		}
		cfg.User, cfg.Password = req.Credential.Password.User, req.Credential.Password.Secret.Reveal()
	default:
		return nil, fmt.Errorf("postgres: unknown credential mode %q", req.Credential.Mode)
	}
	params := map[string]string{}
	for k, v := range req.Params {
		params[k] = v
	}
	params["search_path"] = SearchPath
	params["standard_conforming_strings"] = "on"
	if req.StatementTimeout > 0 {
		params["statement_timeout"] = strconv.FormatInt(req.StatementTimeout.Milliseconds(), 10)
	}
	cfg.RuntimeParams = params
	cfg.OnNotice = nil
	if req.BuildFrontend != nil {
		cfg.BuildFrontend = req.BuildFrontend
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		var full *budget.FullError
		if errors.As(err, &full) {
			return nil, full
		}
		return nil, ScrubSecret(err, cfg.Password)
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, err
	}
	return hc, nil
}
