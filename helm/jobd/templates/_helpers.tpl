{{- define "jobd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jobd.fullname" -}}
{{- printf "%s-%s" .Release.Name (include "jobd.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jobd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jobd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jobd.labels" -}}
{{ include "jobd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* jobd's command line, from values. */}}
{{- define "jobd.args" -}}
- --run-dir={{ .Values.runDir }}
- --workers={{ .Values.workers }}
- --worker-cmd={{ .Values.workerCmd }}
{{- if .Values.sizeClasses }}
- --size-classes={{ .Values.sizeClasses }}
{{- end }}
- --default-timeout={{ .Values.defaultTimeout }}
- --grace={{ .Values.grace }}
- --max-queue={{ .Values.maxQueue }}
- --max-queued-per-session={{ .Values.maxQueuedPerSession }}
- --max-slabs-per-session={{ .Values.maxSlabsPerSession }}
- --worker-max-jobs={{ .Values.workerMaxJobs }}
- --metrics-address=0.0.0.0:{{ .Values.metrics.port }}
{{- if .Values.socketGroup }}
- --socket-group={{ .Values.socketGroup }}
{{- end }}
{{- end -}}

{{/*
The jobd container. A service's Deployment puts it beside its own container:
  containers:
    - name: my-service
      ...
    {{- include "jobd.sidecar" . | nindent 4 }}
  volumes:
    {{- include "jobd.volumes" . | nindent 4 }}
*/}}
{{- define "jobd.sidecar" -}}
- name: jobd
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    {{- include "jobd.args" . | nindent 4 }}
  env:
    - name: JOBD_RUN_DIR
      value: {{ .Values.runDir | quote }}
    - name: JOBD_LOG_LEVEL
      value: {{ .Values.logLevel | quote }}
  ports:
    - name: metrics
      containerPort: {{ .Values.metrics.port }}
      protocol: TCP
  readinessProbe:
    httpGet:
      path: /healthz
      port: metrics
    periodSeconds: 5
  livenessProbe:
    exec:
      command: ["/usr/local/bin/jobctl", "health", "--socket={{ .Values.runDir }}/jobd.sock"]
    initialDelaySeconds: 5
    periodSeconds: 10
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: jobd-run
      mountPath: {{ .Values.runDir }}
{{- end -}}

{{/* The shared run dir: socket and arena in memory, sized from the arena. */}}
{{- define "jobd.volumes" -}}
- name: jobd-run
  emptyDir:
    medium: Memory
    sizeLimit: {{ add .Values.arena.sizeMiB .Values.arena.headroomMiB }}Mi
{{- end -}}
