// The Grafana dashboard: valid JSON, every query names only metrics jobd exports, counters and
// histogram buckets are read through rate()/increase(), and the ConfigMap carries it unchanged.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The metrics jobd exports (agent/metrics.cc) and their types.
var exported = map[string]string{
	"jobd_queue_depth":                  "gauge",
	"jobd_queue_depth_by_type":          "gauge",
	"jobd_queue_oldest_age_seconds":     "gauge",
	"jobd_arena_size_bytes":             "gauge",
	"jobd_arena_slabs_in_use":           "gauge",
	"jobd_arena_slabs":                  "gauge",
	"jobd_worker_rss_bytes":             "gauge",
	"jobd_arena_bytes_in_use":           "gauge",
	"jobd_arena_acquire_failures_total": "counter",
	"jobd_jobs_total":                   "counter",
	"jobd_job_queue_wait_seconds":       "histogram",
	"jobd_job_run_seconds":              "histogram",
	"jobd_workers":                      "gauge",
	"jobd_worker_restarts_total":        "counter",
	"jobd_sessions":                     "gauge",
	"jobd_rejections_total":             "counter",
}

// series maps a queried series name to its metric and kind of series: the metric itself, or a
// histogram's _bucket, _sum or _count. ok is false for a name jobd does not export.
func series(name string) (metric, kind string, ok bool) {
	if t, found := exported[name]; found && t != "histogram" {
		return name, t, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base := strings.TrimSuffix(name, suffix)
		if base != name && exported[base] == "histogram" {
			return base, suffix, true
		}
	}
	return "", "", false
}

