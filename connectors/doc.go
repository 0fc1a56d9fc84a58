// Package connectors defines the contract every target kind implements
// (Connector, and SQL for databases) and the registry of built-in kinds.
// Each kind lives in its own package (connectors/postgres,
// connectors/sqlite, ...).
//
// A connector connects, executes exactly what the pipeline hands it with
// the credential and constraints of the decision, and streams results back.
// It never decides: policy, approvals, masking and audit happen around it,
// in package tools. A connector must never put a credential into an error,
// a log line or a result.
package connectors
