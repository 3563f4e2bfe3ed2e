// render renders a Helm chart the way `helm template` does, for the parts of Helm the jobd chart
// uses. Helm is not packaged in Debian; this is built from Debian's Go packages (text/template,
// sprig, yaml) in GOPATH mode, with no network.
//
//	render [-chart helm/jobd] [-f values.yaml ...] [-set a.b=v ...] [-set-string a=v ...]
//	       [-name RELEASE] [-namespace NS] [-api-versions group/version ...] [-kube-version 1.29.0]
//	       [-strict] [-notes] [-show-only templates/x.yaml] [-extra-template file ...]
//
// What it does as Helm does:
//   - values: the chart's values.yaml, then each -f file, then -set/-set-string, coalesced
//     (maps merge, a null removes a default). Numbers from YAML files are float64, as Helm's
//     JSON-based YAML decoding makes them; -set integers are int64.
//   - the merged values are validated against values.schema.json (JSON Schema draft-07, the
//     keywords listed in schema.go); a violation fails rendering with Helm-like messages.
//   - every file under templates/ is parsed into one template set named "<chart>/templates/...";
//     files whose names start with "_" are not output; NOTES.txt is output only with -notes.
//   - .Values, .Release (Name, Namespace, Service, IsInstall, IsUpgrade, Revision), .Chart (the
//     Chart.yaml fields, capitalized), .Capabilities (APIVersions.Has, KubeVersion), .Template
//     (Name, BasePath), .Files (Get, GetBytes, Lines).
//   - functions: sprig's (less env/expandenv), include, tpl, required, fail, toYaml, fromYaml,
//     fromYamlArray, toJson, fromJson, fromJsonArray, lookup (always empty, as in helm template).
//   - missing keys render as empty ("<no value>" is removed); with -strict (helm lint --strict)
//     a missing map key is an error.
//
// Output: a YAML stream, one "---" document per non-empty document, each preceded by
// "# Source: <template>". Errors go to stderr with exit status 1.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yamlv2 "gopkg.in/yaml.v2"
	yaml "gopkg.in/yaml.v3"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// ---- values ------------------------------------------------------------------------------

// normalize turns decoded YAML into what Helm's values are made of: map[string]interface{},
// []interface{}, string, bool, float64 (every number, as JSON decoding makes it), nil.
func normalize(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			n, err := normalize(x)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			n, err := normalize(x)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = n
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			n, err := normalize(x)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case uint64:
		return float64(t), nil
	case float64, string, bool, nil:
		return t, nil
	default:
		// Timestamps and the like: Helm's JSON round trip makes strings of them.
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		var out interface{}
		return out, json.Unmarshal(b, &out)
	}
}

func readValuesFile(p string) (map[string]interface{}, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	n, err := normalize(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	m, ok := n.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: values must be a map, not %T", p, n)
	}
	return m, nil
}

