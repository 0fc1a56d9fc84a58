package gateway

import "github.com/wardenhq/warden/identity"

// Transports a call can arrive on. A wire proxy's is "<kind>-proxy".
const (
	TransportStdio         = "stdio"
	TransportHTTP          = "http"
	TransportPostgresProxy = "postgres-proxy"
	// TransportInternal marks Warden's own operations (minting, revoking).
	TransportInternal = "internal"
)

// Caller is an identified caller, as the front door established it.
type Caller struct {
	Principal identity.Principal
	Transport string
	// Session groups calls for credentials and audit: the MCP session, the
	// stdio process, or the proxy client connection.
	Session string
}
