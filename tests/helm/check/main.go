// check renders the jobd chart with the real helm (helm template, helm lint --strict) in several
// value sets and checks what comes out; it also checks the values schema, the chart README, the
// Grafana dashboard, the alert rules the chart carries, and, given the built binaries, that the
// real jobd accepts what the chart tells it.
//
//	check -helm BIN [-chart helm/jobd] [-testdata tests/helm/testdata]
//	      [-metrics-file tests/helm/dashboard_metrics.txt]
//	      [-jobd BIN -jobctl BIN -worker BIN]     also start jobd as the chart configures it
//	check -list-metrics [-chart helm/jobd]        the metrics the dashboard queries, sorted
//	check -prometheus URL -job JOB -instance HOST:PORT [-rules FILE]
//	                                              every dashboard query returns data from a live
//	                                              Prometheus, and the alert rules load there
//
// It prints one line per check and ends with "N passed, M failed"; the exit status is 1 when
// anything failed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	yaml "gopkg.in/yaml.v3"
)

var (
	chartDir    string
	testdataDir string
	rulesFile   string
	passed      int
	failed      int
)

// check records one named check; detail explains a failure.
func check(name string, ok bool, detail string, args ...interface{}) bool {
	if ok {
		passed++
		fmt.Printf("ok   %s\n", name)
	} else {
		failed++
		fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(detail, args...))
	}
	return ok
}

type doc = map[string]interface{}

// rendered is the outcome of one render.
type rendered struct {
	docs   []doc
	stdout string
	stderr string
	err    error
}

// get walks maps by string keys and lists by int indexes; nil when absent.
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
			if !ok || k < 0 || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func list(v interface{}) []interface{} { a, _ := v.([]interface{}); return a }

func str(v interface{}) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
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

