package gateway

import (
	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/identity"
)

// Transports a call can arrive on, as the audit trail records them. A wire
// proxy's is "<kind>-proxy".
const (
	TransportStdio         = audit.TransportStdio
	TransportHTTP          = audit.TransportHTTP
	TransportPostgresProxy = audit.TransportPostgresProxy
	TransportSSHProxy      = audit.TransportSSHProxy
	TransportMySQLProxy    = audit.TransportMySQLProxy
	TransportKubeProxy     = audit.TransportKubeProxy
	// TransportInternal marks Warden's own operations (minting, revoking).
	TransportInternal = audit.TransportInternal
)

// Caller is an identified caller, as the front door established it.
type Caller struct {
	Principal identity.Principal
	Transport string
	// Session groups calls for credentials and audit: the MCP session, the
	// stdio process, or the proxy client connection.
	Session string
}
