{{/*
The chart's templates render copies of the kustomize install's source files
(files/, written by hack/update-chart.sh) and apply the chart's values to
them, so that `helm install` and `kubectl apply -k manifests/` install the
same objects from one source (manifests/charts/mtscn/README.md).
*/}}

{{/* The image every mtscn container runs (the kustomize sources name ghcr.io/mtscn/mtscn). */}}
{{- define "mtscn.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{/* Labels on every object: kustomize's part-of, plus Helm's own. */}}
{{- define "mtscn.labels" -}}
app.kubernetes.io/part-of: mtscn
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The names of the RuntimeClasses in files/runtimeclasses, as a JSON list. */}}
{{- define "mtscn.shippedRuntimes" -}}
{{- $names := list }}
{{- range $path, $_ := .Files.Glob "files/runtimeclasses/*.yaml" }}
{{- range $doc := regexSplit "(?m)^---[ \\t]*$" ($.Files.Get $path) -1 }}
{{- $obj := fromYaml $doc }}
{{- if eq (get $obj "kind") "RuntimeClass" }}
{{- $names = append $names $obj.metadata.name }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/*
The scheduler configuration files (files/config/*.yaml, the kustomize
configMapGenerator's files) with scheduler.tenantLabelKeys applied, as a
dict from file name to text.
*/}}
{{- define "mtscn.schedulerConfigs" -}}
{{- $out := dict }}
{{- range $path, $_ := .Files.Glob "files/config/*.yaml" }}
{{- $cfg := $.Files.Get $path | fromYaml }}
{{- if hasKey $cfg "Error" }}{{ fail (printf "%s: %s" $path $cfg.Error) }}{{ end }}
{{- range $p := $cfg.profiles }}
{{- range $pc := $p.pluginConfig }}
{{- if eq $pc.name "TenantIsolation" }}
{{- $_ := set $pc.args "tenantLabelKeys" $.Values.scheduler.tenantLabelKeys }}
{{- end }}
{{- end }}
{{- end }}
{{- $_ := set $out (base $path) (toYaml $cfg) }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
mtscn.objects renders every object of the files matching .glob with the
chart's values applied. Call it as
  include "mtscn.objects" (dict "ctx" $ "glob" "files/<dir>/*.yaml")
*/}}
{{- define "mtscn.objects" -}}
{{- $ctx := .ctx }}
{{- $values := $ctx.Values }}
{{- $labels := include "mtscn.labels" $ctx | fromYaml }}
{{- $shipped := include "mtscn.shippedRuntimes" $ctx | fromJsonArray }}
{{- range $want := $values.sandboxRuntimes }}
{{- if not (has $want $shipped) }}
{{- fail (printf "sandboxRuntimes: %q is not a RuntimeClass the chart ships; choose from %s" $want (join ", " $shipped)) }}
{{- end }}
{{- end }}
{{- range $path, $_ := $ctx.Files.Glob .glob }}
{{- range $doc := regexSplit "(?m)^---[ \\t]*$" ($ctx.Files.Get $path) -1 }}
{{- $obj := fromYaml $doc }}
{{- if hasKey $obj "Error" }}{{ fail (printf "%s: %s" $path $obj.Error) }}{{ end }}
{{- $keep := hasKey $obj "kind" }}
{{- if $keep }}
{{- $meta := $obj.metadata }}
{{- $_ := set $meta "labels" (merge (get $meta "labels" | default dict) $labels) }}
{{- if has $obj.kind (list "Deployment" "DaemonSet") }}
{{- $spec := $obj.spec.template.spec }}
{{- range $c := concat (get $spec "initContainers" | default list) $spec.containers }}
{{- if or (eq $c.image "ghcr.io/mtscn/mtscn") (hasPrefix "ghcr.io/mtscn/mtscn:" $c.image) }}
{{- $_ := set $c "image" (include "mtscn.image" $ctx) }}
{{- $_ := set $c "imagePullPolicy" $values.image.pullPolicy }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $obj.kind "Deployment") (eq $meta.name "mtscn-scheduler") }}
{{- $tmeta := $obj.spec.template.metadata }}
{{- $_ := set $tmeta "annotations" (merge (get $tmeta "annotations" | default dict) (dict "checksum/config" (include "mtscn.schedulerConfigs" $ctx | sha256sum))) }}
{{- /* profile spread: the documented alternative file the ConfigMap also holds. */}}
{{- if eq $values.scheduler.profile "spread" }}
{{- range $c := $obj.spec.template.spec.containers }}
{{- $args := list }}
{{- range $a := $c.args }}
{{- $args = append $args (ternary "--config=/etc/mtscn/scheduler-config-spread.yaml" $a (eq $a "--config=/etc/mtscn/scheduler-config.yaml")) }}
{{- end }}
{{- $_ := set $c "args" $args }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $obj.kind "DaemonSet") (eq $meta.name "mtscn-node") (not $values.nfd.enabled) }}
{{- /* components/node-labels: publish to the Node's labels instead of a NodeFeature. */}}
{{- $c := first $obj.spec.template.spec.containers }}
{{- $_ := set $c "args" (append (get $c "args" | default list) "--publish=node-labels") }}
{{- end }}
{{- if and (eq $obj.kind "DaemonSet") (eq $meta.name "mtscn-node-install") }}
{{- $c := first $obj.spec.template.spec.containers }}
{{- $args := list }}
{{- range $a := $c.args }}
{{- $args = append $args (ternary (printf "--sandboxes=%s" (join "," $values.installer.sandboxes)) $a (hasPrefix "--sandboxes=" $a)) }}
{{- end }}
{{- $_ := set $c "args" $args }}
{{- end }}
{{- if and (eq $obj.kind "ValidatingAdmissionPolicy") (eq $meta.name "mtscn-namespace-labels") }}
{{- /* The tenant label keys it protects are the scheduler's. */}}
{{- $keys := list }}
{{- range $k := $values.scheduler.tenantLabelKeys }}{{ $keys = append $keys (squote $k) }}{{ end }}
{{- range $v := $obj.spec.variables }}
{{- if eq $v.name "tenantLabelKeys" }}{{ $_ := set $v "expression" (printf "[%s]" (join ", " $keys)) }}{{ end }}
{{- end }}
{{- end }}
{{- if eq $obj.kind "RuntimeClass" }}
{{- $keep = has $meta.name $values.sandboxRuntimes }}
{{- end }}
{{- if and (eq $obj.kind "ConfigMap") (eq $meta.name "mtscn-sandbox-policy") }}
{{- $allowed := list }}
{{- range $rc := splitList "," $obj.data.sandboxedRuntimeClasses }}
{{- if has (trim $rc) $values.sandboxRuntimes }}{{ $allowed = append $allowed (trim $rc) }}{{ end }}
{{- end }}
{{- $_ := set $obj.data "sandboxedRuntimeClasses" (join "," $allowed) }}
{{- end }}
{{- end }}
{{- if $keep }}
---
# Source: manifests/charts/mtscn/{{ $path }}
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
