package kubernetes

import (
	"strings"
	"testing"
)

// TestMaskableAccept: the first media type Warden masks, or none.
func TestMaskableAccept(t *testing.T) {
	for accept, want := range map[string]string{
		"": "application/json",
		"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json": "application/json;as=Table;v=v1;g=meta.k8s.io",
		"application/vnd.kubernetes.protobuf,application/json":                                                            "application/json",
		"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io":                                                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
		"*/*":                                          "application/json",
		"application/json;q=0, application/yaml":       "",
		"application/vnd.kubernetes.protobuf":          "",
		"application/cbor":                             "",
		"application/json;as=Table;v=v2;g=meta.k8s.io": "",
		"application/json;as=Table;v=v1;g=example.com": "",
		"application/json;stream=watch;x=y":            "",
	} {
		got, ok := maskableAccept(accept)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", accept, got, ok, want)
		}
	}
}

// TestMaskTableColumns: a Table with a column Warden does not know holds
// no value is refused, whole or as a watch event.
func TestMaskTableColumns(t *testing.T) {
	m := &masker{resource: "secrets"}
	table := func(col string) map[string]any {
		return map[string]any{"kind": "Table", "columnDefinitions": []any{map[string]any{"name": "Name"}, map[string]any{"name": col}},
			"rows": []any{map[string]any{"cells": []any{"db", "x"}, "object": map[string]any{"kind": "Secret", "apiVersion": "v1", "data": map[string]any{"k": "dg=="}}}}}
	}
	if n, err := m.value(table("Type")); err != nil || n != 1 {
		t.Fatalf("known columns: %d %v", n, err)
	}
	if _, err := m.value(table("Value")); err == nil || !strings.Contains(err.Error(), `"Value"`) {
		t.Fatalf("unknown column: %v", err)
	}
	if _, err := m.value(map[string]any{"type": "ADDED", "object": table("Value")}); err == nil {
		t.Fatal("unknown column in a watch event")
	}
}
