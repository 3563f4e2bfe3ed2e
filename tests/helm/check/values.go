// values.yaml against values.schema.json and README.md: every value is typed by the schema
// (helm validates values with it on every render) and documented in the README.
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func loadSchema() (map[string]interface{}, error) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		return nil, err
	}
	var s map[string]interface{}
	return s, json.Unmarshal(b, &s)
}

func deref(root, node map[string]interface{}) map[string]interface{} {
	for i := 0; i < 10; i++ {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		var cur interface{} = root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = get(cur, part)
		}
		node, _ = cur.(map[string]interface{})
	}
	return node
}

// leaves lists the dotted paths of values.yaml's leaves (and of its empty maps and lists).
func leaves(prefix string, v interface{}, out *[]string) {
	m, ok := v.(map[string]interface{})
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, x := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, x, out)
	}
}

// schemaNode finds the schema of a dotted path; free-form maps (no properties) cover all below.
func schemaNode(root map[string]interface{}, path string) (map[string]interface{}, bool) {
	node := root
	for _, part := range strings.Split(path, ".") {
		node = deref(root, node)
		props, ok := node["properties"].(map[string]interface{})
		if !ok {
			return node, node["type"] == "object"
		}
		next, ok := props[part].(map[string]interface{})
		if !ok {
			return nil, false
		}
		node = next
	}
	node = deref(root, node)
	return node, node != nil && node["type"] != nil
}

func schemaCoverage() {
	schema, err := loadSchema()
	if !check("values.schema.json parses", err == nil, "%v", err) {
		return
	}
	check("values.schema.json is draft-07 and refuses unknown top-level keys",
		schema["$schema"] == "http://json-schema.org/draft-07/schema#" && schema["additionalProperties"] == false && schema["type"] == "object",
		"$schema %v additionalProperties %v", schema["$schema"], schema["additionalProperties"])
	values, err := readYAMLFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return
	}
	var paths, untyped []string
	leaves("", values, &paths)
	sort.Strings(paths)
	for _, p := range paths {
		if _, ok := schemaNode(schema, p); !ok {
			untyped = append(untyped, p)
		}
	}
	check("every value in values.yaml has a type in the schema", len(untyped) == 0, "untyped: %v", untyped)
	var required []string
	for _, r := range list(schema["required"]) {
		required = append(required, str(r))
	}
	var topKeys []string
	for k := range values {
		topKeys = append(topKeys, k)
	}
	sort.Strings(required)
	sort.Strings(topKeys)
	check("the schema requires every top-level value", strings.Join(required, ",") == strings.Join(topKeys, ","),
		"required %v, values.yaml has %v", required, topKeys)
	var open []string
	var walk func(string, map[string]interface{})
	walk = func(p string, n map[string]interface{}) {
		n = deref(schema, n)
		props, ok := n["properties"].(map[string]interface{})
		if !ok {
			return
		}
		if n["additionalProperties"] != false {
			open = append(open, p)
		}
		for k, sub := range props {
			if m, ok := sub.(map[string]interface{}); ok {
				walk(p+"."+k, m)
			}
		}
	}
	walk("", schema)
	sort.Strings(open)
	check("every object with listed properties refuses unknown keys (typos)", len(open) == 0, "open: %v", open)
}

// readmeCoverage: each value path in values.yaml appears in README.md in backticks, itself or
// its parent (for maps such as resources whose keys are free).
func readmeCoverage() {
	b, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if !check("README.md exists", err == nil, "%v", err) {
		return
	}
	readme := string(b)
	values, err := readYAMLFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return
	}
	schema, _ := loadSchema()
	var paths, missing []string
	leaves("", values, &paths)
	sort.Strings(paths)
	for _, p := range paths {
		documented := strings.Contains(readme, "`"+p+"`")
		if !documented {
			// A free-form map is documented as a whole.
			parts := strings.Split(p, ".")
			for i := len(parts) - 1; i >= 1 && !documented; i-- {
				parent := strings.Join(parts[:i], ".")
				if node, ok := schemaNode(schema, parent); ok && node["properties"] == nil {
					documented = strings.Contains(readme, "`"+parent+"`")
				}
			}
		}
		if !documented {
			missing = append(missing, p)
		}
	}
	check("README.md documents every value", len(missing) == 0, "not in README.md (as `path`): %v", missing)
}
