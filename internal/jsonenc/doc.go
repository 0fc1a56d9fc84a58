// Package jsonenc appends JSON text by hand, byte for byte as
// encoding/json writes it, for the hot paths (audit intents, query
// results) where reflection costs more than the work.
//
// It must never write bytes encoding/json would not (its tests compare
// with encoding/json on every input), nor allocate beyond the buffer it
// appends to.
package jsonenc
