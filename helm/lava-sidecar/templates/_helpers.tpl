{{/*
Named templates. The ones meant for your own charts (sidecar mode) take a context with .Values
(this chart's values) and .Release; from a parent chart that depends on lava-sidecar:
  {{- $lava := dict "Values" (index .Values "lava-sidecar") "Release" .Release "Capabilities" .Capabilities }}
  initContainers:   {{- include "lava-sidecar.container" $lava | nindent 8 }}   # native sidecar
  volumes:          {{- include "lava-sidecar.volumes" $lava | nindent 8 }}
  metadata.annotations: {{- include "lava-sidecar.podAnnotations" $lava | nindent 8 }}
  metadata.labels:  {{- include "lava-sidecar.podLabels" $lava | nindent 8 }}
  terminationGracePeriodSeconds: {{ include "lava-sidecar.terminationGracePeriodSeconds" $lava }}
*/}}

{{- define "lava-sidecar.name" -}}
{{- default "lava-sidecar" .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lava-sidecar.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "lava-sidecar.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lava-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lava-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lava-sidecar.labels" -}}
{{ include "lava-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lava-sidecar.image" -}}
{{- $tag := .Values.image.tag }}
{{- if and (not $tag) (hasKey . "Chart") }}{{ $tag = .Chart.AppVersion }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (toString ($tag | default "latest")) }}
{{- end }}
{{- end }}

