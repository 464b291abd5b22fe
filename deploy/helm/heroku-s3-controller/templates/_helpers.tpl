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

{{/* The private listener's Service (health, metrics, drift, admin API, console): the full name. */}}
{{- define "hsc.privateServiceName" -}}
{{- include "hsc.fullname" . }}
{{- end }}

{{/* The public listener's Service (webhooks, Partner API): <full name>-public, within 63 characters. */}}
{{- define "hsc.publicServiceName" -}}
{{- printf "%s-public" (include "hsc.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{/*
TRUST_PROXY: config.trustProxy, or when it is null 1 behind the chart's Ingress (the Ingress
controller appends the client's address to X-Forwarded-For) and 0 without one.
*/}}
{{- define "hsc.trustProxy" -}}
{{- $hops := .Values.config.trustProxy -}}
{{- if kindIs "invalid" $hops -}}
{{- $hops = ternary 1 0 (eq .Values.ingress.enabled true) -}}
{{- end -}}
{{- $hops | int64 -}}
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

{{/*
The V8 heap cap, in MiB: heapPercentOfMemoryLimit of resources.limits.memory; empty when either
is unset (0 or no limit). Without a cap V8 sizes its heap from the node's or the container's
whole memory and lets garbage pile up toward it between full collections; with 10,000 add-ons the
live heap is about 100 MB and an uncapped process climbed past 350 MB, near an OOM kill at 512Mi.
*/}}
{{- define "hsc.heapMegabytes" -}}
{{- $limit := toString (dig "limits" "memory" "" (.Values.resources | default dict)) -}}
{{- $percent := int (.Values.heapPercentOfMemoryLimit | default 0) -}}
{{- if and $limit (gt $percent 0) -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $limit -}}
{{- $unit := trimPrefix $number $limit -}}
{{- $bytesPer := dict "" 1.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "T" 1000000000000.0 "Ti" 1099511627776.0 -}}
{{- if or (not $number) (not (hasKey $bytesPer $unit)) -}}
{{- fail (printf "resources.limits.memory %q: cannot derive the heap cap from it; write it in Mi or Gi, or set heapPercentOfMemoryLimit: 0" $limit) -}}
{{- end -}}
{{- $mebibytes := divf (mulf (float64 $number) (get $bytesPer $unit)) 1048576.0 -}}
{{- divf (mulf $mebibytes $percent) 100 | floor | int -}}
{{- end -}}
{{- end }}
