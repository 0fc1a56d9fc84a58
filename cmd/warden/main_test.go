package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCommandLineConventions: no command is a usage error (exit 2, usage
// on stderr); --help prints usage and exits 0; --version is version.
func TestCommandLineConventions(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{nil, 2, "", "Usage: warden <command>"},
		{[]string{"--help"}, 0, "Usage: warden <command>", ""},
		{[]string{"--version"}, 0, "warden " + version, ""},
		{[]string{"version"}, 0, "warden " + version, ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) ||
			(tc.stdout == "" && out.Len() > 0) {
			t.Errorf("warden %v: exit %d, stdout %q, stderr %q", tc.args, code, out.String(), errOut.String())
		}
	}
}