{{/* The config file: the values' `config` plus the listeners, which follow the mode. */}}
{{- define "lava-sidecar.configFile" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $host := ternary "0.0.0.0" "127.0.0.1" (eq .Values.mode "standalone") }}
{{- $_ := set $cfg "listen" (printf "%s:%d" $host (int .Values.ports.proxy)) }}
{{- $_ := set $cfg "admin_listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) }}
{{- if and .Values.usageLogVolume.enabled (eq (toString $cfg.usage_log.path) "-") }}
{{- $_ := set $cfg.usage_log "path" (printf "%s/usage.jsonl" .Values.usageLogVolume.mountPath) }}
{{- end }}
{{- $q := $cfg.quotas | default dict }}
{{- if eq (toString $q.backend) "redis" }}
{{- if not .Values.quotaRedis.existingSecret }}
{{- fail "config.quotas.backend=redis needs quotaRedis.existingSecret: the name of a Secret whose key (quotaRedis.key) holds the redis:// or rediss:// URL" }}
{{- end }}
{{- $_ := set $q "redis" (merge (dict "url" (dict "env" "LAVA_SIDECAR_REDIS_URL")) ($q.redis | default dict)) }}
{{- end }}
# Rendered by the lava-sidecar chart from its values (keys as in config/sidecar.yaml).
{{ toYaml $cfg }}
{{- end }}

{{/* What only a restart applies: the config without what the sidecar reloads in place (the
     limits in quotas, identity.api_keys), so changing a limit does not roll the pods. The quota
     backend and its Redis stay in: they change only at restart. */}}
{{- define "lava-sidecar.restartConfig" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $q := $cfg.quotas | default dict }}
{{- $_ := set $cfg "quotas" (dict "backend" ($q.backend | default "memory") "redis" ($q.redis | default dict) "redisSecret" .Values.quotaRedis) }}
{{- if $cfg.identity }}{{- $_ := unset $cfg.identity "api_keys" }}{{- end }}
{{- $_ := set $cfg "chart" (dict "mode" .Values.mode "ports" .Values.ports "usageLogVolume" .Values.usageLogVolume) }}
{{ toYaml $cfg }}
{{- end }}

{{/* Pod grace period: preStop + drain delay + stream grace + 10 s to flush and exit. */}}
{{- define "lava-sidecar.terminationGracePeriodSeconds" -}}
{{- $sd := .Values.config.shutdown }}
{{- $pre := ternary 0 (int .Values.lifecycle.preStopSleepSeconds) (and (eq .Values.mode "sidecar") .Values.sidecar.native) }}
{{- $need := add $pre (int (ceil $sd.drain_delay_seconds)) (int (ceil $sd.grace_seconds)) 10 }}
{{- $given := .Values.lifecycle.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $given }}
{{- $need }}
{{- else if lt (int $given) (int (sub $need 10)) }}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds=%d is shorter than preStop (%d) + drain_delay_seconds + grace_seconds: in-flight streams would be killed on rollout; use at least %d" (int $given) $pre $need) }}
{{- else }}
{{- int $given }}
{{- end }}
{{- end }}

{{- define "lava-sidecar.podAnnotations" -}}
checksum/lava-sidecar-config: {{ include "lava-sidecar.restartConfig" . | trim | sha256sum }}
{{- if .Values.monitoring.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.admin | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Label the PodMonitor selects (sidecar mode): add it to the pods that carry the sidecar. */}}
{{- define "lava-sidecar.podLabels" -}}
lava.so/sidecar: {{ include "lava-sidecar.fullname" . }}
{{- end }}

{{- define "lava-sidecar.volumes" -}}
- name: lava-sidecar-config
  configMap:
    name: {{ include "lava-sidecar.fullname" . }}
- name: lava-sidecar-secret
  secret:
    secretName: {{ .Values.secretKey.existingSecret }}
    items:
      - key: {{ .Values.secretKey.key }}
        path: secret-key
    # Readable by the sidecar's non-root user whatever the pod's fsGroup; the volume is
    # mounted into the sidecar container only.
    defaultMode: 0444
- name: lava-sidecar-tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- if .Values.usageLogVolume.enabled }}
- name: lava-sidecar-usage-log
  {{- if .Values.usageLogVolume.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.usageLogVolume.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .Values.usageLogVolume.sizeLimit }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The container as a list item. Sidecar mode + sidecar.native: put it under initContainers. */}}
{{- define "lava-sidecar.container" -}}
{{- $native := and (eq .Values.mode "sidecar") .Values.sidecar.native }}
{{- if and $native (hasKey . "Capabilities") }}
{{- if semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version }}
{{- fail (printf "sidecar.native needs Kubernetes 1.29+ (initContainers with restartPolicy: Always); this cluster is %s: set sidecar.native=false" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- end }}
{{- include "lava-sidecar.containerFor" (dict "ctx" . "native" (and (eq .Values.mode "sidecar") .Values.sidecar.native)) }}
{{- end }}

{{- define "lava-sidecar.containerFor" -}}
{{- $ := .ctx }}
{{- $v := $.Values -}}
- name: lava-sidecar
  image: {{ include "lava-sidecar.image" $ }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  args: ["serve"]
  env:
    - name: LAVA_SIDECAR_CONFIG
      value: /etc/lava-sidecar/sidecar.yaml
    - name: LAVA_SECRET_KEY_FILE
      value: /var/run/secrets/lava/secret-key
    {{- include "lava-sidecar.tracingEnv" $v.tracing | nindent 4 }}
    {{- if $v.quotaRedis.existingSecret }}
    - name: LAVA_SIDECAR_REDIS_URL
      valueFrom:
        secretKeyRef: {name: {{ $v.quotaRedis.existingSecret }}, key: {{ $v.quotaRedis.key }}}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: lava-proxy
      containerPort: {{ $v.ports.proxy }}
      protocol: TCP
    - name: lava-metrics
      containerPort: {{ $v.ports.admin }}
      protocol: TCP
  startupProbe:
    httpGet: {path: /healthz, port: lava-metrics}
    {{- toYaml $v.probes.startup | nindent 4 }}
  livenessProbe:
    httpGet: {path: /healthz, port: lava-metrics}
    {{- toYaml $v.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet: {path: /readyz, port: lava-metrics}
    {{- toYaml $v.probes.readiness | nindent 4 }}
  {{- if and (not .native) (gt (int $v.lifecycle.preStopSleepSeconds) 0) }}
  lifecycle:
    preStop:
      exec:
        command: ["sleep", "{{ int $v.lifecycle.preStopSleepSeconds }}"]
  {{- end }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: lava-sidecar-config
      mountPath: /etc/lava-sidecar
      readOnly: true
    - name: lava-sidecar-secret
      mountPath: /var/run/secrets/lava
      readOnly: true
    - name: lava-sidecar-tmp
      mountPath: /tmp
    {{- if $v.usageLogVolume.enabled }}
    - name: lava-sidecar-usage-log
      mountPath: {{ $v.usageLogVolume.mountPath }}
    {{- end }}
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "lava-sidecar.serviceAccountName" -}}
{{- if .Values.standalone.serviceAccount.create }}
{{- default (include "lava-sidecar.fullname" .) .Values.standalone.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.standalone.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The OTEL_* variables for values.tracing; nothing when no endpoint is set (tracing off). */}}
{{- define "lava-sidecar.tracingEnv" -}}
{{- if and . .endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .endpoint | quote }}
- name: LAVA_K8S_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: LAVA_K8S_POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
{{- $attrs := list "k8s.namespace.name=$(LAVA_K8S_NAMESPACE)" "k8s.pod.name=$(LAVA_K8S_POD_NAME)" }}
{{- if .resourceAttributes }}{{ $attrs = append $attrs .resourceAttributes }}{{ end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with .serviceName }}
- name: OTEL_SERVICE_NAME
  value: {{ . | quote }}
{{- end }}
{{- with .sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with .samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- if and .headersSecret .headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom: {secretKeyRef: {name: {{ .headersSecret.name | quote }}, key: {{ .headersSecret.key | quote }}}}
{{- end }}
{{- end }}
{{- end }}