// coalesce merges src over dst as Helm merges user values over defaults: maps merge key by
// key, anything else replaces, and a null in src removes the key.
func coalesce(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				coalesce(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// typedValue types a -set value as Helm's strvals does: true/false, null, int64, else string.
func typedValue(s string, asString bool) interface{} {
	if asString {
		return s
	}
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if s == "0" {
		return int64(0)
	}
	if len(s) > 0 && s[0] != '0' {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

// splitUnescaped splits s on sep outside {...} lists, honouring backslash escapes.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
			continue
		case c == '{':
			depth++
		case c == '}':
			depth--
		case c == sep && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(parts, cur.String())
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// applySet applies one -set argument ("a.b=1,c[0].d=x,e={x,y}") to values.
func applySet(values map[string]interface{}, arg string, asString bool) error {
	for _, assignment := range splitUnescaped(arg, ',') {
		if assignment == "" {
			continue
		}
		eq := strings.IndexByte(assignment, '=')
		if eq <= 0 {
			return fmt.Errorf("-set %q: want key=value", assignment)
		}
		key, raw := assignment[:eq], assignment[eq+1:]
		var v interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			items := []interface{}{}
			if inner := raw[1 : len(raw)-1]; inner != "" {
				for _, it := range splitUnescaped(inner, ',') {
					items = append(items, typedValue(unescape(it), asString))
				}
			}
			v = items
		} else {
			v = typedValue(unescape(raw), asString)
		}
		if err := setPath(values, splitUnescaped(key, '.'), v); err != nil {
			return fmt.Errorf("-set %q: %v", assignment, err)
		}
	}
	return nil
}

// setPath sets a dotted path whose elements may carry one list index, e.g. "env[1]".
func setPath(m map[string]interface{}, keys []string, v interface{}) error {
	k := unescape(keys[0])
	idx := -1
	if open := strings.IndexByte(k, '['); open >= 0 && strings.HasSuffix(k, "]") {
		n, err := strconv.Atoi(k[open+1 : len(k)-1])
		if err != nil || n < 0 || n > 65536 {
			return fmt.Errorf("bad list index in %q", k)
		}
		k, idx = k[:open], n
	}
	last := len(keys) == 1
	if idx < 0 {
		if last {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
			return nil
		}
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		return setPath(next, keys[1:], v)
	}
	list, _ := m[k].([]interface{})
	for len(list) <= idx {
		list = append(list, nil)
	}
	m[k] = list
	if last {
		list[idx] = v
		return nil
	}
	next, ok := list[idx].(map[string]interface{})
	if !ok {
		next = map[string]interface{}{}
		list[idx] = next
	}
	return setPath(next, keys[1:], v)
}

// ---- the template context ------------------------------------------------------------------

// Files is .Files: the chart's files other than templates/, Chart.yaml and values files.
type Files struct{ dir string }

func (f Files) path(name string) (string, bool) {
	clean := path.Clean("/" + name)[1:]
	if clean == "" || clean == "Chart.yaml" || clean == "values.yaml" || clean == "values.schema.json" ||
		strings.HasPrefix(clean, "templates/") || strings.HasPrefix(clean, "charts/") {
		return "", false
	}
	return filepath.Join(f.dir, filepath.FromSlash(clean)), true
}

// Get returns a file's contents, "" when it does not exist (as Helm does).
func (f Files) Get(name string) string { return string(f.GetBytes(name)) }

func (f Files) GetBytes(name string) []byte {
	p, ok := f.path(name)
	if !ok {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return b
}

func (f Files) Lines(name string) []string {
	s := f.Get(name)
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type KubeVersion struct{ Version, Major, Minor string }

func (k KubeVersion) String() string { return k.Version }

type Capabilities struct {
	APIVersions VersionSet
	KubeVersion KubeVersion
}

// The API versions `helm template` assumes without a cluster, plus autoscaling/v2.
var defaultAPIVersions = []string{"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1"}

func chartMeta(dir string) (map[string]interface{}, error) {
	m, err := readValuesFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	for _, req := range []string{"apiVersion", "name", "version"} {
		if _, ok := m[req].(string); !ok {
			return nil, fmt.Errorf("Chart.yaml: %s is required and must be a string", req)
		}
	}
	out := map[string]interface{}{}
	for k, v := range m {
		switch k {
		case "apiVersion":
			out["APIVersion"] = v
		case "kubeVersion":
			out["KubeVersion"] = v
		default:
			out[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	for _, k := range []string{"AppVersion", "Description", "Type"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	return out, nil
}

// ---- YAML and JSON functions, as Helm defines them -------------------------------------------

// toYAML is Helm's toYaml: JSON first (so numbers and key order come out as Helm's), then YAML,
// without the trailing newline.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yamlv2.Unmarshal(j, &obj); err != nil {
		return ""
	}
	out, err := yamlv2.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	n, err := normalize(raw)
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	m, ok := n.(map[string]interface{})
	if !ok {
		return map[string]interface{}{}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	n, _ := normalize(raw)
	a, _ := n.([]interface{})
	return a
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

// ---- rendering ------------------------------------------------------------------------------

type renderer struct {
	chartName string
	strict    bool
	set       *template.Template
	funcs     template.FuncMap
}

func (r *renderer) option() string {
	if r.strict {
		return "missingkey=error"
	}
	return "missingkey=zero"
}

func newRenderer(chartName string, strict bool) *renderer {
	r := &renderer{chartName: chartName, strict: strict}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["fromJsonArray"] = fromJSONArray
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", fmt.Errorf("%s", msg) }
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	// include and tpl need the template set; they are bound to it below.
	funcs["include"] = func(string, interface{}) (string, error) { return "", nil }
	funcs["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	r.funcs = funcs
	r.set = template.New("chart").Option(r.option()).Funcs(funcs)
	r.bind(r.set)
	return r
}

// bind makes include and tpl of t execute within t.
func (r *renderer) bind(t *template.Template) {
	t.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var buf bytes.Buffer
			if err := t.ExecuteTemplate(&buf, name, data); err != nil {
				return "", err
			}
			return buf.String(), nil
		},
		"tpl": func(text string, data interface{}) (string, error) {
			clone, err := t.Clone()
			if err != nil {
				return "", err
			}
			r.bind(clone)
			tt, err := clone.New("tpl").Option(r.option()).Parse(text)
			if err != nil {
				return "", fmt.Errorf("tpl: %v", err)
			}
			var buf bytes.Buffer
			if err := tt.Execute(&buf, data); err != nil {
				return "", fmt.Errorf("tpl: %v", err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	})
}

func (r *renderer) parse(name, text string) error {
	_, err := r.set.New(name).Parse(text)
	return err
}

func (r *renderer) execute(name string, data map[string]interface{}) (string, error) {
	ctx := make(map[string]interface{}, len(data)+1)
	for k, v := range data {
		ctx[k] = v
	}
	ctx["Template"] = map[string]interface{}{"Name": name, "BasePath": r.chartName + "/templates"}
	var buf bytes.Buffer
	if err := r.set.ExecuteTemplate(&buf, name, ctx); err != nil {
		return "", err
	}
	return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
}

// splitDocuments splits a rendered template into its non-empty YAML documents.
func splitDocuments(s string) []string {
	var docs []string
	var cur []string
	flush := func() {
		doc := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = nil
		// A document of nothing but comments is empty, as Helm drops it.
		for _, line := range strings.Split(doc, "\n") {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, doc)
				return
			}
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "Error: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	chartDir := flag.String("chart", "helm/jobd", "the chart's directory")
	release := flag.String("name", "jobd", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "1.29.0", "the Kubernetes version .Capabilities reports")
	strict := flag.Bool("strict", false, "a missing map key is an error (helm lint --strict)")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	showOnly := flag.String("show-only", "", "only this template, e.g. templates/daemonset.yaml")
	skipSchema := flag.Bool("skip-schema-validation", false, "do not validate values against values.schema.json")
	var files, sets, setStrings, apiVersions, extra multi
	flag.Var(&files, "f", "values file (repeatable; later ones win)")
	flag.Var(&sets, "set", "key=value[,key=value] (repeatable)")
	flag.Var(&setStrings, "set-string", "key=value, always a string (repeatable)")
	flag.Var(&apiVersions, "api-versions", "an API version the cluster serves, in addition to the defaults (repeatable)")
	flag.Var(&extra, "extra-template", "a template file added to the chart's templates/ (repeatable)")
	flag.Parse()

	meta, err := chartMeta(*chartDir)
	if err != nil {
		fatal("%v", err)
	}
	chartName := meta["Name"].(string)

	values, err := readValuesFile(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		fatal("%v", err)
	}
	for _, f := range files {
		user, err := readValuesFile(f)
		if err != nil {
			fatal("%v", err)
		}
		coalesce(values, user)
	}
	for _, s := range sets {
		if err := applySet(values, s, false); err != nil {
			fatal("%v", err)
		}
	}
	for _, s := range setStrings {
		if err := applySet(values, s, true); err != nil {
			fatal("%v", err)
		}
	}

	if !*skipSchema {
		if b, err := os.ReadFile(filepath.Join(*chartDir, "values.schema.json")); err == nil {
			var schema map[string]interface{}
			if err := json.Unmarshal(b, &schema); err != nil {
				fatal("values.schema.json: %v", err)
			}
			if errs := validate(schema, schema, values, ""); len(errs) > 0 {
				fatal("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n- %s",
					chartName, strings.Join(errs, "\n- "))
			}
		} else if !os.IsNotExist(err) {
			fatal("%v", err)
		}
	}

	kv := strings.TrimPrefix(*kubeVersion, "v")
	parts := strings.SplitN(kv, ".", 3)
	for len(parts) < 2 {
		parts = append(parts, "0")
	}
	data := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": *release, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": meta,
		"Files": Files{dir: *chartDir},
		"Capabilities": Capabilities{
			APIVersions: append(VersionSet(defaultAPIVersions), apiVersions...),
			KubeVersion: KubeVersion{Version: "v" + kv, Major: parts[0], Minor: parts[1]},
		},
	}

	r := newRenderer(chartName, *strict)
	tdir := filepath.Join(*chartDir, "templates")
	var names []string
	err = filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tdir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := chartName + "/templates/" + filepath.ToSlash(rel)
		names = append(names, name)
		if err := r.parse(name, string(b)); err != nil {
			return fmt.Errorf("parse error in %v", err)
		}
		return nil
	})
	if err != nil {
		fatal("%v", err)
	}
	for _, p := range extra {
		b, err := os.ReadFile(p)
		if err != nil {
			fatal("%v", err)
		}
		name := chartName + "/templates/" + filepath.Base(p)
		names = append(names, name)
		if err := r.parse(name, string(b)); err != nil {
			fatal("parse error in %v", err)
		}
	}
	sort.Strings(names)

	if *notes {
		name := chartName + "/templates/NOTES.txt"
		out, err := r.execute(name, data)
		if err != nil {
			fatal("%v", err)
		}
		fmt.Println(strings.TrimSpace(out))
		return
	}

	var out strings.Builder
	shown := 0
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		rendered, err := r.execute(name, data)
		if err != nil {
			fatal("%v", err)
		}
		if *showOnly != "" && strings.TrimPrefix(name, chartName+"/") != *showOnly {
			continue
		}
		shown++
		for _, doc := range splitDocuments(rendered) {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, doc)
		}
	}
	if *showOnly != "" && shown == 0 {
		fatal("could not find template %s in chart", *showOnly)
	}
	fmt.Print(out.String())
}