var (
	quoted     = regexp.MustCompile(`"(\\.|[^"\\])*"|'(\\.|[^'\\])*'`)
	metricWord = regexp.MustCompile(`\bjobd_[A-Za-z0-9_:]*`)
	identParen = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)?\s*\($`)
)

// queryMetrics returns the jobd series a PromQL expression names, and problems with it:
// unbalanced brackets, or a counter or histogram bucket used other than through
// rate/irate/increase.
func queryMetrics(expr string) ([]string, []string) {
	var names, problems []string
	blanked := quoted.ReplaceAllStringFunc(expr, func(s string) string { return strings.Repeat("_", len(s)) })
	var stack []string
	for i := 0; i < len(blanked); i++ {
		switch c := blanked[i]; c {
		case '(':
			m := identParen.FindStringSubmatch(blanked[:i+1])
			fn := ""
			if m != nil {
				fn = m[1]
			}
			stack = append(stack, fn)
		case ')':
			if len(stack) == 0 {
				problems = append(problems, fmt.Sprintf("unbalanced ')' in %q", expr))
				return names, problems
			}
			stack = stack[:len(stack)-1]
		}
		if loc := metricWord.FindStringIndex(blanked[i:]); loc != nil && loc[0] == 0 && (i == 0 || !isWord(blanked[i-1])) {
			name := blanked[i : i+loc[1]]
			names = append(names, name)
			_, kind, ok := series(name)
			if ok && (kind == "counter" || kind == "_bucket") {
				inRate := false
				for _, fn := range stack {
					inRate = inRate || fn == "rate" || fn == "irate" || fn == "increase"
				}
				if !inRate {
					problems = append(problems, fmt.Sprintf("%s is a counter: read it through rate() or increase() in %q", name, expr))
				}
			}
			i += loc[1] - 1
		}
	}
	if len(stack) != 0 {
		problems = append(problems, fmt.Sprintf("unbalanced '(' in %q", expr))
	}
	if strings.Count(blanked, "{") != strings.Count(blanked, "}") || strings.Count(blanked, "[") != strings.Count(blanked, "]") {
		problems = append(problems, fmt.Sprintf("unbalanced braces in %q", expr))
	}
	return names, problems
}

func isWord(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

type dashboard struct {
	raw      map[string]interface{}
	panels   []interface{}
	exprs    []string // every panel target's expr
	varQuery []string // templating queries
}

func parseDashboard(text string) (*dashboard, error) {
	d := &dashboard{}
	if err := json.Unmarshal([]byte(text), &d.raw); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	d.panels = list(d.raw["panels"])
	for _, p := range d.panels {
		for _, t := range list(get(p, "targets")) {
			d.exprs = append(d.exprs, str(get(t, "expr")))
		}
	}
	for _, v := range list(get(d.raw, "templating", "list")) {
		if q, ok := get(v, "query").(string); ok && get(v, "type") == "query" {
			d.varQuery = append(d.varQuery, q)
		} else if q, ok := get(v, "query", "query").(string); ok {
			d.varQuery = append(d.varQuery, q)
		}
	}
	return d, nil
}

// metrics: the sorted, distinct jobd series named by the panels' and variables' queries.
func (d *dashboard) metrics() []string {
	seen := map[string]bool{}
	for _, e := range append(append([]string{}, d.exprs...), d.varQuery...) {
		names, _ := queryMetrics(e)
		for _, n := range names {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func dashboardMetrics(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := parseDashboard(string(b))
	if err != nil {
		return nil, err
	}
	return d.metrics(), nil
}

// checkDashboard: everything about the dashboard's content. name prefixes the checks.
func checkDashboard(name, text string) {
	d, err := parseDashboard(text)
	if !check(name+": valid JSON", err == nil, "%v", err) {
		return
	}
	sv, _ := d.raw["schemaVersion"].(float64)
	check(name+": schemaVersion 36..39, a uid and a title", sv >= 36 && sv <= 39 && str(d.raw["uid"]) != "" && str(d.raw["title"]) != "",
		"schemaVersion %v uid %v title %v", d.raw["schemaVersion"], d.raw["uid"], d.raw["title"])

	// The data source is a variable, so that the dashboard works in any Grafana.
	dsVar := ""
	for _, v := range list(get(d.raw, "templating", "list")) {
		if get(v, "type") == "datasource" && get(v, "query") == "prometheus" {
			dsVar = str(get(v, "name"))
		}
	}
	check(name+": a Prometheus data source variable", dsVar != "", "templating %v", get(d.raw, "templating"))

	var problems []string
	ids := map[float64]bool{}
	type rect struct{ x, y, w, h float64 }
	var rects []rect
	for _, p := range d.panels {
		title := str(get(p, "title"))
		id, _ := get(p, "id").(float64)
		if ids[id] {
			problems = append(problems, fmt.Sprintf("panel %q: id %v repeated", title, id))
		}
		ids[id] = true
		ds := str(get(p, "datasource", "uid"))
		if ds != "${"+dsVar+"}" && ds != "${DS_PROMETHEUS}" {
			problems = append(problems, fmt.Sprintf("panel %q: data source %q is not the variable", title, ds))
		}
		targets := list(get(p, "targets"))
		if len(targets) == 0 {
			problems = append(problems, fmt.Sprintf("panel %q has no targets", title))
		}
		refs := map[string]bool{}
		for _, t := range targets {
			expr, _ := get(t, "expr").(string)
			ref := str(get(t, "refId"))
			if expr == "" || ref == "" || refs[ref] {
				problems = append(problems, fmt.Sprintf("panel %q: a target needs an expr and a distinct refId: %v", title, t))
			}
			refs[ref] = true
			names, bad := queryMetrics(expr)
			problems = append(problems, bad...)
			if len(names) == 0 {
				problems = append(problems, fmt.Sprintf("panel %q: %q queries no jobd metric", title, expr))
			}
			for _, n := range names {
				if _, _, ok := series(n); !ok {
					problems = append(problems, fmt.Sprintf("panel %q: %s is not a metric jobd exports", title, n))
				}
			}
			if strings.Contains(expr, "histogram_quantile") && (!strings.Contains(expr, "_bucket") || !strings.Contains(expr, "le")) {
				problems = append(problems, fmt.Sprintf("panel %q: histogram_quantile needs rate(..._bucket) summed by le: %q", title, expr))
			}
		}
		r := rect{}
		r.x, _ = get(p, "gridPos", "x").(float64)
		r.y, _ = get(p, "gridPos", "y").(float64)
		r.w, _ = get(p, "gridPos", "w").(float64)
		r.h, _ = get(p, "gridPos", "h").(float64)
		if r.w <= 0 || r.h <= 0 || r.x+r.w > 24 {
			problems = append(problems, fmt.Sprintf("panel %q: gridPos %v", title, get(p, "gridPos")))
		}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				problems = append(problems, fmt.Sprintf("panel %q overlaps another panel", title))
			}
		}
		rects = append(rects, r)
	}
	for _, q := range d.varQuery {
		names, bad := queryMetrics(q)
		problems = append(problems, bad...)
		for _, n := range names {
			if _, _, ok := series(n); !ok {
				problems = append(problems, fmt.Sprintf("variable query %q: %s is not a metric jobd exports", q, n))
			}
		}
	}
	check(name+": panels are well-formed and query only metrics jobd exports", len(problems) == 0, "\n  %s", strings.Join(problems, "\n  "))

	// Every metric jobd exports is on the dashboard, and the latency panels are quantiles.
	covered := map[string]bool{}
	for _, n := range d.metrics() {
		if m, _, ok := series(n); ok {
			covered[m] = true
		}
	}
	var missing []string
	for m := range exported {
		if !covered[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	check(name+": every jobd metric has a panel", len(missing) == 0, "not queried: %v", missing)
	all := strings.Join(d.exprs, "\n")
	for _, h := range []string{"jobd_job_queue_wait_seconds_bucket", "jobd_job_run_seconds_bucket"} {
		check(name+": latency quantiles from "+h, regexp.MustCompile(`histogram_quantile\(\s*0\.\d+\s*,[^\n]*rate\(`+h).MatchString(all), "no histogram_quantile over rate(%s)", h)
	}
	check(name+": throughput by outcome", regexp.MustCompile(`by \(outcome\) \(rate\(jobd_jobs_total`).MatchString(all), "no rate(jobd_jobs_total) by outcome")
	check(name+": slab occupancy in-use over capacity by class", regexp.MustCompile(`jobd_arena_slabs_in_use[^\n]*/[^\n]*jobd_arena_slabs\b`).MatchString(all), "no in-use/total")
}

// dashboardFile checks files/dashboard.json and that dashboard_metrics.txt is current.
func dashboardFile(metricsFile string) {
	path := filepath.Join(chartDir, "files", "dashboard.json")
	b, err := os.ReadFile(path)
	if !check("dashboard.json exists", err == nil, "%v", err) {
		return
	}
	checkDashboard("dashboard.json", string(b))
	names, err := dashboardMetrics(path)
	if err != nil {
		return
	}
	want := strings.Join(names, "\n") + "\n"
	have, err := os.ReadFile(metricsFile)
	check(metricsFile+" lists the dashboard's metrics (regenerate: tests/helm/run_checks.sh --list-metrics > "+metricsFile+")",
		err == nil && string(have) == want, "have:\n%s\nwant:\n%s", have, want)
}

// checkDashboardConfigMap: the rendered ConfigMap carries the label and the file unchanged.
func checkDashboardConfigMap(scenario string, docs []doc) {
	cms := byKind(docs, "ConfigMap")
	if !check(scenario+": one dashboard ConfigMap", len(cms) == 1, "got %d", len(cms)) {
		return
	}
	cm := cms[0]
	check(scenario+": labelled grafana_dashboard: \"1\"", get(cm, "metadata", "labels", "grafana_dashboard") == "1",
		"labels %v", get(cm, "metadata", "labels"))
	text, _ := get(cm, "data", "jobd.json").(string)
	file, _ := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	check(scenario+": the ConfigMap holds files/dashboard.json unchanged", strings.TrimSpace(text) == strings.TrimSpace(string(file)),
		"differs (%d vs %d bytes)", len(text), len(file))
	checkDashboard(scenario+": the ConfigMap's dashboard", text)
}
