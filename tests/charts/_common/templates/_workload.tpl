{{/*
Test charts (not OpenStack-Helm itself): every chart of tests/charts shares these templates and lists its workloads
in values.yaml under `workloads`. They read the values keys the operator renders, as OpenStack-Helm charts do:
`manifests.<manifest>` switches a workload, `pod.replicas.<replicas>` sizes it, `images.tags.<image>` picks its
image and `labels.<labels...>` (a key path) its node selector. Objects carry OpenStack-Helm's `application`/`component` labels.
*/}}

{{- define "osh-test.labels" -}}
application: {{ .root.Values.application | default .root.Chart.Name }}
component: {{ .w.component }}
release_group: {{ .root.Release.Name }}
{{- end -}}

{{- define "osh-test.podspec" -}}
{{- $selector := .root.Values.labels -}}
{{- range $key := .w.labels }}{{ $selector = index $selector $key }}{{ end -}}
nodeSelector:
  {{ $selector.node_selector_key }}: {{ $selector.node_selector_value | quote }}
{{- if eq .w.kind "Job" }}
restartPolicy: OnFailure
{{- end }}
containers:
  - name: {{ .w.component }}
    image: {{ index .root.Values.images.tags .w.image | quote }}
    command: ["sleep", "infinity"]
{{- end -}}

{{- define "osh-test.enabled" -}}
{{- if or (not .w.manifest) (index .root.Values.manifests .w.manifest) }}true{{ end -}}
{{- end -}}
