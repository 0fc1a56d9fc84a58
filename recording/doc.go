// Package recording records interactive sessions and commands as
// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/), the
// format asciinema plays: a JSON header line (terminal size, start time,
// command), then one JSON array per event, [seconds, type, data], for
// output ("o"), input ("i"), resizes ("r"), markers ("m") and, from
// asciicast v3, the exit status ("x"), which v2 players skip.
//
// A Recorder (Start) is what a front door (the SSH proxy) feeds as a
// session runs; it appends the recording to a Sink (the audit store) in
// chunks of whole lines, the header first, so the chunks stored at any
// moment, even after a crash, concatenate into a valid .cast file.
// Encode and Decode write and read whole files (warden replay).
//
// What this package must never do:
//
//   - Block or slow the session it records: Output and Input only encode
//     into a bounded buffer; a goroutine appends. If the sink falls
//     behind, the recorder drops what does not fit and records a marker
//     saying how much, never holding more than a bound.
//   - Write what is not valid JSON and UTF-8: a UTF-8 sequence split
//     between writes is held until the next, bytes that are not UTF-8
//     become U+FFFD.
//   - Mask, or see unmasked data: what it receives is already masked by
//     the front door, and it records that as it is. Of the environment
//     it records TERM and SHELL only.
package recording
