// The part of JSON Schema (draft-07) that values.schema.json uses: type, properties, required,
// enum, minimum, maximum, pattern, additionalProperties: false.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
)

func LoadSchema(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s map[string]interface{}
	return s, json.Unmarshal(b, &s)
}

// Validate returns one message per violation, each naming the path.
func Validate(schema map[string]interface{}, v interface{}, path string) []string {
	var errs []string
	if t, ok := schema["type"].(string); ok && !hasType(v, t) {
		return []string{fmt.Sprintf("%s: %v is not of type %s", path, v, t)}
	}
	if enum, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", path, v, enum))
		}
	}
	if n, ok := number(v); ok {
		if min, ok := schema["minimum"].(float64); ok && n < min {
			errs = append(errs, fmt.Sprintf("%s: %v is below the minimum %v", path, v, min))
		}
		if max, ok := schema["maximum"].(float64); ok && n > max {
			errs = append(errs, fmt.Sprintf("%s: %v is above the maximum %v", path, v, max))
		}
	}
	if p, ok := schema["pattern"].(string); ok {
		if s, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(s) {
			errs = append(errs, fmt.Sprintf("%s: %q does not match %s", path, s, p))
		}
	}
	obj, isObj := v.(map[string]interface{})
	if !isObj {
		return errs
	}
	props, _ := schema["properties"].(map[string]interface{})
	if req, ok := schema["required"].([]interface{}); ok {
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: missing required %s", path, r))
			}
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, ok := props[k].(map[string]interface{})
		if !ok {
			if ap, ok := schema["additionalProperties"].(bool); ok && !ap {
				errs = append(errs, fmt.Sprintf("%s: unknown key %s", path, k))
			}
			continue
		}
		errs = append(errs, Validate(sub, obj[k], path+"."+k)...)
	}
	return errs
}

func number(v interface{}) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func hasType(v interface{}, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]interface{})
		return ok
	case "array":
		_, ok := v.([]interface{})
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		_, ok := v.(int)
		return ok
	case "number":
		_, ok := number(v)
		return ok
	}
	return true
}
