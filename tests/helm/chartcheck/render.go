// A Helm-compatible renderer for what the jobd chart uses: values (with --set style overrides),
// .Release, .Chart, .Files.Get, .Capabilities.APIVersions.Has, include, required, toYaml, and
// sprig's functions. Helm itself is not packaged in Debian; this is enough to render and check.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v3"
)

type files struct{ dir string }

// Get returns a chart file's contents, as Helm's .Files.Get does ("" when missing).
func (f files) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type capabilities struct{ APIVersions apiVersions }

func readYAML(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// setValue applies one --set a.b.c=value, typing the value as Helm does (bool, int, string).
func setValue(values map[string]interface{}, assignment string) error {
	eq := strings.IndexByte(assignment, '=')
	if eq < 0 {
		return fmt.Errorf("--set %q: want key=value", assignment)
	}
	keys := strings.Split(assignment[:eq], ".")
	raw := assignment[eq+1:]
	var v interface{} = raw
	if raw == "true" || raw == "false" {
		v = raw == "true"
	} else if n, err := strconv.Atoi(raw); err == nil {
		v = n
	}
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
	return nil
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Values loads values.yaml, then extra files, then --set assignments.
func Values(chart string, extraFiles, sets []string) (map[string]interface{}, error) {
	values, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range extraFiles {
		extra, err := readYAML(f)
		if err != nil {
			return nil, err
		}
		merge(values, extra)
	}
	for _, s := range sets {
		if err := setValue(values, s); err != nil {
			return nil, err
		}
	}
	return values, nil
}

// Render renders every template of the chart; the result maps template paths to documents.
func Render(chart string, values map[string]interface{}) (map[string]string, error) {
	meta, err := readYAML(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	root.Funcs(funcs)

	paths, err := filepath.Glob(filepath.Join(chart, "templates", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := filepath.Join(filepath.Base(chart), "templates", filepath.Base(p))
		if _, err := root.New(name).Parse(string(b)); err != nil {
			return nil, err
		}
	}
	data := map[string]interface{}{
		"Values":  values,
		"Release": map[string]interface{}{"Name": "test", "Namespace": "default", "Service": "Helm", "IsInstall": true},
		"Chart": map[string]interface{}{
			"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"],
		},
		"Files":        files{dir: chart},
		"Capabilities": capabilities{APIVersions: apiVersions{"v1", "apps/v1", "autoscaling/v2", "monitoring.coreos.com/v1"}},
	}
	out := map[string]string{}
	for _, p := range paths {
		base := filepath.Base(p)
		if strings.HasPrefix(base, "_") {
			continue
		}
		name := filepath.Join(filepath.Base(chart), "templates", base)
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return nil, err
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}
