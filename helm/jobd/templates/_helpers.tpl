{{/*
Named templates. The ones a service's own chart uses (jobd.sidecar, jobd.volumes,
jobd.clientEnv, jobd.clientVolumeMounts, jobd.socketPath) read nothing but .Values, so they
also work with a context such as (dict "Values" .Values.jobd) in a parent chart.
*/}}

{{- define "jobd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jobd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "jobd.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "jobd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jobd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jobd.labels" -}}
{{ include "jobd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* jobd's run dir (socket and arena): a directory jobd creates inside the mounted volume. */}}
{{- define "jobd.agentRunDir" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.runDir) .Values.agentSubdir -}}
{{- end -}}

{{/* The socket clients connect to: the value of JOBD_SOCKET. */}}
{{- define "jobd.socketPath" -}}
{{- printf "%s/jobd.sock" (include "jobd.agentRunDir" .) -}}
{{- end -}}

{{/* Env for a client container (list items). */}}
{{- define "jobd.clientEnv" -}}
- name: JOBD_SOCKET
  value: {{ include "jobd.socketPath" . | quote }}
{{- end -}}

{{/* The run dir's mount for a client container (list items). */}}
{{- define "jobd.clientVolumeMounts" -}}
- name: jobd-run
  mountPath: {{ .Values.runDir }}
{{- end -}}

{{/*
Bytes of the arena jobd will create, from sizeClasses or, when that is empty, from jobd's
default classes for .Values.workers (shm::DefaultSizeClasses): slabs, one state word per slab,
a header and page alignment per class. Empty when unknown (workers 0 = the node's cores).
*/}}
{{- define "jobd.arenaBytes" -}}
{{- $units := dict "" 1 "B" 1 "K" 1024 "KIB" 1024 "M" 1048576 "MIB" 1048576 "G" 1073741824 "GIB" 1073741824 -}}
{{- $total := 0 -}}
{{- $known := false -}}
{{- if .Values.sizeClasses -}}
{{- $known = true -}}
{{- range $item := splitList "," .Values.sizeClasses -}}
{{- $parts := splitList ":" $item -}}
{{- if ne (len $parts) 2 -}}
{{- fail (printf "sizeClasses: %q is not size:count (e.g. 64K:256)" $item) -}}
{{- end -}}
{{- $size := index $parts 0 | trim | upper -}}
{{- $digits := regexFind "^[0-9]+" $size -}}
{{- $unit := trimPrefix $digits $size -}}
{{- if or (not $digits) (not (hasKey $units $unit)) -}}
{{- fail (printf "sizeClasses: %q is not a size (e.g. 4096, 4K, 64KiB, 1M)" (index $parts 0)) -}}
{{- end -}}
{{- $count := index $parts 1 | trim | atoi -}}
{{- $bytes := mul (atoi $digits) (get $units $unit) -}}
{{- $total = add $total (mul $bytes $count) (mul 8 $count) 4096 -}}
{{- end -}}
{{- else if gt (int .Values.workers) 0 -}}
{{- $known = true -}}
{{- $n := int .Values.workers -}}
{{- $total = add (mul 4096 64 $n) (mul 65536 16 $n) (mul 8 80 $n) 8192 -}}
{{- $budget := mul $n 8388608 -}}
{{- $weights := list 2 2 2 2 1 1 1 1 1 1 -}}
{{- range $i, $w := $weights -}}
{{- $size := mul 131072 (index (list 1 2 4 8 16 32 64 128 256 512) $i) -}}
{{- $count := max 1 (div (div (mul $budget $w) 14) $size) -}}
{{- $total = add $total (mul $size $count) (mul 8 $count) 4096 -}}
{{- end -}}
{{- end -}}
{{- if $known }}{{ add $total 4096 }}{{ end -}}
{{- end -}}

{{/* Fails rendering when the arena would not fit in arena.sizeMiB. */}}
{{- define "jobd.checkArena" -}}
{{- $bytes := include "jobd.arenaBytes" . -}}
{{- if $bytes -}}
{{- $limit := mul (int64 .Values.arena.sizeMiB) 1048576 -}}
{{- if gt (int64 $bytes) $limit -}}
{{- fail (printf "arena.sizeMiB=%d is too small: the size classes (workers=%d, sizeClasses=%q) make a %d MiB arena; raise arena.sizeMiB to at least %d" (int64 .Values.arena.sizeMiB) (int64 .Values.workers) .Values.sizeClasses (div (int64 $bytes) 1048576) (add1 (div (int64 $bytes) 1048576))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* jobd's command line, from values. */}}
{{- define "jobd.args" -}}
- --run-dir={{ include "jobd.agentRunDir" . }}
- --workers={{ int64 .Values.workers }}
- --worker-cmd={{ .Values.workerCmd }}
{{- if .Values.sizeClasses }}
- --size-classes={{ .Values.sizeClasses }}
{{- end }}
- --default-timeout={{ .Values.defaultTimeout }}
- --grace={{ .Values.grace }}
- --max-queue={{ int64 .Values.maxQueue }}
- --max-queued-per-session={{ int64 .Values.maxQueuedPerSession }}
- --max-slabs-per-session={{ int64 .Values.maxSlabsPerSession }}
- --worker-max-jobs={{ int64 .Values.workerMaxJobs }}
- --worker-max-rss={{ .Values.workerMaxRss }}
- --metrics-address=0.0.0.0:{{ int64 .Values.metrics.port }}
{{- with .Values.socketGroup }}
- --socket-group={{ . }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The jobd container, as a list item for a pod spec's containers (or initContainers when
sidecar.native is on):
  containers:
    - name: my-service
      env:
        {{- include "jobd.clientEnv" . | nindent 8 }}
      volumeMounts:
        {{- include "jobd.clientVolumeMounts" . | nindent 8 }}
    {{- include "jobd.sidecar" . | nindent 4 }}
  volumes:
    {{- include "jobd.volumes" . | nindent 4 }}
*/}}
{{- define "jobd.sidecar" -}}
- name: jobd
  image: {{ printf "%s:%s" .Values.image.repository (required "image.tag is required" .Values.image.tag) | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if include "jobd.nativeSidecar" . }}
  restartPolicy: Always
  {{- end }}
  args:
    {{- include "jobd.args" . | nindent 4 }}
  env:
    - name: JOBD_RUN_DIR
      value: {{ include "jobd.agentRunDir" . | quote }}
    {{- include "jobd.clientEnv" . | nindent 4 }}
    - name: JOBD_LOG_LEVEL
      value: {{ .Values.logLevel | quote }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: metrics
      containerPort: {{ int64 .Values.metrics.port }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /healthz
      port: metrics
    {{- toYaml .Values.probes.startup | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /healthz
      port: metrics
    {{- toYaml .Values.probes.readiness | nindent 4 }}
  livenessProbe:
    exec:
      command: ["/usr/local/bin/jobctl", "health"]
    {{- toYaml .Values.probes.liveness | nindent 4 }}
  {{- if and (gt (int .Values.sidecar.preStopSleepSeconds) 0) (ne .Values.mode "daemonset") }}
  lifecycle:
    preStop:
      exec:
        command: ["/bin/sleep", "{{ int64 .Values.sidecar.preStopSleepSeconds }}"]
  {{- end }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: jobd-run
      mountPath: {{ .Values.runDir }}
    - name: jobd-tmp
      mountPath: /tmp
{{- end -}}

{{/*
The pod's volumes (list items): the run dir, in memory, sized from the arena, and a small /tmp
for jobd's workers (the root filesystem is read-only).
*/}}
{{- define "jobd.volumes" -}}
{{- include "jobd.checkArena" . -}}
- name: jobd-run
  emptyDir:
    medium: Memory
    sizeLimit: {{ add .Values.arena.sizeMiB .Values.arena.headroomMiB }}Mi
- name: jobd-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{/* The example Deployment's name: the default target of the HPA and the sidecar Service. */}}
{{- define "jobd.exampleName" -}}
{{- printf "%s-example" (include "jobd.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of the example Deployment's pods. */}}
{{- define "jobd.exampleSelectorLabels" -}}
{{ include "jobd.selectorLabels" . }}
app.kubernetes.io/component: example
{{- end -}}

{{/* Whether a metrics Service is rendered ("true" or ""). */}}
{{- define "jobd.metricsService" -}}
{{- if eq .Values.mode "daemonset" -}}true
{{- else if and .Values.example.enabled (or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled) -}}true
{{- end -}}
{{- end -}}

{{/* The pods the metrics Service and the PodMonitor select. */}}
{{- define "jobd.metricsSelectorLabels" -}}
{{- if eq .Values.mode "daemonset" -}}
{{ include "jobd.selectorLabels" . }}
app.kubernetes.io/component: agent
{{- else -}}
{{ include "jobd.exampleSelectorLabels" . }}
{{- end -}}
{{- end -}}

{{/*
"true" when jobd runs as a native sidecar: asked for (sidecar.native), in sidecar mode, and on a
Kubernetes with native sidecars on by default (1.29+). Before 1.29 the API server drops
restartPolicy from an init container, and the pod would wait for jobd to exit forever: jobd then
stays an ordinary container (NOTES.txt warns). A context with only Values (a service's own
Deployment including jobd.sidecar) has no Capabilities: the value is taken as it is.
*/}}
{{- define "jobd.nativeSidecar" -}}
{{- if and .Values.sidecar.native (ne .Values.mode "daemonset") -}}
{{- if or (not (hasKey . "Capabilities")) (semverCompare ">=1.29-0" .Capabilities.KubeVersion.Version) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}
