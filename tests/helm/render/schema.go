// JSON Schema (draft-07) validation of values, for the keywords a chart's values.schema.json
// commonly uses. A keyword this validator does not know is an error, so that a schema never
// seems to check something it does not.
package main

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// Keywords that only describe.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
	"default": true, "examples": true, "definitions": true, "readOnly": true, "writeOnly": true,
}

var checked = map[string]bool{
	"type": true, "enum": true, "const": true, "minimum": true, "maximum": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true, "minLength": true,
	"maxLength": true, "pattern": true, "properties": true, "required": true,
	"additionalProperties": true, "patternProperties": true, "minProperties": true,
	"maxProperties": true, "items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"anyOf": true, "oneOf": true, "allOf": true, "not": true, "$ref": true,
}

func where(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func describe(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", t)
	}
	return fmt.Sprint(v)
}

func typeOf(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	case int64:
		return "integer"
	case float64:
		if t == math.Trunc(t) && !math.IsInf(t, 0) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func hasType(v interface{}, want string) bool {
	got := typeOf(v)
	return got == want || (want == "number" && got == "integer")
}

func number(v interface{}) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

func equal(a, b interface{}) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

func resolve(root map[string]interface{}, ref string) (map[string]interface{}, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q: only local references (#/...) are supported", ref)
	}
	var cur interface{} = root
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	m, ok := cur.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("$ref %q does not resolve", ref)
	}
	return m, nil
}

// validate returns one message per violation of schema by v at path p.
func validate(root, schema map[string]interface{}, v interface{}, p string) []string {
	var errs []string
	add := func(format string, args ...interface{}) {
		errs = append(errs, where(p)+": "+fmt.Sprintf(format, args...))
	}
	keys := make([]string, 0, len(schema))
	for k := range schema {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !annotations[k] && !checked[k] {
			add("schema keyword %q is not supported by this validator", k)
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		target, err := resolve(root, ref)
		if err != nil {
			add("%v", err)
			return errs
		}
		return append(errs, validate(root, target, v, p)...)
	}

	switch t := schema["type"].(type) {
	case string:
		if !hasType(v, t) {
			add("Invalid type. Expected: %s, given: %s", t, typeOf(v))
			return errs
		}
	case []interface{}:
		ok := false
		var names []string
		for _, x := range t {
			s, _ := x.(string)
			names = append(names, s)
			ok = ok || hasType(v, s)
		}
		if !ok {
			add("Invalid type. Expected: %s, given: %s", strings.Join(names, " or "), typeOf(v))
			return errs
		}
	}
	if enum, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			found = found || equal(e, v)
		}
		if !found {
			var names []string
			for _, e := range enum {
				names = append(names, describe(e))
			}
			add("must be one of the following: %s (given: %s)", strings.Join(names, ", "), describe(v))
		}
	}
	if c, ok := schema["const"]; ok && !equal(c, v) {
		add("does not match: %s", describe(c))
	}
	if n, ok := number(v); ok {
		if m, ok := schema["minimum"].(float64); ok && n < m {
			add("Must be greater than or equal to %v (given: %v)", m, n)
		}
		if m, ok := schema["maximum"].(float64); ok && n > m {
			add("Must be less than or equal to %v (given: %v)", m, n)
		}
		if m, ok := schema["exclusiveMinimum"].(float64); ok && n <= m {
			add("Must be greater than %v (given: %v)", m, n)
		}
		if m, ok := schema["exclusiveMaximum"].(float64); ok && n >= m {
			add("Must be less than %v (given: %v)", m, n)
		}
		if m, ok := schema["multipleOf"].(float64); ok && m > 0 && math.Mod(n, m) != 0 {
			add("Must be a multiple of %v (given: %v)", m, n)
		}
	}
	if s, ok := v.(string); ok {
		if m, ok := schema["minLength"].(float64); ok && float64(len([]rune(s))) < m {
			add("String length must be greater than or equal to %v", m)
		}
		if m, ok := schema["maxLength"].(float64); ok && float64(len([]rune(s))) > m {
			add("String length must be less than or equal to %v", m)
		}
		if pat, ok := schema["pattern"].(string); ok {
			re, err := regexp.Compile(pat)
			if err != nil {
				add("bad pattern %q in the schema: %v", pat, err)
			} else if !re.MatchString(s) {
				add("Does not match pattern '%s' (given: %q)", pat, s)
			}
		}
	}
	if a, ok := v.([]interface{}); ok {
		if m, ok := schema["minItems"].(float64); ok && float64(len(a)) < m {
			add("Array must have at least %v items", m)
		}
		if m, ok := schema["maxItems"].(float64); ok && float64(len(a)) > m {
			add("Array must have at most %v items", m)
		}
		if u, ok := schema["uniqueItems"].(bool); ok && u {
			for i := range a {
				for j := i + 1; j < len(a); j++ {
					if equal(a[i], a[j]) {
						add("array items[%d,%d] must be unique", i, j)
					}
				}
			}
		}
		if items, ok := schema["items"].(map[string]interface{}); ok {
			for i, x := range a {
				errs = append(errs, validate(root, items, x, fmt.Sprintf("%s.%d", where(p), i))...)
			}
		}
	}
	if obj, ok := v.(map[string]interface{}); ok {
		props, _ := schema["properties"].(map[string]interface{})
		patterns, _ := schema["patternProperties"].(map[string]interface{})
		if req, ok := schema["required"].([]interface{}); ok {
			for _, r := range req {
				if _, ok := obj[r.(string)]; !ok {
					add("%s is required", r)
				}
			}
		}
		if m, ok := schema["minProperties"].(float64); ok && float64(len(obj)) < m {
			add("must have at least %v properties", m)
		}
		if m, ok := schema["maxProperties"].(float64); ok && float64(len(obj)) > m {
			add("must have at most %v properties", m)
		}
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			child := k
			if p != "" {
				child = p + "." + k
			}
			matched := false
			if sub, ok := props[k].(map[string]interface{}); ok {
				matched = true
				errs = append(errs, validate(root, sub, obj[k], child)...)
			}
			for pat, sub := range patterns {
				if re, err := regexp.Compile(pat); err == nil && re.MatchString(k) {
					matched = true
					if s, ok := sub.(map[string]interface{}); ok {
						errs = append(errs, validate(root, s, obj[k], child)...)
					}
				}
			}
			if matched {
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					add("Additional property %s is not allowed", k)
				}
			case map[string]interface{}:
				errs = append(errs, validate(root, ap, obj[k], child)...)
			}
		}
	}
	if all, ok := schema["allOf"].([]interface{}); ok {
		for _, s := range all {
			if sub, ok := s.(map[string]interface{}); ok {
				errs = append(errs, validate(root, sub, v, p)...)
			}
		}
	}
	count := func(list []interface{}) int {
		n := 0
		for _, s := range list {
			if sub, ok := s.(map[string]interface{}); ok && len(validate(root, sub, v, p)) == 0 {
				n++
			}
		}
		return n
	}
	if any, ok := schema["anyOf"].([]interface{}); ok && count(any) == 0 {
		add("Must validate at least one schema (anyOf)")
	}
	if one, ok := schema["oneOf"].([]interface{}); ok && count(one) != 1 {
		add("Must validate one and only one schema (oneOf)")
	}
	if not, ok := schema["not"].(map[string]interface{}); ok && len(validate(root, not, v, p)) == 0 {
		add("Must not validate the schema (not)")
	}
	return errs
}