func kinds(docs []doc) string {
	var ks []string
	for _, d := range docs {
		ks = append(ks, str(d["kind"]))
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func named(items interface{}, name string) interface{} {
	for _, it := range list(items) {
		if get(it, "name") == name {
			return it
		}
	}
	return nil
}

func podSpec(d doc) interface{} { return get(d, "spec", "template", "spec") }

func hasArg(c interface{}, arg string) bool {
	for _, a := range list(get(c, "args")) {
		if a == arg {
			return true
		}
	}
	return false
}

func envValue(c interface{}, name string) string {
	return str(get(named(get(c, "env"), name), "value"))
}

func mustRender(scenario string, args ...string) []doc {
	r := render(args...)
	if !check(scenario+": helm template renders and parses as YAML", r.err == nil, "%v\n%s", r.err, r.stderr) {
		return nil
	}
	problem := lint(args...)
	check(scenario+": helm lint --strict", problem == "", "%s", problem)
	lintAll(scenario, r.docs)
	return r.docs
}

func expectKinds(scenario string, docs []doc, want string) {
	check(scenario+": renders exactly "+want, kinds(docs) == want, "got %s", kinds(docs))
}

func expectFailure(name, wantInStderr string, args ...string) {
	r := render(args...)
	check("refuses "+name, r.err != nil && strings.Contains(r.stderr, wantInStderr),
		"want a failed render whose message has %q; err=%v stderr=%q", wantInStderr, r.err, r.stderr)
}

// jobdContainerChecks: what every jobd container must have, in any mode.
func jobdContainerChecks(scenario string, c interface{}, runDir, socket string) {
	if !check(scenario+": a jobd container", c != nil, "not found") {
		return
	}
	sc := get(c, "securityContext")
	check(scenario+": jobd securityContext (non-root 65532, read-only root, no escalation, no capabilities)",
		get(sc, "runAsNonRoot") == true && get(sc, "runAsUser") == 65532 && get(sc, "readOnlyRootFilesystem") == true &&
			get(sc, "allowPrivilegeEscalation") == false && str(get(sc, "capabilities", "drop", 0)) == "ALL",
		"got %v", sc)
	check(scenario+": readiness probe GET /healthz on the metrics port",
		get(c, "readinessProbe", "httpGet", "path") == "/healthz" && get(c, "readinessProbe", "httpGet", "port") == "metrics",
		"got %v", get(c, "readinessProbe"))
	check(scenario+": startup probe GET /healthz", get(c, "startupProbe", "httpGet", "path") == "/healthz", "got %v", get(c, "startupProbe"))
	cmd := list(get(c, "livenessProbe", "exec", "command"))
	check(scenario+": liveness probe runs jobctl health", len(cmd) == 2 && strings.HasSuffix(str(cmd[0]), "/jobctl") && cmd[1] == "health",
		"got %v", cmd)
	check(scenario+": jobd runs in "+runDir+" and tells jobctl its socket",
		hasArg(c, "--run-dir="+runDir) && envValue(c, "JOBD_SOCKET") == socket && envValue(c, "JOBD_RUN_DIR") == runDir,
		"args %v env %v", get(c, "args"), get(c, "env"))
	check(scenario+": metrics on 0.0.0.0 and the port named metrics",
		hasArg(c, "--metrics-address=0.0.0.0:9464") && get(named(get(c, "ports"), "metrics"), "containerPort") == 9464,
		"args %v ports %v", get(c, "args"), get(c, "ports"))
	check(scenario+": resources set", get(c, "resources", "limits", "memory") != nil && get(c, "resources", "requests", "cpu") != nil,
		"got %v", get(c, "resources"))
	check(scenario+": /tmp is writable (read-only root filesystem)", get(named(get(c, "volumeMounts"), "jobd-tmp"), "mountPath") == "/tmp",
		"got %v", get(c, "volumeMounts"))
	for _, flagName := range []string{"--workers=", "--worker-cmd=", "--default-timeout=", "--grace=", "--max-queue=", "--worker-max-jobs=", "--worker-max-rss="} {
		found := false
		for _, a := range list(get(c, "args")) {
			found = found || strings.HasPrefix(str(a), flagName)
		}
		check(scenario+": jobd gets "+flagName+"...", found, "args %v", get(c, "args"))
	}
}

func sidecarDefaults() {
	const s = "sidecar defaults"
	docs := mustRender(s)
	expectKinds(s, docs, "ConfigMap,Deployment")
	deps := byKind(docs, "Deployment")
	if len(deps) != 1 {
		return
	}
	spec := podSpec(deps[0])
	cs := list(get(spec, "containers"))
	check(s+": the example pod has 2 containers, the service and jobd", len(cs) == 2 && named(cs, "service") != nil && named(cs, "jobd") != nil,
		"got %d: %v", len(cs), cs)
	jobd := named(cs, "jobd")
	jobdContainerChecks(s, jobd, "/run/jobd/agent", "/run/jobd/agent/jobd.sock")
	check(s+": jobd image from values", get(jobd, "image") == "jobd:0.1.0", "got %v", get(jobd, "image"))
	svc := named(cs, "service")
	check(s+": the service gets JOBD_SOCKET", envValue(svc, "JOBD_SOCKET") == "/run/jobd/agent/jobd.sock", "env %v", get(svc, "env"))
	check(s+": the service mounts the shared volume where jobd does",
		get(named(get(svc, "volumeMounts"), "jobd-run"), "mountPath") == "/run/jobd" &&
			get(named(get(jobd, "volumeMounts"), "jobd-run"), "mountPath") == "/run/jobd",
		"service %v jobd %v", get(svc, "volumeMounts"), get(jobd, "volumeMounts"))
	check(s+": the service runs as jobd's user (the arena is mode 0600)", get(svc, "securityContext", "runAsUser") == 65532, "got %v", get(svc, "securityContext"))
	vol := named(get(spec, "volumes"), "jobd-run")
	check(s+": the shared volume is an emptyDir in memory", get(vol, "emptyDir", "medium") == "Memory", "got %v", vol)
	check(s+": sizeLimit = arena.sizeMiB + headroomMiB = 272Mi", get(vol, "emptyDir", "sizeLimit") == "272Mi", "got %v", get(vol, "emptyDir", "sizeLimit"))
	check(s+": pod securityContext non-root with fsGroup", get(spec, "securityContext", "runAsNonRoot") == true && get(spec, "securityContext", "fsGroup") == 65532,
		"got %v", get(spec, "securityContext"))
	check(s+": termination grace covers jobd's --grace", get(spec, "terminationGracePeriodSeconds") == 30 && hasArg(jobd, "--grace=10s"),
		"got %v", get(spec, "terminationGracePeriodSeconds"))
	check(s+": replicas from values without autoscaling", get(deps[0], "spec", "replicas") == 1, "got %v", get(deps[0], "spec", "replicas"))
	checkDashboardConfigMap(s, docs)
}

func daemonsetMode() {
	const s = "daemonset"
	docs := mustRender(s, "-set", "mode=daemonset")
	expectKinds(s, docs, "ConfigMap,DaemonSet,Service")
	dss := byKind(docs, "DaemonSet")
	if len(dss) != 1 {
		return
	}
	spec := podSpec(dss[0])
	check(s+": one container", len(list(get(spec, "containers"))) == 1, "got %v", get(spec, "containers"))
	jobd := named(get(spec, "containers"), "jobd")
	jobdContainerChecks(s, jobd, "/run/jobd/agent", "/run/jobd/agent/jobd.sock")
	vol := named(get(spec, "volumes"), "jobd-run")
	check(s+": the run dir is a hostPath /run/jobd, DirectoryOrCreate",
		get(vol, "hostPath", "path") == "/run/jobd" && get(vol, "hostPath", "type") == "DirectoryOrCreate", "got %v", vol)
	check(s+": no emptyDir for the run dir", get(vol, "emptyDir") == nil, "got %v", vol)
	init := named(get(spec, "initContainers"), "run-dir")
	isc := get(init, "securityContext")
	check(s+": an init container gives jobd's user its run dir, as root with only CHOWN and FOWNER",
		init != nil && get(isc, "runAsUser") == 0 && str(get(isc, "capabilities", "drop", 0)) == "ALL" &&
			fmt.Sprint(get(isc, "capabilities", "add")) == "[CHOWN FOWNER]" && get(isc, "allowPrivilegeEscalation") == false &&
			strings.Contains(str(get(init, "command", 2)), "chown 65532:65532 /run/jobd/agent"),
		"got %v", init)
	svcs := byKind(docs, "Service")
	if len(svcs) == 1 {
		check(s+": the metrics Service selects the DaemonSet's pods on the metrics port",
			subset(get(svcs[0], "spec", "selector"), get(dss[0], "spec", "template", "metadata", "labels")) &&
				get(svcs[0], "spec", "ports", 0, "targetPort") == "metrics" && get(svcs[0], "spec", "ports", 0, "port") == 9464,
			"got %v", svcs[0]["spec"])
	}
	check(s+": update strategy from values", get(dss[0], "spec", "updateStrategy", "rollingUpdate", "maxUnavailable") == 1,
		"got %v", get(dss[0], "spec", "updateStrategy"))
	checkDashboardConfigMap(s, docs)
}

func nonDefaults() {
	const s = "non-default values"
	docs := mustRender(s, "-f", filepath.Join(testdataDir, "values-full.yaml"))
	expectKinds(s, docs, "ConfigMap,Deployment,HorizontalPodAutoscaler,PodMonitor,Service,ServiceMonitor")
	deps := byKind(docs, "Deployment")
	if len(deps) == 1 {
		spec := podSpec(deps[0])
		jobd := named(get(spec, "containers"), "jobd")
		for _, a := range []string{"--workers=8", "--max-queue=10000000", "--socket-group=jobd", "--worker-max-rss=512M", "--max-slabs-per-session=64"} {
			check(s+": jobd gets "+a, hasArg(jobd, a), "args %v", get(jobd, "args"))
		}
		check(s+": image override", get(jobd, "image") == "registry.example.com/jobd:0.1.0-test", "got %v", get(jobd, "image"))
		check(s+": custom resources", get(jobd, "resources", "limits", "memory") == "2Gi" && get(jobd, "resources", "limits", "cpu") == "2" &&
			get(jobd, "resources", "requests", "memory") == "1Gi", "got %v", get(jobd, "resources"))
		check(s+": sizeLimit follows arena.sizeMiB (1024+16)", get(named(get(spec, "volumes"), "jobd-run"), "emptyDir", "sizeLimit") == "1040Mi",
			"got %v", get(spec, "volumes"))
		check(s+": preStop sleep before jobd drains", fmt.Sprint(get(jobd, "lifecycle", "preStop", "exec", "command")) == "[/bin/sleep 5]",
			"got %v", get(jobd, "lifecycle"))
		check(s+": example env goes through tpl", envValue(named(get(spec, "containers"), "service"), "SERVICE_NAME") == "jobd-svc",
			"got %v", get(named(get(spec, "containers"), "service"), "env"))
		check(s+": pod annotations", get(deps[0], "spec", "template", "metadata", "annotations", "example.com/team") == "jobs",
			"got %v", get(deps[0], "spec", "template", "metadata"))
		check(s+": no replicas in the Deployment when the HPA owns them", get(deps[0], "spec", "replicas") == nil, "got %v", get(deps[0], "spec", "replicas"))
	}
	if hpas := byKind(docs, "HorizontalPodAutoscaler"); len(hpas) == 1 {
		h := hpas[0]
		check(s+": HPA is autoscaling/v2", h["apiVersion"] == "autoscaling/v2", "got %v", h["apiVersion"])
		check(s+": HPA targets the example Deployment", get(h, "spec", "scaleTargetRef", "kind") == "Deployment" &&
			get(h, "spec", "scaleTargetRef", "name") == get(deps[0], "metadata", "name"), "got %v", get(h, "spec", "scaleTargetRef"))
		check(s+": HPA scales on the Pods metric jobd_queue_depth, 50 per pod",
			get(h, "spec", "metrics", 0, "type") == "Pods" && get(h, "spec", "metrics", 0, "pods", "metric", "name") == "jobd_queue_depth" &&
				get(h, "spec", "metrics", 0, "pods", "target", "averageValue") == "50",
			"got %v", get(h, "spec", "metrics"))
		check(s+": HPA replica bounds", get(h, "spec", "minReplicas") == 2 && get(h, "spec", "maxReplicas") == 20, "got %v", h["spec"])
	}
	if sms := byKind(docs, "ServiceMonitor"); len(sms) == 1 {
		check(s+": ServiceMonitor is monitoring.coreos.com/v1 with the extra labels",
			sms[0]["apiVersion"] == "monitoring.coreos.com/v1" && get(sms[0], "metadata", "labels", "release") == "kube-prometheus-stack",
			"got %v", sms[0]["metadata"])
	}
	if pms := byKind(docs, "PodMonitor"); len(pms) == 1 {
		check(s+": PodMonitor scrapes /metrics on the metrics port",
			pms[0]["apiVersion"] == "monitoring.coreos.com/v1" && get(pms[0], "spec", "podMetricsEndpoints", 0, "port") == "metrics" &&
				get(pms[0], "spec", "podMetricsEndpoints", 0, "path") == "/metrics", "got %v", pms[0]["spec"])
	}
	if cms := byKind(docs, "ConfigMap"); len(cms) == 1 {
		check(s+": dashboard annotations", get(cms[0], "metadata", "annotations", "grafana_folder") == "jobd", "got %v", cms[0]["metadata"])
	}
}

func otherScenarios() {
	s := "daemonset with monitors"
	docs := mustRender(s, "-set", "mode=daemonset,metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true,socketGroup=jobd")
	expectKinds(s, docs, "ConfigMap,DaemonSet,PodMonitor,Service,ServiceMonitor")
	if ds := byKind(docs, "DaemonSet"); len(ds) == 1 {
		check(s+": socket group reaches jobd", hasArg(named(get(podSpec(ds[0]), "containers"), "jobd"), "--socket-group=jobd"), "")
	}

	s = "HPA on an External metric"
	docs = mustRender(s, "-set", "autoscaling.enabled=true,autoscaling.metricType=External,autoscaling.externalSelector.app=my-service")
	if h := byKind(docs, "HorizontalPodAutoscaler"); check(s+": an HPA", len(h) == 1, "got %s", kinds(docs)) {
		check(s+": External metric jobd_queue_depth with a selector",
			get(h[0], "spec", "metrics", 0, "type") == "External" &&
				get(h[0], "spec", "metrics", 0, "external", "metric", "name") == "jobd_queue_depth" &&
				get(h[0], "spec", "metrics", 0, "external", "metric", "selector", "matchLabels", "app") == "my-service",
			"got %v", get(h[0], "spec", "metrics"))
	}

	s = "HPA for your own Deployment"
	docs = mustRender(s, "-set", "example.enabled=false,autoscaling.enabled=true,autoscaling.scaleTargetName=my-service")
	if h := byKind(docs, "HorizontalPodAutoscaler"); check(s+": an HPA and no example", len(h) == 1 && len(byKind(docs, "Deployment")) == 0, "got %s", kinds(docs)) {
		check(s+": targets my-service", get(h[0], "spec", "scaleTargetRef", "name") == "my-service", "got %v", get(h[0], "spec", "scaleTargetRef"))
	}

	for _, kube := range []string{"1.29.0", "1.32.0"} {
		s = "native sidecar on Kubernetes " + kube
		docs = mustRender(s, "-set", "sidecar.native=true", "-kube-version", kube)
		if deps := byKind(docs, "Deployment"); len(deps) == 1 {
			spec := podSpec(deps[0])
			jobd := named(get(spec, "initContainers"), "jobd")
			check(s+": jobd is an init container with restartPolicy Always, the service the only container",
				jobd != nil && get(jobd, "restartPolicy") == "Always" && len(list(get(spec, "containers"))) == 1, "got %v", spec)
		}
	}
	// Before 1.29 the API server drops restartPolicy from init containers: jobd would be an init
	// container that never exits, and the service would never start.
	s = "native sidecar asked for on Kubernetes 1.28"
	docs = mustRender(s, "-set", "sidecar.native=true", "-kube-version", "1.28.0")
	if deps := byKind(docs, "Deployment"); len(deps) == 1 {
		spec := podSpec(deps[0])
		jobd := named(get(spec, "containers"), "jobd")
		check(s+": jobd stays an ordinary container, without restartPolicy, and there are no init containers",
			jobd != nil && get(jobd, "restartPolicy") == nil && get(spec, "initContainers") == nil, "got %v", spec)
	}

	s = "PrometheusRule"
	docs = mustRender(s, "-set", "prometheusRule.enabled=true,prometheusRule.labels.release=kube-prometheus-stack")
	expectKinds(s, docs, "ConfigMap,Deployment,PrometheusRule")
	if rules := byKind(docs, "PrometheusRule"); len(rules) == 1 {
		file, err := readYAMLFile(rulesFile)
		check(s+": monitoring.coreos.com/v1 with the extra labels",
			rules[0]["apiVersion"] == "monitoring.coreos.com/v1" && get(rules[0], "metadata", "labels", "release") == "kube-prometheus-stack",
			"got %v", rules[0]["metadata"])
		check(s+": spec.groups is "+rulesFile+"'s groups, {{ $labels }} left for Prometheus",
			err == nil && reflect.DeepEqual(get(rules[0], "spec", "groups"), file["groups"]) &&
				strings.Contains(fmt.Sprint(get(rules[0], "spec", "groups")), "{{ $labels.instance }}"),
			"err %v; rendered %v", err, get(rules[0], "spec"))
		var alerts []string
		for _, r := range list(get(rules[0], "spec", "groups", 0, "rules")) {
			alerts = append(alerts, str(get(r, "alert")))
		}
		sort.Strings(alerts)
		check(s+": the seven alerts", strings.Join(alerts, ",") ==
			"JobdArenaNearlyFull,JobdDown,JobdNoReadyWorkers,JobdOldestQueuedJobTooOld,JobdRejections,JobdSlabAcquireFailures,JobdWorkerRestarts",
			"got %v", alerts)
	}

	s = "dashboard off"
	docs = mustRender(s, "-set", "dashboard.enabled=false")
	expectKinds(s, docs, "Deployment")

	s = "your own Deployment"
	docs = mustRender(s, "-set", "example.enabled=false,dashboard.enabled=false", "-extra-template", filepath.Join(testdataDir, "my-service.yaml"))
	expectKinds(s, docs, "Deployment")
	if deps := byKind(docs, "Deployment"); len(deps) == 1 {
		spec := podSpec(deps[0])
		jobd := named(get(spec, "containers"), "jobd")
		mine := named(get(spec, "containers"), "my-service")
		check(s+": jobd.sidecar, jobd.volumes, jobd.clientEnv, jobd.clientVolumeMounts work with a Values-only context",
			jobd != nil && envValue(mine, "JOBD_SOCKET") == "/run/jobd/agent/jobd.sock" &&
				get(named(get(mine, "volumeMounts"), "jobd-run"), "mountPath") == "/run/jobd" &&
				get(named(get(spec, "volumes"), "jobd-run"), "emptyDir", "medium") == "Memory",
			"got %v", spec)
	}
}

func failures() {
	expectFailure("workers: many (a values file)", "workers: Invalid type. Expected: integer, given: string",
		"-f", filepath.Join(testdataDir, "bad-workers.yaml"))
	expectFailure("--set workers=many", "workers: Invalid type", "-set", "workers=many")
	expectFailure("mode=cluster", `must be one of the following: "sidecar", "daemonset"`, "-set", "mode=cluster")
	expectFailure("metrics.port=70000", "metrics.port: Must be less than or equal to 65535", "-set", "metrics.port=70000")
	expectFailure("an unknown key", "Additional property surprise is not allowed", "-set", "surprise=1")
	expectFailure("a misspelt nested key", "Additional property sizeMib is not allowed", "-set", "arena.sizeMib=1")
	expectFailure("a relative runDir", "runDir: Does not match pattern", "-set", "runDir=run/jobd")
	expectFailure("a bad duration", "grace: Does not match pattern", "-set-string", "grace=10")
	expectFailure("bad sizeClasses", "sizeClasses: Does not match pattern", "-set", "sizeClasses=lots")
	expectFailure("an arena too small for sizeClasses", "arena.sizeMiB=256 is too small", "-set", "sizeClasses=64M:8")
	expectFailure("an arena too small for the workers' default classes", "arena.sizeMiB=64 is too small", "-set", "workers=64,arena.sizeMiB=64")
	expectFailure("a ServiceMonitor with nothing to select", "metrics.serviceMonitor needs a metrics Service",
		"-set", "example.enabled=false,metrics.serviceMonitor.enabled=true")
	expectFailure("an HPA with no target", "autoscaling: set autoscaling.scaleTargetName", "-set", "example.enabled=false,autoscaling.enabled=true")
	expectFailure("an empty image tag", "image.tag", "-set-string", "image.tag=")
}

func notes() {
	for _, tc := range []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"sidecar", nil, []string{"sidecar mode", "JOBD_SOCKET=/run/jobd/agent/jobd.sock", `include "jobd.sidecar"`}, []string{"WARNING"}},
		{"daemonset", []string{"-set", "mode=daemonset"}, []string{"daemonset mode", "/run/jobd/agent", "JOBD_SOCKET=/run/jobd/agent/jobd.sock"}, nil},
		{"monitors without the CRDs", []string{"-set", "metrics.podMonitor.enabled=true"}, []string{"WARNING: monitoring.coreos.com/v1"}, nil},
		{"monitors with the CRDs", []string{"-set", "metrics.podMonitor.enabled=true", "-api-versions", "monitoring.coreos.com/v1"}, nil, []string{"WARNING"}},
		{"autoscaling", []string{"-set", "autoscaling.enabled=true"}, []string{"jobd_queue_depth (Pods metric)"}, []string{"WARNING"}},
		{"native sidecar on 1.28", []string{"-set", "sidecar.native=true", "-kube-version", "1.28.0"}, []string{"WARNING: sidecar.native needs Kubernetes >= 1.29 (this is v1.28.0)"}, nil},
		{"native sidecar on 1.29", []string{"-set", "sidecar.native=true", "-kube-version", "1.29.0"}, nil, []string{"WARNING"}},
		{"alerts", []string{"-set", "prometheusRule.enabled=true", "-api-versions", "monitoring.coreos.com/v1"}, []string{"Alerts: PrometheusRule jobd"}, []string{"WARNING"}},
	} {
		r := render(append([]string{"-notes"}, tc.args...)...)
		ok := r.err == nil
		for _, w := range tc.want {
			ok = ok && strings.Contains(r.stdout, w)
		}
		for _, w := range tc.not {
			ok = ok && !strings.Contains(r.stdout, w)
		}
		check("NOTES.txt, "+tc.name, ok, "want %q and not %q in:\n%s%s", tc.want, tc.not, r.stdout, r.stderr)
	}
}

