package audit

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ProcessStart returns a marker of when process pid started (Linux: field
// 22 of /proc/PID/stat), to tell a live process from a reused PID; "" if
// unknown.
func ProcessStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// ProcessAlive reports whether process pid on this host runs and, when
// start is known, is the process that started then.
func ProcessAlive(pid int, start string) bool {
	if err := syscall.Kill(pid, 0); err != nil && errors.Is(err, syscall.ESRCH) {
		return false
	}
	return start == "" || ProcessStart(pid) == start
}
