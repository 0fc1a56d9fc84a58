package tools

import (
	"fmt"
	"sort"
	"strings"
)

func renderConnections(r *ConnectionsResult) string {
	var b strings.Builder
	if len(r.Connections) == 0 {
		b.WriteString("No connections are available to you. Ask an operator for access.\n")
		return b.String()
	}
	for _, c := range r.Connections {
		fmt.Fprintf(&b, "%s (%s)", c.Name, c.Kind)
		if len(c.Labels) > 0 {
			keys := make([]string, 0, len(c.Labels))
			for k := range c.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				keys[i] = k + "=" + c.Labels[k]
			}
			fmt.Fprintf(&b, " [%s]", strings.Join(keys, ", "))
		}
		b.WriteByte('\n')
		for _, t := range c.Tools {
			mode := "read-only"
			if !t.ReadOnly {
				mode = "read-write"
			}
			line := fmt.Sprintf("  %s: %s, %s", t.Tool, t.Effect, mode)
			if t.Effect == "review" {
				line += " (needs human approval)"
			}
			if t.MaxRows > 0 {
				line += fmt.Sprintf(", up to %d rows", t.MaxRows)
			}
			fmt.Fprintf(&b, "%s\n", line)
		}
	}
	return b.String()
}
