// Every dashboard query against a real Prometheus that scrapes a real jobd under load: each must
// return data, and the alert rules must load and evaluate. scripts/check_ops.sh starts the three.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type promReply struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

func promGet(base, path string, params url.Values) (json.RawMessage, error) {
	resp, err := http.Get(base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r promReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d, not JSON: %v", path, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", path, r.Error)
	}
	return r.Data, nil
}

// query returns how many series an instant query gives.
func query(base, expr string) (int, error) {
	data, err := promGet(base, "/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	var v struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return 0, err
	}
	return len(v.Result), nil
}

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// liveDashboard waits (up to `wait`) until every panel query and variable query returns data.
func liveDashboard(base, job, instance string, wait time.Duration) {
	b, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if !check("dashboard.json readable", err == nil, "%v", err) {
		return
	}
	d, err := parseDashboard(string(b))
	if !check("dashboard.json parses", err == nil, "%v", err) {
		return
	}
	// As Grafana sends them with one job and one instance chosen: regex-escaped, and the
	// backslashes doubled again inside PromQL's double-quoted strings.
	promRegex := func(v string) string { return strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`) }
	vars := strings.NewReplacer("$job", promRegex(job), "$instance", promRegex(instance))
	type probe struct {
		name string
		run  func() (int, error)
	}
	var probes []probe
	for _, e := range d.exprs {
		expr := vars.Replace(e)
		probes = append(probes, probe{"panel query " + e, func() (int, error) { return query(base, expr) }})
	}
	for _, q := range d.varQuery {
		m := labelValues.FindStringSubmatch(vars.Replace(q))
		if !check("variable query "+q+" is label_values(selector, label)", m != nil, "unsupported") {
			continue
		}
		probes = append(probes, probe{"variable query " + q, func() (int, error) {
			data, err := promGet(base, "/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {m[1]}})
			if err != nil {
				return 0, err
			}
			var vals []string
			err = json.Unmarshal(data, &vals)
			return len(vals), err
		}})
	}
	// Under load, jobs of type echo succeed: the throughput is above zero, not just present.
	probes = append(probes, probe{"jobs complete under load", func() (int, error) {
		return query(base, fmt.Sprintf(`sum(rate(jobd_jobs_total{job=%q, outcome="ok"}[1m])) > 0`, job))
	}})

	deadline := time.Now().Add(wait)
	for _, p := range probes {
		var n int
		var err error
		for {
			n, err = p.run()
			if (err == nil && n > 0) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		check(p.name+" returns data", err == nil && n > 0, "err %v, %d series", err, n)
	}
}

// liveRules: Prometheus loaded every rule of the rules file, evaluated each without error, and
// each alert's expression is valid PromQL against the live data.
func liveRules(base string, wait time.Duration) {
	file, err := readYAMLFile(rulesFile)
	if !check("rules file parses", err == nil, "%v", err) {
		return
	}
	want := map[string]string{}
	for _, g := range list(file["groups"]) {
		for _, r := range list(get(g, "rules")) {
			want[str(get(r, "alert"))] = str(get(r, "expr"))
		}
	}
	type rule struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
	}
	var got map[string]rule
	deadline := time.Now().Add(wait)
	for {
		got = map[string]rule{}
		data, err := promGet(base, "/api/v1/rules", url.Values{"type": {"alert"}})
		if err == nil {
			var v struct {
				Groups []struct {
					Rules []rule `json:"rules"`
				} `json:"groups"`
			}
			_ = json.Unmarshal(data, &v)
			for _, g := range v.Groups {
				for _, r := range g.Rules {
					got[r.Name] = r
				}
			}
		}
		evaluated := len(got) == len(want)
		for _, r := range got {
			evaluated = evaluated && r.Health != "unknown"
		}
		if evaluated || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		expr := want[name]
		r, ok := got[name]
		check("Prometheus loaded alert "+name+" and evaluates it without error", ok && r.Health == "ok",
			"loaded %v, health %q, error %q", ok, r.Health, r.LastError)
		_, err := query(base, expr)
		check("alert "+name+"'s expression runs as a query", err == nil, "%v", err)
	}
}
