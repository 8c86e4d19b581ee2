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

{{/* app.instanceSelector selects every pod of the application in this environment. */}}
{{- define "app.instanceSelector" -}}
app.kubernetes.io/instance: {{ include "app.instance" . }}
{{- end -}}

{{/* app.selectorLabels select one component's pods; they never change once deployed. */}}
{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ .c.name }}
{{ include "app.instanceSelector" .root }}
{{- end -}}

{{/*
app.labels are one component's labels. Call with (dict "root" $ "c" $component "kind"
"service"|"worker").
*/}}
{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .c.name }}
app.kubernetes.io/component: {{ .kind }}
{{ include "app.commonLabels" .root }}
{{- end -}}

{{/* app.meta is one component's object metadata. */}}
{{- define "app.meta" -}}
name: {{ .c.name }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "app.labels" . | nindent 2 }}
{{- end -}}

{{/*
app.probe is an HTTP probe on a path, or a TCP probe without one, on the probe's port or the
container's named port. Call with (dict "p" $probe "settings" $defaults).
*/}}
{{- define "app.probe" -}}
{{- $p := .p | default dict }}
{{- $port := get $p "port" | default "http" }}
{{- if get $p "path" }}
httpGet:
  path: {{ get $p "path" | quote }}
  port: {{ $port }}
{{- else }}
tcpSocket:
  port: {{ $port }}
{{- end }}
{{- $settings := deepCopy .settings }}
{{- with get $p "initialDelaySeconds" }}
{{- $_ := set $settings "initialDelaySeconds" . }}
{{- end }}
{{- toYaml $settings | nindent 0 }}
{{- end -}}

{{/* app.components is the list of every component, as dicts of kind and values. */}}
{{- define "app.components" -}}
{{- $out := list }}
{{- range .Values.services }}{{ $out = append $out (dict "kind" "service" "c" .) }}{{ end }}
{{- range .Values.workers }}{{ $out = append $out (dict "kind" "worker" "c" .) }}{{ end }}
{{- toJson $out }}
{{- end -}}
