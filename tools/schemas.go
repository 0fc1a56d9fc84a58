package tools

import "encoding/json"

var listConnectionsOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connections": {"type": "array", "items": {"type": "object", "properties": {
      "name": {"type": "string"}, "kind": {"type": "string"},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
      "tools": {"type": "array", "items": {"type": "object", "properties": {
        "tool": {"type": "string"}, "effect": {"type": "string"}, "read_only": {"type": "boolean"},
        "max_rows": {"type": "integer"}, "rule": {"type": "string"}}}}}}}
  },
  "required": ["connections"]
}`)
