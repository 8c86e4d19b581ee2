{{/*
app.image is the image reference; rendering fails unless it is pinned by digest, so nothing
mutable (a tag) ever reaches the config repo.
*/}}
{{- define "app.image" -}}
{{- if not (regexMatch "^[^@[:space:]]+@sha256:[a-f0-9]{64}$" .Values.image) -}}
{{- fail (printf "values.image %q must be pinned by digest (<repository>@sha256:<64 hex digits>)" .Values.image) -}}
{{- end -}}
{{- .Values.image -}}
{{- end -}}

{{- define "app.instance" -}}
{{- printf "%s-%s" .Values.app .Values.env -}}
{{- end -}}

{{/* app.commonLabels are on every object. Call with the root context. */}}
{{- define "app.commonLabels" -}}
app.kubernetes.io/instance: {{ include "app.instance" . }}
app.kubernetes.io/part-of: {{ .Values.app }}
app.kubernetes.io/managed-by: slipway
slipway.dev/app: {{ .Values.app }}
slipway.dev/env: {{ .Values.env }}
{{- range $k, $v := .Values.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* app.selectorLabels select one service's pods; they never change once deployed. */}}
{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ .svc.name }}
app.kubernetes.io/instance: {{ include "app.instance" .root }}
{{- end -}}

{{/* app.labels are one service's labels. Call with (dict "root" $ "svc" $svc). */}}
{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .svc.name }}
app.kubernetes.io/component: service
{{ include "app.commonLabels" .root }}
{{- end -}}

{{/* app.probe is a probe on the service's health path, or on its port without one. */}}
{{- define "app.probe" -}}
{{- if .svc.healthPath }}
httpGet:
  path: {{ .svc.healthPath }}
  port: http
{{- else }}
tcpSocket:
  port: http
{{- end }}
{{- toYaml .settings | nindent 0 }}
{{- end -}}
