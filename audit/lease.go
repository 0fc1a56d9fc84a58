package audit

import "time"

// Lease states.
const (
	LeaseActive  = "active"
	LeaseRevoked = "revoked"
	LeaseFailed  = "failed" // revocation gave up after retries: needs a human
)

// Lease is a just-in-time credential, from mint to revocation: its name
// (Principal) and what it may do (Grants), never its secret.
type Lease struct {
	ID         string    `json:"id"`
	Connection string    `json:"connection"`
	Principal  string    `json:"principal"`
	Identity   string    `json:"identity,omitempty"`
	Session    string    `json:"session,omitempty"`
	Instance   string    `json:"instance,omitempty"`
	Grants     string    `json:"grants,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
}

// LeaseFilter selects leases. Zero fields do not filter.
type LeaseFilter struct {
	State      string
	Connection string
	Limit      int
}

// Instance is a Warden process using the store.
type Instance struct {
	ID        string
	Host      string
	PID       int
	Boot      string // ProcessStart of PID, to tell it from a reused PID
	Started   time.Time
	Heartbeat time.Time
}
