{{/* Names and labels. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.secretName" -}}
{{- default (include "gatehouse.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "gatehouse.embedded" -}}
{{- if eq .Values.storage.mode "embedded" -}}true{{- end -}}
{{- end -}}

{{/* Where the pod finds its files (the config's paths point here). */}}
{{- define "gatehouse.configDir" -}}/etc/gatehouse/config{{- end -}}
{{- define "gatehouse.routesDir" -}}/etc/gatehouse/routes{{- end -}}
{{- define "gatehouse.policiesDir" -}}/etc/gatehouse/policies{{- end -}}
{{- define "gatehouse.dataDir" -}}/var/lib/gatehouse{{- end -}}

{{/* The storage block of the config file. */}}
{{- define "gatehouse.storage" -}}
{{- if include "gatehouse.embedded" . -}}
{{- dict "store" (dict "kind" "embedded") "cache" (dict "kind" "memory") "bus" (dict "kind" "memory") | toYaml -}}
{{- else -}}
{{- .Values.storage.distributed | toYaml -}}
{{- end -}}
{{- end -}}

{{/*
The Gatehouse config file: .Values.config plus the keys the chart owns. URLs and the KEK are
not in it: the Deployment passes them from the Secret as GATEHOUSE_* variables, which the
loader merges in before validating.
*/}}
{{- define "gatehouse.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $server := get $cfg "server" | default dict -}}
{{- $_ := set $server "host" "0.0.0.0" -}}
{{- $_ = set $server "port" (int .Values.ports.http) -}}
{{- $_ = set $cfg "server" $server -}}
{{- $keys := get $cfg "keys" | default dict -}}
{{- $_ = set $keys "kek" (dict "source" "env" "env" "GATEHOUSE_KEK") -}}
{{- $_ = set $cfg "keys" $keys -}}
{{- $_ = set $cfg "storage" (include "gatehouse.storage" . | fromYaml) -}}
{{- if include "gatehouse.embedded" . -}}
{{- $_ = set $cfg "data_dir" (include "gatehouse.dataDir" .) -}}
{{- end -}}
{{- if .Values.gateway.enabled -}}
{{- $gateway := get $cfg "gateway" | default dict -}}
{{- $_ = set $gateway "port" (int .Values.ports.gateway) -}}
{{- $_ = set $gateway "routes_file" (printf "%s/routes.yaml" (include "gatehouse.routesDir" .)) -}}
{{- $_ = set $cfg "gateway" $gateway -}}
{{- end -}}
{{- if .Values.policies -}}
{{- $policy := get $cfg "policy" | default dict -}}
{{- $_ = set $policy "dir" (include "gatehouse.policiesDir" .) -}}
{{- $_ = set $cfg "policy" $policy -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Refuses values that cannot work, with what to set instead. */}}
{{- define "gatehouse.validate" -}}
{{- $cfg := .Values.config | default dict -}}
{{- if not (get $cfg "issuer") -}}
{{- fail "config.issuer is required: the public https origin of Gatehouse, e.g. https://auth.example.com" -}}
{{- end -}}
{{- range $key := list "storage" "data_dir" -}}
{{- if hasKey $cfg $key -}}
{{- fail (printf "config.%s is set by the chart: use storage.mode and storage.distributed" $key) -}}
{{- end -}}
{{- end -}}
{{- $server := get $cfg "server" | default dict -}}
{{- if or (hasKey $server "host") (hasKey $server "port") -}}
{{- fail "config.server.host and config.server.port are set by the chart: use ports.http" -}}
{{- end -}}
{{- $gateway := get $cfg "gateway" | default dict -}}
{{- range $key := list "host" "port" "routes" "routes_file" -}}
{{- if hasKey $gateway $key -}}
{{- fail (printf "config.gateway.%s is set by the chart: use ports.gateway and gateway.routes" $key) -}}
{{- end -}}
{{- end -}}
{{- if hasKey (get $cfg "keys" | default dict) "kek" -}}
{{- fail "config.keys.kek is set by the chart (GATEHOUSE_KEK from the Secret): use secrets" -}}
{{- end -}}
{{- if and .Values.policies (hasKey (get $cfg "policy" | default dict) "dir") -}}
{{- fail "config.policy.dir is set by the chart when policies are given" -}}
{{- end -}}
{{- if not (has .Values.storage.mode (list "distributed" "embedded")) -}}
{{- fail "storage.mode must be distributed or embedded" -}}
{{- end -}}
{{- if include "gatehouse.embedded" . -}}
{{- if ne (int .Values.replicaCount) 1 -}}
{{- fail "storage.mode embedded is single-instance (SQLite, in-process cache and bus): set replicaCount 1, or use distributed" -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "storage.mode embedded is single-instance: autoscaling.enabled must be false" -}}
{{- end -}}
{{- else -}}
{{- $d := .Values.storage.distributed -}}
{{- if ne (dig "store" "kind" "" $d) "postgres" -}}
{{- fail "storage.mode distributed needs storage.distributed.store.kind postgres (shared durable state)" -}}
{{- end -}}
{{- if ne (dig "cache" "kind" "" $d) "redis" -}}
{{- fail "storage.mode distributed needs storage.distributed.cache.kind redis (shared revocations, rate limits, sessions)" -}}
{{- end -}}
{{- if not (has (dig "bus" "kind" "" $d) (list "nats" "redis")) -}}
{{- fail "storage.mode distributed needs storage.distributed.bus.kind nats or redis (events reach every pod)" -}}
{{- end -}}
{{- if or (hasKey $d.store "url") (hasKey $d.cache "url") (hasKey $d.bus "url") -}}
{{- fail "storage URLs come from the Secret (secrets.keys.databaseUrl, secrets.keys.redisUrl), not from storage.distributed" -}}
{{- end -}}
{{- if and (eq $d.bus.kind "redis") (hasKey $d.bus "servers") -}}
{{- fail "a Redis bus takes no servers: set storage.distributed.bus.servers to null" -}}
{{- end -}}
{{- end -}}
{{- $grace := dig "server" "shutdown_grace_seconds" 10 $cfg | int -}}
{{- $needed := add (int .Values.preStopSleepSeconds) $grace 5 -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds must be at least preStopSleepSeconds + config.server.shutdown_grace_seconds + 5 = %d" (int $needed)) -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- if not .Values.secrets.kek -}}
{{- fail "set secrets.existingSecret (recommended) or secrets.kek (openssl rand -hex 32)" -}}
{{- end -}}
{{- if and (not (include "gatehouse.embedded" .)) (not .Values.secrets.databaseUrl) -}}
{{- fail "set secrets.existingSecret or secrets.databaseUrl (postgres://…)" -}}
{{- end -}}
{{- if and (not (include "gatehouse.embedded" .)) (not .Values.secrets.redisUrl) -}}
{{- fail "set secrets.existingSecret or secrets.redisUrl (redis://…)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
