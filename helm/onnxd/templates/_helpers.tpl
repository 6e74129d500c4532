{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "onnxd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "onnxd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "onnxd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "onnxd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "onnxd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "onnxd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: inference-server
{{- end }}

{{- define "onnxd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "onnxd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "onnxd.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.gpu.enabled }}{{ $tag = printf "%s%s" $tag .Values.gpu.imageTagSuffix }}{{ end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{- define "onnxd.claimName" -}}
{{- default (printf "%s-models" (include "onnxd.fullname" .)) .Values.modelRepository.pvc.existingClaim }}
{{- end }}

{{/* Refuse values that would render a broken deployment. */}}
{{- define "onnxd.validate" -}}
{{- $mode := .Values.server.modelControlMode }}
{{- if not (has $mode (list "none" "explicit" "poll")) }}
{{- fail (printf "server.modelControlMode must be none, explicit or poll, not %q" $mode) }}
{{- end }}
{{- if not (has .Values.modelRepository.source (list "pvc" "emptyDir")) }}
{{- fail (printf "modelRepository.source must be pvc or emptyDir, not %q" .Values.modelRepository.source) }}
{{- end }}
{{- if not (has .Values.autoscaling.metric (list "cpu" "queueTime")) }}
{{- fail (printf "autoscaling.metric must be cpu or queueTime, not %q" .Values.autoscaling.metric) }}
{{- end }}
{{- $needed := add .Values.shutdown.preStopSleepSeconds .Values.server.exitTimeoutSecs }}
{{- if le (int .Values.shutdown.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + server.exitTimeoutSecs (%v)" .Values.shutdown.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.server.allowMetrics) }}
{{- fail "serviceMonitor.enabled needs server.allowMetrics" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (eq .Values.autoscaling.metric "queueTime") (not .Values.server.allowMetrics) }}
{{- fail "autoscaling on queueTime needs server.allowMetrics" }}
{{- end }}
{{- end }}
