{{- define "slipway.fullname" -}}
{{- if contains "slipway" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-slipway" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* slipway.name is one component's object name. Call with (dict "root" $ "component" "webhook"). */}}
{{- define "slipway.name" -}}
{{- printf "%s-%s" (include "slipway.fullname" .root) .component -}}
{{- end -}}

{{- define "slipway.commonLabels" -}}
app.kubernetes.io/name: slipway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "slipway.selectorLabels" -}}
app.kubernetes.io/name: slipway
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "slipway.labels" -}}
{{ include "slipway.commonLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* slipway.meta is a namespaced object's metadata. */}}
{{- define "slipway.meta" -}}
name: {{ include "slipway.name" . }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "slipway.labels" . | nindent 2 }}
{{- end -}}

{{/* slipway.pipelineServiceAccount runs the pipelines' pods. */}}
{{- define "slipway.pipelineServiceAccount" -}}
{{- .Values.pipelines.serviceAccount | default (include "slipway.name" (dict "root" . "component" "pipeline")) -}}
{{- end -}}

{{- define "slipway.image" -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- end -}}

{{/*
slipway.pod is the pod template every component shares. Call with (dict "root" $ "component"
name "args" list "resources" map "env" list "mounts" list "ports" list).
*/}}
{{- define "slipway.pod" -}}
{{- $v := .root.Values -}}
metadata:
  labels:
    {{- include "slipway.labels" . | nindent 4 }}
spec:
  serviceAccountName: {{ include "slipway.name" . }}
  enableServiceLinks: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "slipway.image" .root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      env:
        - name: SLIPWAY_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: SLIPWAY_LOG_LEVEL
          value: {{ $v.logLevel }}
        - name: SLIPWAY_HEALTH_ADDR
          value: ":8081"
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: health
          containerPort: 8081
          protocol: TCP
        {{- with .ports }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        periodSeconds: 5
      livenessProbe:
        httpGet:
          path: /healthz
          port: health
        initialDelaySeconds: 10
        periodSeconds: 10
        failureThreshold: 6
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- range .mounts }}
        - name: {{ .name }}
          mountPath: {{ .path }}
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 1Gi
    {{- range .mounts }}
    - name: {{ .name }}
      {{- if get . "configMap" }}
      configMap:
        name: {{ get . "configMap" }}
        defaultMode: 0440
      {{- else }}
      secret:
        secretName: {{ .secret }}
        defaultMode: 0440
      {{- end }}
    {{- end }}
{{- end -}}

{{/* slipway.uniqueNames is the sorted, de-duplicated names of a list of secret refs, as JSON. */}}
{{- define "slipway.uniqueNames" -}}
{{- $names := list }}
{{- range . }}{{ $names = append $names .name }}{{ end }}
{{- $names | uniq | sortAlpha | toJson }}
{{- end -}}
