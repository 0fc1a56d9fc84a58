// Package connectortest is the contract test suite that every SQL connector
// runs, in the spirit of litestream's RunWithReplicaClient and Vault's
// dbplugin/v5/testing helpers. A connector's own tests supply a Harness (how
// to open it against a fresh fixture database, and a side channel that reads
// that database without going through the connector) and call RunSQL.
//
// The suite checks behaviour promised by connectors.SQL: value types, the
// read-only guarantee, timeouts, early Close, Describe filtering, Close and
// concurrency. It must never depend on one target's SQL dialect beyond the
// portable statements it documents; target-specific checks belong in the
// connector's own tests. It must not be imported by non-test code.
package connectortest
