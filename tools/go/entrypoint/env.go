package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// The environment contract of kubernetes-entrypoint, as helm-toolkit's init container snippet fills it:
//
//	DEPENDENCY_SERVICE, DEPENDENCY_JOBS, DEPENDENCY_DAEMONSET   comma-separated [namespace:]name
//	DEPENDENCY_CONTAINER                                       comma-separated container names of this pod
//	DEPENDENCY_JOBS_JSON    [{"namespace": "ns", "name": "n"} or {"labels": {...}}], replaces DEPENDENCY_JOBS
//	DEPENDENCY_POD_JSON     [{"namespace": "ns", "labels": {...}, "requireSameNode": true}]
//	DEPENDENCY_CUSTOM_RESOURCE  [{"apiVersion": "g/v", "kind": "K", "namespace": "ns", "name": "n",
//	                          "resource": "plural", "fields": [{"key": "a.b", "value": "v"}],
//	                          "conditions": [{"type": "Ready", "status": "True"}]}]
//	DEPENDENCY_SOCKET       comma-separated paths
//	NAMESPACE, POD_NAME     this pod (downward API); NAMESPACE defaults to "default" for unqualified names
//	COMMAND                 run once everything is met, split on whitespace; none: exit 0 (an init container)
//
// INTERFACE_NAME only served DEPENDENCY_CONFIG's templating, which the charts never use and this does not do.

// settings is everything the environment asks for.
type settings struct {
	deps     []dependency
	needsAPI bool
	command  []string
	warnings []string
}

// Kubernetes object names and namespaces: lower-case DNS subdomains (a dot is allowed in names).
var objectName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

type namedRef struct{ namespace, name string }

