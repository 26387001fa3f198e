{{- define "osop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name; cluster-scoped objects add the release namespace (two installs apart). */}}
{{- define "osop.fullname" -}}
{{- if contains (include "osop.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "osop.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "osop.clusterName" -}}
{{- printf "%s:%s" .Release.Namespace (include "osop.fullname" .) -}}
{{- end -}}

{{- define "osop.labels" -}}
app.kubernetes.io/name: {{ include "osop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "osop.selector" -}}
app.kubernetes.io/name: {{ include "osop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "osop.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- /* files/cluster-objects.yaml for the deployment namespaces, as JSON: "roles" (ClusterRole name -> its rules)
and "bindings" (ClusterRoleBinding name -> the ClusterRole it binds), `{namespace}` replaced by each namespace. */}}
{{- define "osop.clusterObjects" -}}
{{- $roles := dict }}
{{- $bindings := dict }}
{{- range $role, $grant := .Files.Get "files/cluster-objects.yaml" | fromYaml }}
{{- range $namespace := $.Values.namespaces }}
{{- $name := replace "{namespace}" $namespace $role }}
{{- $_ := set $roles $name $grant.rules }}
{{- $_ := set $bindings (replace "{namespace}" $namespace $grant.binding) $name }}
{{- end }}
{{- end }}
{{- dict "roles" $roles "bindings" $bindings | toJson }}
{{- end }}
