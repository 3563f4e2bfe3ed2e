// Checks that every rendered document of every scenario must pass, whatever the values:
// the structure Kubernetes and the Prometheus Operator will ask for, and references between
// the objects (selectors, named ports, volumes, scale targets).
package main

import (
	"fmt"
	"regexp"
	"strings"
)

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// subset: every key of small is in big with the same value (label selectors).
func subset(small, big interface{}) bool {
	s, ok := small.(map[string]interface{})
	if !ok || len(s) == 0 {
		return false
	}
	b, _ := big.(map[string]interface{})
	for k, v := range s {
		if b[k] != v {
			return false
		}
	}
	return true
}

func containersOf(spec interface{}) []interface{} {
	return append(append([]interface{}{}, list(get(spec, "initContainers"))...), list(get(spec, "containers"))...)
}

func lintAll(scenario string, docs []doc) {
	var problems []string
	bad := func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var pods []interface{} // pod templates: metadata+spec
	for _, d := range docs {
		kind, name := str(d["kind"]), str(get(d, "metadata", "name"))
		id := kind + "/" + name
		if d["apiVersion"] == nil || kind == "" || name == "" {
			bad("%s: apiVersion, kind and metadata.name are required", id)
		}
		if len(name) > 63 || !dns1123.MatchString(name) {
			bad("%s: name is not a DNS-1123 label", id)
		}
		for k, v := range mapOf(get(d, "metadata", "labels")) {
			if s, ok := v.(string); !ok || len(s) > 63 {
				bad("%s: label %s=%v must be a string of at most 63 characters", id, k, v)
			}
		}
		if kind == "Deployment" || kind == "DaemonSet" {
			if d["apiVersion"] != "apps/v1" {
				bad("%s: apiVersion %v, want apps/v1", id, d["apiVersion"])
			}
			tmpl := get(d, "spec", "template")
			pods = append(pods, tmpl)
			if !subset(get(d, "spec", "selector", "matchLabels"), get(tmpl, "metadata", "labels")) {
				bad("%s: selector %v does not match the pod labels %v", id, get(d, "spec", "selector"), get(tmpl, "metadata", "labels"))
			}
			lintPod(id, get(tmpl, "spec"), bad)
		}
	}
	for _, d := range docs {
		kind, name := str(d["kind"]), str(get(d, "metadata", "name"))
		id := kind + "/" + name
		switch kind {
		case "Service":
			sel := get(d, "spec", "selector")
			matched := false
			for _, p := range pods {
				if subset(sel, get(p, "metadata", "labels")) {
					matched = true
					for _, port := range list(get(d, "spec", "ports")) {
						if tp, ok := get(port, "targetPort").(string); ok && !podHasPort(get(p, "spec"), tp) {
							bad("%s: targetPort %s is not a port of the pods it selects", id, tp)
						}
					}
				}
			}
			if !matched {
				bad("%s: selector %v matches no rendered pods", id, sel)
			}
		case "ServiceMonitor":
			matched := false
			for _, svc := range byKind(docs, "Service") {
				if subset(get(d, "spec", "selector", "matchLabels"), get(svc, "metadata", "labels")) {
					matched = true
					for _, ep := range list(get(d, "spec", "endpoints")) {
						if named(get(svc, "spec", "ports"), str(get(ep, "port"))) == nil {
							bad("%s: endpoint port %v is not a port of Service %v", id, get(ep, "port"), get(svc, "metadata", "name"))
						}
					}
				}
			}
			if !matched {
				bad("%s: selector matches no rendered Service", id)
			}
		case "PodMonitor":
			matched := false
			for _, p := range pods {
				if subset(get(d, "spec", "selector", "matchLabels"), get(p, "metadata", "labels")) {
					matched = true
					for _, ep := range list(get(d, "spec", "podMetricsEndpoints")) {
						if !podHasPort(get(p, "spec"), str(get(ep, "port"))) {
							bad("%s: port %v is not a container port of the pods it selects", id, get(ep, "port"))
						}
					}
				}
			}
			if !matched {
				bad("%s: selector matches no rendered pods", id)
			}
		case "HorizontalPodAutoscaler":
			target := str(get(d, "spec", "scaleTargetRef", "name"))
			min, _ := get(d, "spec", "minReplicas").(int)
			max, _ := get(d, "spec", "maxReplicas").(int)
			if min < 1 || max < min {
				bad("%s: replicas %d..%d", id, min, max)
			}
			for _, dep := range byKind(docs, "Deployment") {
				if get(dep, "metadata", "name") == target && get(dep, "spec", "replicas") != nil {
					bad("%s: Deployment %s sets replicas, which fights the HPA", id, target)
				}
			}
		case "ConfigMap":
			for k, v := range mapOf(get(d, "data")) {
				if _, ok := v.(string); !ok {
					bad("%s: data.%s is not a string", id, k)
				}
			}
		}
	}
	check(scenario+": every object is well-formed and its references resolve", len(problems) == 0, "\n  %s", strings.Join(problems, "\n  "))
}

func mapOf(v interface{}) map[string]interface{} { m, _ := v.(map[string]interface{}); return m }

func podHasPort(spec interface{}, name string) bool {
	for _, c := range containersOf(spec) {
		if named(get(c, "ports"), name) != nil {
			return true
		}
	}
	return false
}

func lintPod(id string, spec interface{}, bad func(string, ...interface{})) {
	seen := map[string]bool{}
	for _, c := range containersOf(spec) {
		cname := str(get(c, "name"))
		if cname == "" || seen[cname] {
			bad("%s: container name %q is empty or repeated", id, cname)
		}
		seen[cname] = true
		if img := str(get(c, "image")); img == "" || !strings.Contains(img, ":") {
			bad("%s: container %s: image %q has no tag", id, cname, img)
		}
		for _, m := range list(get(c, "volumeMounts")) {
			if named(get(spec, "volumes"), str(get(m, "name"))) == nil {
				bad("%s: container %s mounts %v, which is not a volume of the pod", id, cname, get(m, "name"))
			}
			if !strings.HasPrefix(str(get(m, "mountPath")), "/") {
				bad("%s: container %s: mountPath %v is not absolute", id, cname, get(m, "mountPath"))
			}
		}
		for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
			if port, ok := get(c, probe, "httpGet", "port").(string); ok && named(get(c, "ports"), port) == nil {
				bad("%s: container %s: %s uses port %s, which the container does not name", id, cname, probe, port)
			}
		}
		for _, p := range list(get(c, "ports")) {
			n, _ := get(p, "containerPort").(int)
			if n < 1 || n > 65535 || len(str(get(p, "name"))) > 15 {
				bad("%s: container %s: bad port %v", id, cname, p)
			}
		}
		sc := get(c, "securityContext")
		if get(sc, "allowPrivilegeEscalation") != false || str(get(sc, "capabilities", "drop", 0)) != "ALL" ||
			get(sc, "readOnlyRootFilesystem") != true {
			bad("%s: container %s: securityContext must forbid escalation, drop ALL and have a read-only root: %v", id, cname, sc)
		}
		if get(c, "resources", "limits", "memory") == nil {
			bad("%s: container %s has no memory limit", id, cname)
		}
	}
	names := map[string]bool{}
	for _, v := range list(get(spec, "volumes")) {
		n := str(get(v, "name"))
		if names[n] {
			bad("%s: volume %s twice", id, n)
		}
		names[n] = true
	}
}
