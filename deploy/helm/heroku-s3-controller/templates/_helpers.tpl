{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "hsc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name alone when it already contains the chart name. */}}
{{- define "hsc.fullname" -}}
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

{{- define "hsc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hsc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hsc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hsc.labels" -}}
helm.sh/chart: {{ include "hsc.chart" . }}
{{ include "hsc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "hsc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hsc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The existing Secret with DATABASE_URL, FERNET_KEYS, HEROKU_API_TOKEN (and AWS keys). */}}
{{- define "hsc.secretName" -}}
{{- default (include "hsc.fullname" .) .Values.secret.name }}
{{- end }}

{{- define "hsc.leaseName" -}}
{{- default (include "hsc.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "hsc.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.leaseNamespace }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "hsc.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Label matchers the alert expressions select the controller's series with. */}}
{{- define "hsc.alertSelector" -}}
{{- if .Values.metrics.prometheusRule.selector }}
{{- .Values.metrics.prometheusRule.selector }}
{{- else }}
{{- printf "namespace=%q, service=%q" .Release.Namespace (include "hsc.fullname" .) }}
{{- end }}
{{- end }}

{{/* Role rules of leader election, for the Role in the Lease's namespace. */}}
{{- define "hsc.leaseRules" -}}
# Leader election: read and renew its own Lease; create it on first start (create cannot be
# limited to a name).
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "hsc.leaseName" . | quote }}]
  verbs: ["get", "update"]
{{- end }}
