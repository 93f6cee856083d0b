{{- define "coracle.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "coracle.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "coracle.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coracle.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "coracle.labels" -}}
{{ include "coracle.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "coracle.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "coracle.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Checks the schema cannot express: fails rendering naming the value. */}}
{{- define "coracle.validate" -}}
{{- $_ := required "image.repository is required" .Values.image.repository -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.config.shutdownGraceSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.shutdownGraceSeconds (%d)" (int .Values.terminationGracePeriodSeconds) (int .Values.config.shutdownGraceSeconds)) -}}
{{- end -}}
{{- range .Values.runtimeClasses -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) -}}
{{- fail (printf "runtimeClasses: %q is not a valid handler name (lower-case DNS label)" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The liveness probe handler: exec command, HTTP GET of /metrics, or a socket check. */}}
{{- define "coracle.probeHandler" -}}
{{- $p := .Values.livenessProbe -}}
{{- if $p.exec -}}
exec:
  command: {{ toJson $p.exec }}
{{- else if .Values.metrics.enabled -}}
httpGet:
  {{- if not (has .Values.metrics.address (list "0.0.0.0" "::" "")) }}
  host: {{ .Values.metrics.address | quote }}
  {{- end }}
  path: /metrics
  port: {{ int .Values.metrics.port }}
{{- else -}}
exec:
  command: ["test", "-S", {{ .Values.config.socket | quote }}]
{{- end -}}
{{- end -}}
