package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file, with its position.
type Error struct {
	// File is the file the problem is in: the configuration or one it
	// includes.
	File string `json:"file"`
	// Line and Column are where the offending value (or, for a missing
	// one, its parent) was written; 0 when the problem is the whole file.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Key is the path of the value within File ("connections[1].max_conns",
	// "limits.statement_timeout"); empty for the file as a whole.
	Key string `json:"key"`
	// Msg says what is wrong and what was expected.
	Msg string `json:"message"`

	// undecoded: the value at Key could not be decoded and was left
	// out, so later checks of it would only repeat this error.
	undecoded bool
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in a configuration, sorted by file (the
// configuration itself first) and position.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// AsErrors returns the individual problems in err, if it holds any.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return nil
}

// Combine merges the configuration's own problems (the error Check
// returned) with those a later stage found in it (policy compilation) into
// one Errors, sorted by file and position. A problem about a value that
// could not be decoded is already reported: a later check of that value,
// or of anything under it, is left out. An error that is not positioned is
// kept, as a problem of the whole file. Combine returns nil when there is
// no problem.
func (c *Config) Combine(errs ...error) error {
	var all Errors
	for _, err := range errs {
		if err == nil {
			continue
		}
		if es := AsErrors(err); es != nil {
			all = append(all, es...)
		} else {
			all = append(all, &Error{File: c.Path, Msg: err.Error()})
		}
	}
	if all = settle(all, c.Path); len(all) == 0 {
		return nil
	}
	return all
}

// settle drops repeats of undecoded values' problems and sorts the rest
// by file (main first, then included files by name), line and column.
func settle(errs Errors, main string) Errors {
	type at struct{ file, key string }
	undecoded := map[at]bool{}
	for _, e := range errs {
		if e.undecoded {
			undecoded[at{e.File, e.Key}] = true
		}
	}
	out := make(Errors, 0, len(errs))
	for _, e := range errs {
		repeat := false
		if !e.undecoded {
			for k := e.Key; k != "" && !repeat; k = parentPath(k) {
				repeat = undecoded[at{e.File, k}]
			}
		}
		if !repeat {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			if a.File == main || b.File == main {
				return a.File == main
			}
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return out
}

// Pos is a position in the configuration file.
type Pos struct{ Line, Column int }

// positions maps a value path ("connections[1].kind") to where it was written.
type positions map[string]Pos

// Pos returns where the value at path was written. For a path that was not
// written (a default), it returns the position of the nearest written parent.
func (c *Config) Pos(path string) Pos {
	_, _, pos := c.locate(path)
	return pos
}

// locate finds the file, the path within that file and the position of
// the value at path. Rules may come from included files: rules[i] is
// translated to its own file and index there.
func (c *Config) locate(path string) (file, key string, pos Pos) {
	file, table := c.Path, c.pos
	var i int
	if n, _ := fmt.Sscanf(path, "rules[%d]", &i); n == 1 && i < len(c.ruleSrc) {
		src := c.ruleSrc[i]
		rest := path[strings.Index(path, "]")+1:]
		file, table = src.file, src.pos
		path = fmt.Sprintf("rules[%d]%s", src.index, rest)
	}
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := table[p]; ok {
			return file, path, pos
		}
	}
	return file, path, Pos{}
}

// Errorf builds an Error about the value at path, positioned where it (or,
// when it was not written, its nearest parent) was written.
func (c *Config) Errorf(path, format string, args ...any) *Error {
	file, key, p := c.locate(path)
	return &Error{File: file, Line: p.Line, Column: p.Column, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}
