package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a configuration file, with its position.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
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

// Errors is every problem found in one file, in file order.
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

// Pos is a position in the configuration file.
type Pos struct{ Line, Column int }

// positions maps a value path ("connections[1].kind") to where it was written.
type positions map[string]Pos

// Pos returns where the value at path was written. For a path that was not
// written (a default), it returns the position of the nearest written parent.
func (c *Config) Pos(path string) Pos {
	_, pos := c.locate(path)
	return pos
}

// locate finds the file and position of the value at path. Rules may come
// from included files: rules[i] is translated to its own file.
func (c *Config) locate(path string) (string, Pos) {
	file, table := c.Path, c.pos
	var i int
	var rest string
	if n, _ := fmt.Sscanf(path, "rules[%d]", &i); n == 1 && i < len(c.ruleSrc) {
		src := c.ruleSrc[i]
		rest = path[strings.Index(path, "]")+1:]
		file, table = src.file, src.pos
		path = fmt.Sprintf("rules[%d]%s", src.index, rest)
	}
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := table[p]; ok {
			return file, pos
		}
	}
	return file, Pos{}
}

// Errorf builds an Error positioned at the value at path.
func (c *Config) Errorf(path, format string, args ...any) *Error {
	file, p := c.locate(path)
	return &Error{File: file, Line: p.Line, Column: p.Column, Msg: fmt.Sprintf(format, args...)}
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}
