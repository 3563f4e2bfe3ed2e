// chartcheck renders the jobd chart the way Helm would and checks what comes out.
//
//	chartcheck [-chart helm/jobd]                    run every check; exit 1 on any failure
//	chartcheck -render [-set k=v ...] [-f file]      print the rendered documents
//	chartcheck -list-metrics                         the metrics the dashboard queries
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	yaml "gopkg.in/yaml.v3"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// The metric names jobd exports (agent/metrics.cc); the dashboard may query only these.
var exported = map[string]bool{
	"jobd_queue_depth": true, "jobd_queue_depth_by_type": true, "jobd_queue_oldest_age_seconds": true,
	"jobd_arena_size_bytes": true, "jobd_arena_slabs_in_use": true, "jobd_arena_slabs_total": true,
	"jobd_arena_bytes_in_use": true, "jobd_arena_acquire_failures_total": true, "jobd_jobs_total": true,
	"jobd_job_queue_wait_seconds_bucket": true, "jobd_job_run_seconds_bucket": true, "jobd_workers": true,
	"jobd_worker_restarts_total": true, "jobd_sessions": true, "jobd_rejections_total": true,
}

var failures []string

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		failures = append(failures, fmt.Sprintf(format, args...))
	}
}

type doc = map[string]interface{}

func get(v interface{}, path ...interface{}) interface{} {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]interface{})
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]interface{})
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func renderDocs(chart string, sets []string) ([]doc, error) {
	values, err := Values(chart, nil, sets)
	if err != nil {
		return nil, err
	}
	out, err := Render(chart, values)
	if err != nil {
		return nil, err
	}
	var docs []doc
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		for _, part := range strings.Split(out[n], "\n---") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			var d doc
			if err := yaml.Unmarshal([]byte(part), &d); err != nil {
				return nil, fmt.Errorf("%s does not parse as YAML: %v\n%s", n, err, part)
			}
			if d != nil {
				docs = append(docs, d)
			}
		}
	}
	return docs, nil
}

func byKind(docs []doc, kind string) []doc {
	var out []doc
	for _, d := range docs {
		if d["kind"] == kind {
			out = append(out, d)
		}
	}
	return out
}

func container(podSpec interface{}, name string) interface{} {
	cs, _ := get(podSpec, "containers").([]interface{})
	for _, c := range cs {
		if get(c, "name") == name {
			return c
		}
	}
	return nil
}

func hasArg(c interface{}, arg string) bool {
	args, _ := get(c, "args").([]interface{})
	for _, a := range args {
		if a == arg {
			return true
		}
	}
	return false
}

func checkJobdContainer(scenario string, c interface{}) {
	check(c != nil, "%s: no jobd container", scenario)
	check(get(c, "securityContext", "runAsNonRoot") == true, "%s: jobd must run as non-root", scenario)
	check(get(c, "securityContext", "readOnlyRootFilesystem") == true, "%s: read-only root filesystem", scenario)
	check(get(c, "securityContext", "allowPrivilegeEscalation") == false, "%s: no privilege escalation", scenario)
	check(get(c, "readinessProbe", "httpGet", "path") == "/healthz", "%s: readiness probe on /healthz", scenario)
	check(get(c, "livenessProbe", "exec") != nil, "%s: liveness probe runs jobctl health", scenario)
	check(get(c, "resources", "limits", "memory") != nil, "%s: memory limit set", scenario)
	check(hasArg(c, "--run-dir=/run/jobd"), "%s: jobd gets --run-dir", scenario)
	check(get(c, "volumeMounts", 0, "mountPath") == "/run/jobd", "%s: run dir mounted", scenario)
}

func dashboardMetrics(chart string) ([]string, error) {
	b, err := os.ReadFile(chart + "/files/dashboard.json")
	if err != nil {
		return nil, err
	}
	return metricsOf(string(b))
}

