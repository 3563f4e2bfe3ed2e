// Rendering with the real helm binary: `helm template` for the manifests, `helm lint --strict`
// beside every scenario that must render, and NOTES.txt through a copy of the chart (helm
// template does not print the notes, and helm install --dry-run needs a cluster).
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	yaml "gopkg.in/yaml.v3"
)

var helmBin string

// The checker's render arguments (the flags of the old hand-written renderer) as helm's.
type renderArgs struct {
	helm  []string // --set, -f, --kube-version, ...
	extra []string // template files to add to a copy of the chart
	notes bool
}

func parseRenderArgs(args []string) (renderArgs, error) {
	var r renderArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-notes" {
			r.notes = true
			continue
		}
		if i+1 >= len(args) {
			return r, fmt.Errorf("render: %s needs a value", a)
		}
		v := args[i+1]
		i++
		switch a {
		case "-f":
			r.helm = append(r.helm, "-f", v)
		case "-set", "-set-string", "-api-versions", "-kube-version":
			r.helm = append(r.helm, "-"+a, v)
		case "-extra-template":
			r.extra = append(r.extra, v)
		default:
			return r, fmt.Errorf("render: unknown argument %s", a)
		}
	}
	return r, nil
}

// copyChart copies the chart to a temp dir, so that test templates can be added to it.
func copyChart(extra []string, notes bool) (string, error) {
	dir, err := os.MkdirTemp("", "jobd-chart-copy-")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "jobd")
	err = filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0755)
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
	for _, e := range extra {
		if err == nil {
			err = copyFile(e, filepath.Join(dst, "templates", filepath.Base(e)))
		}
	}
	if err == nil && notes {
		// NOTES.txt as a named template, and a document that carries its text as a JSON string.
		var b []byte
		b, err = os.ReadFile(filepath.Join(chartDir, "templates", "NOTES.txt"))
		if err == nil {
			def := "{{- define \"check.notes\" -}}\n" + string(b) + "\n{{- end -}}\n"
			doc := "kind: RenderedNotes\ntext: {{ include \"check.notes\" . | toJson }}\n"
			err = os.WriteFile(filepath.Join(dst, "templates", "_check_notes.tpl"), []byte(def), 0644)
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, "templates", "check-notes.yaml"), []byte(doc), 0644)
			}
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func runHelm(args ...string) (string, string, error) {
	cmd := exec.Command(helmBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// render runs helm template (and, with -notes, returns NOTES.txt's text in stdout).
func render(args ...string) rendered {
	ra, err := parseRenderArgs(args)
	if err != nil {
		return rendered{err: err}
	}
	chart := chartDir
	if len(ra.extra) > 0 || ra.notes {
		if chart, err = copyChart(ra.extra, ra.notes); err != nil {
			return rendered{err: err}
		}
		defer os.RemoveAll(filepath.Dir(chart))
	}
	full := append([]string{"template", "jobd", chart, "--namespace", "default"}, ra.helm...)
	if ra.notes {
		full = append(full, "--show-only", "templates/check-notes.yaml")
	}
	var r rendered
	r.stdout, r.stderr, r.err = runHelm(full...)
	if r.err != nil {
		return r
	}
	dec := yaml.NewDecoder(strings.NewReader(r.stdout))
	for {
		var d doc
		err := dec.Decode(&d)
		if err != nil {
			if err != io.EOF {
				r.err = fmt.Errorf("the output does not parse as YAML: %v", err)
			}
			break
		}
		if d != nil {
			r.docs = append(r.docs, d)
		}
	}
	if ra.notes {
		if len(r.docs) != 1 {
			r.err = fmt.Errorf("want one notes document, got %d", len(r.docs))
			return r
		}
		r.stdout, r.docs = str(r.docs[0]["text"]), nil
	}
	return r
}

// lint runs helm lint --strict with the scenario's values; "" when it passes.
func lint(args ...string) string {
	ra, err := parseRenderArgs(args)
	if err != nil {
		return err.Error()
	}
	chart := chartDir
	if len(ra.extra) > 0 {
		if chart, err = copyChart(ra.extra, false); err != nil {
			return err.Error()
		}
		defer os.RemoveAll(filepath.Dir(chart))
	}
	var helmArgs []string
	for i := 0; i < len(ra.helm); i += 2 {
		if ra.helm[i] != "--api-versions" { // lint has no --api-versions
			helmArgs = append(helmArgs, ra.helm[i], ra.helm[i+1])
		}
	}
	out, errOut, err := runHelm(append([]string{"lint", "--strict", chart}, helmArgs...)...)
	if err != nil {
		return fmt.Sprintf("%v\n%s%s", err, out, errOut)
	}
	return ""
}
