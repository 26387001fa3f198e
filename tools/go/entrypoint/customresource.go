package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// customResourceDependency is met when the object exists, every field has its value and every condition its
// status. The resource (plural) comes from discovery unless given: the charts' Role grants get on the plural,
// discovery is open to every authenticated user.
type customResourceDependency struct {
	group, version, kind string
	namespace, name      string
	fields               []fieldMatch
	conditions           []conditionMatch

	mu         sync.Mutex
	resource   string // plural, from the dependency or found once by discovery
	namespaced bool
}

type fieldMatch struct {
	Key   string `json:"key"`   // dotted path, e.g. status.phase
	Value string `json:"value"` // compared with the field's value written as text
}

type conditionMatch struct {
	Type   string `json:"type"`
	Status string `json:"status"` // "True" when left out
}

func (d *customResourceDependency) String() string {
	return fmt.Sprintf("%s %s/%s (%s/%s)", d.kind, d.namespace, d.name, d.group, d.version)
}

// resolveResource finds the kind's plural and scope in the group version's discovery document.
func (d *customResourceDependency) resolveResource(ctx context.Context, api *apiClient) (string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resource != "" {
		return d.resource, d.namespaced, nil
	}
	var list apiResourceList
	path := fmt.Sprintf("/apis/%s/%s", url.PathEscape(d.group), url.PathEscape(d.version))
	if err := api.get(ctx, path, nil, &list); err != nil {
		if isNotFound(err) {
			return "", false, fmt.Errorf("the API server does not serve %s/%s (CRD not installed yet?)", d.group, d.version)
		}
		return "", false, err
	}
	for _, r := range list.Resources {
		if r.Kind == d.kind && !strings.Contains(r.Name, "/") { // not a subresource such as foos/status
			d.resource, d.namespaced = r.Name, r.Namespaced
			return d.resource, d.namespaced, nil
		}
	}
	return "", false, fmt.Errorf("%s/%s has no kind %s", d.group, d.version, d.kind)
}

func (d *customResourceDependency) check(ctx context.Context, api *apiClient) error {
	resource, namespaced, err := d.resolveResource(ctx, api)
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/apis/%s/%s", url.PathEscape(d.group), url.PathEscape(d.version))
	if namespaced {
		path += "/namespaces/" + url.PathEscape(d.namespace)
	}
	path += "/" + url.PathEscape(resource) + "/" + url.PathEscape(d.name)
	var object map[string]any
	if err := api.get(ctx, path, nil, &object); err != nil {
		if isNotFound(err) {
			return fmt.Errorf("it does not exist")
		}
		return err
	}
	for _, f := range d.fields {
		actual, found := lookupField(object, f.Key)
		if !found {
			return fmt.Errorf("it has no field %s", f.Key)
		}
		if text := fieldText(actual); text != f.Value {
			return fmt.Errorf("%s is %q, waiting for %q", f.Key, text, f.Value)
		}
	}
	for _, c := range d.conditions {
		want := c.Status
		if want == "" {
			want = "True"
		}
		got, found := conditionStatus(object, c.Type)
		if !found {
			return fmt.Errorf("it has no %s condition yet", c.Type)
		}
		if got != want {
			return fmt.Errorf("condition %s is %s, waiting for %s", c.Type, got, want)
		}
	}
	return nil
}

func lookupField(object map[string]any, key string) (any, bool) {
	var current any = object
	for _, part := range strings.Split(key, ".") {
		m, ok := current.(map[string]any)
		if !ok {
			return nil, false
		}
		if current, ok = m[part]; !ok {
			return nil, false
		}
	}
	return current, true
}

// fieldText: strings as they are, anything else (true, 3, an object) as its JSON, so "true" matches a boolean.
func fieldText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

func conditionStatus(object map[string]any, conditionType string) (string, bool) {
	raw, found := lookupField(object, "status.conditions")
	if !found {
		return "", false
	}
	list, ok := raw.([]any)
	if !ok {
		return "", false
	}
	for _, item := range list {
		c, ok := item.(map[string]any)
		if !ok || c["type"] != conditionType {
			continue
		}
		status, _ := c["status"].(string)
		return status, true
	}
	return "", false
}