func metricsOf(dashboardJSON string) ([]string, error) {
	var d map[string]interface{}
	if err := json.Unmarshal([]byte(dashboardJSON), &d); err != nil {
		return nil, fmt.Errorf("dashboard is not JSON: %v", err)
	}
	re := regexp.MustCompile(`jobd_[a-z_]+`)
	seen := map[string]bool{}
	panels, _ := d["panels"].([]interface{})
	for _, p := range panels {
		targets, _ := get(p, "targets").([]interface{})
		for _, t := range targets {
			expr, _ := get(t, "expr").(string)
			for _, m := range re.FindAllString(expr, -1) {
				seen[m] = true
			}
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

func runChecks(chart string) {
	// Sidecar mode, default values.
	docs, err := renderDocs(chart, nil)
	check(err == nil, "sidecar defaults: %v", err)
	deps := byKind(docs, "Deployment")
	check(len(deps) == 1, "sidecar defaults: want 1 Deployment, got %d", len(deps))
	check(len(byKind(docs, "DaemonSet")) == 0, "sidecar defaults: no DaemonSet")
	if len(deps) == 1 {
		spec := get(deps[0], "spec", "template", "spec")
		cs, _ := get(spec, "containers").([]interface{})
		check(len(cs) == 2, "sidecar: the example pod has the service and jobd, got %d containers", len(cs))
		checkJobdContainer("sidecar", container(spec, "jobd"))
		check(get(container(spec, "service"), "env", 0, "value") == "/run/jobd/jobd.sock", "sidecar: JOBD_SOCKET set")
		check(get(spec, "volumes", 0, "emptyDir", "medium") == "Memory", "sidecar: emptyDir with medium Memory")
		check(get(spec, "volumes", 0, "emptyDir", "sizeLimit") == "272Mi", "sidecar: sizeLimit from arena (256+16), got %v",
			get(spec, "volumes", 0, "emptyDir", "sizeLimit"))
	}
	cms := byKind(docs, "ConfigMap")
	check(len(cms) == 1, "dashboard ConfigMap rendered")
	if len(cms) == 1 {
		check(get(cms[0], "metadata", "labels", "grafana_dashboard") == "1", "dashboard labelled for Grafana's sidecar")
		js, _ := get(cms[0], "data", "jobd.json").(string)
		metrics, err := metricsOf(js)
		check(err == nil && len(metrics) >= 14, "dashboard in the ConfigMap is JSON with its queries: %v", err)
		for _, m := range metrics {
			check(exported[m], "dashboard queries %s, which jobd does not export", m)
		}
	}

	// DaemonSet mode.
	docs, err = renderDocs(chart, []string{"mode=daemonset"})
	check(err == nil, "daemonset: %v", err)
	dss := byKind(docs, "DaemonSet")
	check(len(dss) == 1 && len(byKind(docs, "Deployment")) == 0, "daemonset: one DaemonSet and no Deployment")
	if len(dss) == 1 {
		spec := get(dss[0], "spec", "template", "spec")
		checkJobdContainer("daemonset", container(spec, "jobd"))
		check(get(spec, "volumes", 0, "hostPath", "path") == "/run/jobd", "daemonset: hostPath run dir")
		check(get(spec, "volumes", 0, "hostPath", "type") == "DirectoryOrCreate", "daemonset: hostPath type")
	}
	check(len(byKind(docs, "Service")) == 1, "daemonset: a metrics Service")

	// Non-default values.
	docs, err = renderDocs(chart, []string{"mode=daemonset", "metrics.serviceMonitor.enabled=true",
		"metrics.podMonitor.enabled=true", "socketGroup=jobd", "workers=8", "metrics.port=9999"})
	check(err == nil, "daemonset+monitors: %v", err)
	check(len(byKind(docs, "ServiceMonitor")) == 1, "ServiceMonitor rendered when enabled")
	check(len(byKind(docs, "PodMonitor")) == 1, "PodMonitor rendered when enabled")
	if dss := byKind(docs, "DaemonSet"); len(dss) == 1 {
		c := container(get(dss[0], "spec", "template", "spec"), "jobd")
		check(hasArg(c, "--socket-group=jobd"), "socketGroup reaches jobd")
		check(hasArg(c, "--workers=8"), "workers reaches jobd")
		check(hasArg(c, "--metrics-address=0.0.0.0:9999"), "metrics port reaches jobd")
		check(get(c, "ports", 0, "containerPort") == 9999, "metrics port exposed")
	}
	docs, err = renderDocs(chart, []string{"autoscaling.enabled=true", "arena.sizeMiB=1024",
		"resources.limits.memory=2Gi", "dashboard.enabled=false"})
	check(err == nil, "sidecar+hpa: %v", err)
	hpas := byKind(docs, "HorizontalPodAutoscaler")
	check(len(hpas) == 1, "HPA rendered when autoscaling is enabled")
	if len(hpas) == 1 {
		check(get(hpas[0], "spec", "metrics", 0, "pods", "metric", "name") == "jobd_queue_depth", "HPA scales on jobd_queue_depth")
	}
	check(len(byKind(docs, "ConfigMap")) == 0, "no dashboard when disabled")
	if deps := byKind(docs, "Deployment"); len(deps) == 1 {
		spec := get(deps[0], "spec", "template", "spec")
		check(get(spec, "volumes", 0, "emptyDir", "sizeLimit") == "1040Mi", "sizeLimit follows arena.sizeMiB")
		check(get(container(spec, "jobd"), "resources", "limits", "memory") == "2Gi", "resources override")
	}

	// values.schema.json accepts the defaults and refuses bad values.
	schema, err := LoadSchema(chart + "/values.schema.json")
	check(err == nil, "values.schema.json: %v", err)
	if err == nil {
		values, _ := Values(chart, nil, nil)
		errs := Validate(schema, values, "values")
		check(len(errs) == 0, "default values must pass the schema: %v", errs)
		for _, bad := range []string{"workers=many", "mode=cluster", "metrics.port=70000", "runDir=relative", "surprise=1"} {
			values, _ := Values(chart, nil, []string{bad})
			check(len(Validate(schema, values, "values")) > 0, "the schema must refuse %s", bad)
		}
	}
}

func main() {
	chart := flag.String("chart", "helm/jobd", "chart directory")
	render := flag.Bool("render", false, "print the rendered chart")
	list := flag.Bool("list-metrics", false, "print the metrics the dashboard queries")
	var sets, files multi
	flag.Var(&sets, "set", "key=value override (repeatable)")
	flag.Var(&files, "f", "extra values file (repeatable)")
	flag.Parse()
	switch {
	case *list:
		metrics, err := dashboardMetrics(*chart)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(strings.Join(metrics, "\n"))
	case *render:
		values, err := Values(*chart, files, sets)
		if err == nil {
			var out map[string]string
			out, err = Render(*chart, values)
			names := make([]string, 0, len(out))
			for n := range out {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if strings.TrimSpace(out[n]) != "" {
					fmt.Printf("---\n# Source: %s\n%s\n", n, strings.TrimSpace(out[n]))
				}
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		runChecks(*chart)
		for _, f := range failures {
			fmt.Println("FAIL:", f)
		}
		if len(failures) > 0 {
			fmt.Printf("chart checks: %d failed\n", len(failures))
			os.Exit(1)
		}
		fmt.Println("chart checks: all passed (sidecar, daemonset, monitors, hpa, schema, dashboard)")
	}
}
