package web

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// openAPIOperations lists the document's operations as "METHOD path".
func openAPIOperations(t *testing.T) []string {
	t.Helper()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// The OpenAPI document describes exactly the routes the server has.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var routes []string
	for _, rt := range apiRoutes {
		routes = append(routes, rt.method+" "+rt.path)
	}
	slices.Sort(routes)
	if ops := openAPIOperations(t); !slices.Equal(ops, routes) {
		t.Fatalf("openapi.json has\n%s\nthe server routes\n%s", strings.Join(ops, "\n"), strings.Join(routes, "\n"))
	}
}
