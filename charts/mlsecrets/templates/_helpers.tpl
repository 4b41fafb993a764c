{{/* Chart name. */}}
{{- define "mlsecrets.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name. */}}
{{- define "mlsecrets.fullname" -}}
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

{{- define "mlsecrets.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlsecrets.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlsecrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlsecrets.labels" -}}
helm.sh/chart: {{ include "mlsecrets.chart" . }}
{{ include "mlsecrets.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlsecrets
{{- end }}

{{- define "mlsecrets.serviceAccountName" -}}
{{- default (include "mlsecrets.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The webhook Service: its name is in the operator's serving certificate. */}}
{{- define "mlsecrets.webhookServiceName" -}}
{{- printf "%s-webhook" (include "mlsecrets.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlsecrets.metricsServiceName" -}}
{{- printf "%s-metrics" (include "mlsecrets.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The operator reads and patches exactly this webhook configuration (docs/architecture.md). */}}
{{- define "mlsecrets.webhookConfigurationName" -}}
mlsecrets-pod-injector
{{- end }}

{{- define "mlsecrets.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