// parseNames reads a [namespace:]name list. Empty means none; an empty item, an empty part or a second colon is
// an error naming the variable.
func parseNames(variable, value, defaultNamespace string, allowNamespace bool) ([]namedRef, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var refs []namedRef
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		ref := namedRef{namespace: defaultNamespace, name: item}
		if ns, name, qualified := strings.Cut(item, ":"); qualified {
			if !allowNamespace {
				return nil, fmt.Errorf("%s: %q: takes names of this pod's containers, no namespace", variable, item)
			}
			ref = namedRef{namespace: ns, name: name}
		}
		if !objectName.MatchString(ref.namespace) || !objectName.MatchString(ref.name) {
			return nil, fmt.Errorf("%s: %q is not a [namespace:]name (comma-separated list, lower-case names)",
				variable, item)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// parseJSONList decodes a JSON list of objects into out; empty means none.
func parseJSONList(variable, value string, out any) (bool, error) {
	if strings.TrimSpace(value) == "" {
		return false, nil
	}
	decoder := json.NewDecoder(bytes.NewReader([]byte(value)))
	if err := decoder.Decode(out); err != nil {
		return false, fmt.Errorf("%s: not a JSON list of objects: %v", variable, err)
	}
	if decoder.More() {
		return false, fmt.Errorf("%s: text after the JSON list", variable)
	}
	return true, nil
}

func checkLabels(variable string, index int, labels map[string]string) error {
	if len(labels) == 0 {
		return fmt.Errorf("%s: item %d: needs labels (an empty selector would match every pod)", variable, index)
	}
	for k, v := range labels {
		if k == "" || strings.ContainsAny(k+v, ",=!() ") {
			return fmt.Errorf("%s: item %d: label %q=%q is not a plain key and value", variable, index, k, v)
		}
	}
	return nil
}

func namespaceOr(ns, fallback string) string {
	if ns == "" {
		return fallback
	}
	return ns
}

// parseEnv turns the environment into the dependencies to wait for.
func parseEnv(getenv func(string) string) (*settings, error) {
	s := &settings{command: strings.Fields(getenv("COMMAND"))}
	namespace := namespaceOr(getenv("NAMESPACE"), "default")
	if !objectName.MatchString(namespace) {
		return nil, fmt.Errorf("NAMESPACE: %q is not a namespace name", namespace)
	}
	me := &self{namespace: namespace, name: getenv("POD_NAME")}
	needSelf := func(variable string) error {
		if me.name == "" {
			return fmt.Errorf("%s needs POD_NAME (the downward API's metadata.name) to find this pod", variable)
		}
		return nil
	}
	add := func(d dependency, api bool) {
		s.deps = append(s.deps, d)
		s.needsAPI = s.needsAPI || api
	}

	services, err := parseNames("DEPENDENCY_SERVICE", getenv("DEPENDENCY_SERVICE"), namespace, true)
	if err != nil {
		return nil, err
	}
	for _, r := range services {
		add(serviceDependency{namespace: r.namespace, name: r.name}, true)
	}

	if err := parseJobs(getenv, namespace, s, add); err != nil {
		return nil, err
	}

	daemonsets, err := parseNames("DEPENDENCY_DAEMONSET", getenv("DEPENDENCY_DAEMONSET"), namespace, true)
	if err != nil {
		return nil, err
	}
	if len(daemonsets) > 0 {
		if err := needSelf("DEPENDENCY_DAEMONSET"); err != nil {
			return nil, err
		}
	}
	for _, r := range daemonsets {
		add(daemonSetDependency{namespace: r.namespace, name: r.name, self: me}, true)
	}

	containers, err := parseNames("DEPENDENCY_CONTAINER", getenv("DEPENDENCY_CONTAINER"), namespace, false)
	if err != nil {
		return nil, err
	}
	if len(containers) > 0 {
		if err := needSelf("DEPENDENCY_CONTAINER"); err != nil {
			return nil, err
		}
	}
	for _, r := range containers {
		add(containerDependency{name: r.name, self: me}, true)
	}

	var pods []struct {
		Namespace       string            `json:"namespace"`
		Labels          map[string]string `json:"labels"`
		RequireSameNode bool              `json:"requireSameNode"`
	}
	if _, err := parseJSONList("DEPENDENCY_POD_JSON", getenv("DEPENDENCY_POD_JSON"), &pods); err != nil {
		return nil, err
	}
	for i, p := range pods {
		if err := checkLabels("DEPENDENCY_POD_JSON", i, p.Labels); err != nil {
			return nil, err
		}
		ns := namespaceOr(p.Namespace, namespace)
		if !objectName.MatchString(ns) {
			return nil, fmt.Errorf("DEPENDENCY_POD_JSON: item %d: %q is not a namespace name", i, ns)
		}
		if p.RequireSameNode {
			if err := needSelf("DEPENDENCY_POD_JSON with requireSameNode"); err != nil {
				return nil, err
			}
		}
		add(podDependency{namespace: ns, labels: p.Labels, requireSameNode: p.RequireSameNode, self: me}, true)
	}

	if err := parseCustomResources(getenv("DEPENDENCY_CUSTOM_RESOURCE"), namespace, add); err != nil {
		return nil, err
	}

	if value := strings.TrimSpace(getenv("DEPENDENCY_SOCKET")); value != "" {
		for _, path := range strings.Split(value, ",") {
			path = strings.TrimSpace(path)
			if !filepath.IsAbs(path) {
				return nil, fmt.Errorf("DEPENDENCY_SOCKET: %q is not an absolute path", path)
			}
			add(socketDependency{path: path}, false)
		}
	}

	if strings.TrimSpace(getenv("DEPENDENCY_CONFIG")) != "" {
		// Refused rather than ignored: a pod relying on it would start with untemplated files.
		return nil, fmt.Errorf("DEPENDENCY_CONFIG (config file templating) is not supported by this kubernetes-entrypoint")
	}
	return s, nil
}

func parseJobs(getenv func(string) string, namespace string, s *settings, add func(dependency, bool)) error {
	plain, withJSON := getenv("DEPENDENCY_JOBS"), getenv("DEPENDENCY_JOBS_JSON")
	if strings.TrimSpace(withJSON) == "" {
		refs, err := parseNames("DEPENDENCY_JOBS", plain, namespace, true)
		if err != nil {
			return err
		}
		for _, r := range refs {
			add(jobDependency{namespace: r.namespace, name: r.name}, true)
		}
		return nil
	}
	if strings.TrimSpace(plain) != "" {
		s.warnings = append(s.warnings, "DEPENDENCY_JOBS is ignored: DEPENDENCY_JOBS_JSON is set and replaces it")
	}
	var jobs []struct {
		Namespace string            `json:"namespace"`
		Name      string            `json:"name"`
		Labels    map[string]string `json:"labels"`
	}
	if _, err := parseJSONList("DEPENDENCY_JOBS_JSON", withJSON, &jobs); err != nil {
		return err
	}
	for i, j := range jobs {
		ns := namespaceOr(j.Namespace, namespace)
		if !objectName.MatchString(ns) {
			return fmt.Errorf("DEPENDENCY_JOBS_JSON: item %d: %q is not a namespace name", i, ns)
		}
		switch {
		case j.Name != "" && j.Labels != nil:
			return fmt.Errorf("DEPENDENCY_JOBS_JSON: item %d: give a name or labels, not both", i)
		case j.Name != "":
			if !objectName.MatchString(j.Name) {
				return fmt.Errorf("DEPENDENCY_JOBS_JSON: item %d: %q is not a job name", i, j.Name)
			}
			add(jobDependency{namespace: ns, name: j.Name}, true)
		default:
			if err := checkLabels("DEPENDENCY_JOBS_JSON", i, j.Labels); err != nil {
				return err
			}
			add(jobDependency{namespace: ns, labels: j.Labels}, true)
		}
	}
	return nil
}

func parseCustomResources(value, namespace string, add func(dependency, bool)) error {
	const variable = "DEPENDENCY_CUSTOM_RESOURCE"
	var items []struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Namespace  string           `json:"namespace"`
		Name       string           `json:"name"`
		Resource   string           `json:"resource"`
		Fields     []fieldMatch     `json:"fields"`
		Conditions []conditionMatch `json:"conditions"`
	}
	if _, err := parseJSONList(variable, value, &items); err != nil {
		return err
	}
	for i, it := range items {
		group, version, ok := strings.Cut(it.APIVersion, "/")
		if !ok || group == "" || version == "" || strings.Contains(version, "/") {
			return fmt.Errorf("%s: item %d: apiVersion %q is not group/version", variable, i, it.APIVersion)
		}
		if it.Kind == "" || !objectName.MatchString(it.Name) {
			return fmt.Errorf("%s: item %d: needs a kind and a name", variable, i)
		}
		ns := namespaceOr(it.Namespace, namespace)
		if !objectName.MatchString(ns) {
			return fmt.Errorf("%s: item %d: %q is not a namespace name", variable, i, ns)
		}
		for _, f := range it.Fields {
			if f.Key == "" || strings.Contains("."+f.Key+".", "..") {
				return fmt.Errorf("%s: item %d: field key %q is not a dotted path", variable, i, f.Key)
			}
		}
		for _, c := range it.Conditions {
			if c.Type == "" {
				return fmt.Errorf("%s: item %d: a condition needs a type", variable, i)
			}
		}
		add(&customResourceDependency{
			group: group, version: version, kind: it.Kind, namespace: ns, name: it.Name,
			fields: it.Fields, conditions: it.Conditions,
			// A resource named here skips discovery; it is namespaced, as every dependency the charts name is.
			resource: it.Resource, namespaced: it.Resource != "",
		}, true)
	}
	return nil
}
