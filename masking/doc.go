// Package masking keeps sensitive values from reaching the caller: it
// applies column rules and content detectors to a stream of rows, one row
// at a time, never buffering a whole result.
//
// This package must never record or log a value it masks; summaries carry
// only column names, entity kinds and counts.
package masking