func readYAMLFile(p string) (map[string]interface{}, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	return m, yaml.Unmarshal(b, &m)
}

func chartFiles() {
	meta, err := readYAMLFile(filepath.Join(chartDir, "Chart.yaml"))
	if !check("Chart.yaml parses", err == nil, "%v", err) {
		return
	}
	values, err := readYAMLFile(filepath.Join(chartDir, "values.yaml"))
	if !check("values.yaml parses", err == nil, "%v", err) {
		return
	}
	check("Chart.yaml: apiVersion v2, name jobd, application", meta["apiVersion"] == "v2" && meta["name"] == "jobd" && meta["type"] == "application",
		"got %v", meta)
	check("values.yaml image.tag equals the chart's appVersion", str(get(values, "image", "tag")) == str(meta["appVersion"]),
		"image.tag %v, appVersion %v", get(values, "image", "tag"), meta["appVersion"])
	for _, f := range []string{"README.md", "values.schema.json", "files/dashboard.json", "templates/NOTES.txt", "templates/_helpers.tpl"} {
		_, err := os.Stat(filepath.Join(chartDir, f))
		check("chart has "+f, err == nil, "%v", err)
	}
	// One source for the alerts: the chart cannot read files outside itself, so it carries a copy.
	mine, err1 := os.ReadFile(filepath.Join(chartDir, "files", "jobd-rules.yml"))
	theirs, err2 := os.ReadFile(rulesFile)
	check("files/jobd-rules.yml is identical to "+rulesFile+" (cp "+rulesFile+" "+filepath.Join(chartDir, "files")+"/)",
		err1 == nil && err2 == nil && bytes.Equal(mine, theirs), "%v %v: they differ", err1, err2)
}

func main() {
	flag.StringVar(&helmBin, "helm", "", "the helm binary (scripts/install_helm.sh puts one in the build dir)")
	flag.StringVar(&chartDir, "chart", "helm/jobd", "the chart's directory")
	flag.StringVar(&testdataDir, "testdata", "tests/helm/testdata", "test values and templates")
	flag.StringVar(&rulesFile, "rules", "deploy/prometheus/jobd-rules.yml", "the alert rules the chart must carry a copy of")
	metricsFile := flag.String("metrics-file", "tests/helm/dashboard_metrics.txt", "the committed list of dashboard metrics")
	listMetrics := flag.Bool("list-metrics", false, "print the metrics the dashboard queries and exit")
	prometheus := flag.String("prometheus", "", "a Prometheus base URL: check the dashboard's queries and the rules against it instead")
	job := flag.String("job", "jobd", "with -prometheus: the scrape job of jobd")
	instance := flag.String("instance", "", "with -prometheus: jobd's instance (host:port)")
	wait := flag.Duration("wait", 60*time.Second, "with -prometheus: how long data may take to appear")
	jobdBin := flag.String("jobd", "", "the built jobd (with -jobctl and -worker: start jobd as the chart configures it)")
	jobctlBin := flag.String("jobctl", "", "the built jobctl")
	workerBin := flag.String("worker", "", "the built jobd-testworker")
	flag.Parse()

	if *listMetrics {
		names, err := dashboardMetrics(filepath.Join(chartDir, "files", "dashboard.json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(strings.Join(names, "\n"))
		return
	}
	if *prometheus != "" {
		liveDashboard(*prometheus, *job, *instance, *wait)
		liveRules(*prometheus, *wait)
		fmt.Printf("%d passed, %d failed\n", passed, failed)
		if failed > 0 {
			os.Exit(1)
		}
		return
	}
	if helmBin == "" {
		fmt.Fprintln(os.Stderr, "check: -helm BIN is required")
		os.Exit(2)
	}

	chartFiles()
	schemaCoverage()
	readmeCoverage()
	dashboardFile(*metricsFile)
	sidecarDefaults()
	daemonsetMode()
	nonDefaults()
	otherScenarios()
	failures()
	notes()
	if *jobdBin != "" {
		smoke(*jobdBin, *jobctlBin, *workerBin)
	} else {
		fmt.Println("skip starting jobd as the chart configures it (no -jobd given)")
	}

	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
