package main

import (
	"reflect"
	"strings"
	"testing"
)

func names(deps []dependency) []string {
	out := []string{}
	for _, d := range deps {
		out = append(out, d.String())
	}
	return out
}

// What helm-toolkit's snippet renders for a keystone API pod, and the other forms of the contract.
func TestParseEnv(t *testing.T) {
	s, err := parseEnv(getenvOf(map[string]string{
		"NAMESPACE":            "openstack",
		"POD_NAME":             "keystone-api-0",
		"INTERFACE_NAME":       "eth0",
		"DEPENDENCY_SERVICE":   "openstack:memcached, infra:mariadb",
		"DEPENDENCY_JOBS":      "keystone-db-sync,keystone-credential-setup",
		"DEPENDENCY_DAEMONSET": "ovs",
		"DEPENDENCY_CONTAINER": "",
		"DEPENDENCY_POD_JSON":  `[{"labels": {"application": "mariadb"}, "requireSameNode": true}]`,
		"DEPENDENCY_CUSTOM_RESOURCE": `[{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		  "namespace": "default", "name": "wf-example", "fields": [{"key": "status.phase", "value": "Succeeded"}]}]`,
		"DEPENDENCY_SOCKET": "/run/openvswitch/db.sock",
		"COMMAND":           "  keystone-manage   db_sync ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Service openstack/memcached", "Service infra/mariadb",
		"Job openstack/keystone-db-sync", "Job openstack/keystone-credential-setup",
		"DaemonSet openstack/ovs",
		"Pod in openstack with labels application=mariadb on this node",
		"Workflow default/wf-example (argoproj.io/v1alpha1)",
		"Socket /run/openvswitch/db.sock",
	}
	if got := names(s.deps); !reflect.DeepEqual(got, want) {
		t.Fatalf("dependencies\n got %q\nwant %q", got, want)
	}
	if !s.needsAPI || !reflect.DeepEqual(s.command, []string{"keystone-manage", "db_sync"}) {
		t.Fatalf("needsAPI %v, command %q", s.needsAPI, s.command)
	}
}

func TestParseEnvDefaults(t *testing.T) {
	// Nothing to wait for: no API needed (the pod may even lack a service account).
	s, err := parseEnv(getenvOf(map[string]string{"DEPENDENCY_SERVICE": "", "DEPENDENCY_POD_JSON": ""}))
	if err != nil || len(s.deps) != 0 || s.needsAPI || len(s.command) != 0 {
		t.Fatalf("empty environment: %+v, %v", s, err)
	}
	// Unqualified names without NAMESPACE land in "default", as upstream's.
	s, err = parseEnv(getenvOf(map[string]string{"DEPENDENCY_SERVICE": "db"}))
	if err != nil || names(s.deps)[0] != "Service default/db" {
		t.Fatalf("%v, %v", names(s.deps), err)
	}
	// Only sockets: no API.
	s, err = parseEnv(getenvOf(map[string]string{"DEPENDENCY_SOCKET": "/a,/b"}))
	if err != nil || len(s.deps) != 2 || s.needsAPI {
		t.Fatalf("sockets: %+v, %v", s, err)
	}
}

func TestJobsJSON(t *testing.T) {
	s, err := parseEnv(getenvOf(map[string]string{
		"NAMESPACE":            "openstack",
		"DEPENDENCY_JOBS":      "ignored-job",
		"DEPENDENCY_JOBS_JSON": `[{"namespace": "foo", "name": "nova-init"}, {"labels": {"initializes": "neutron"}}]`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Job foo/nova-init", "Jobs in openstack with labels initializes=neutron"}
	if got := names(s.deps); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(s.warnings) != 1 || !strings.Contains(s.warnings[0], "DEPENDENCY_JOBS is ignored") {
		t.Fatalf("warnings %q", s.warnings)
	}
}

// Every malformed value is refused with the variable's name in the message.
func TestMalformedEnv(t *testing.T) {
	cases := []struct {
		env      map[string]string
		variable string
	}{
		{map[string]string{"DEPENDENCY_SERVICE": "a:b:c"}, "DEPENDENCY_SERVICE"},
		{map[string]string{"DEPENDENCY_SERVICE": ":mariadb"}, "DEPENDENCY_SERVICE"},
		{map[string]string{"DEPENDENCY_SERVICE": "openstack:"}, "DEPENDENCY_SERVICE"},
		{map[string]string{"DEPENDENCY_SERVICE": "a,,b"}, "DEPENDENCY_SERVICE"},
		{map[string]string{"DEPENDENCY_SERVICE": "Maria DB"}, "DEPENDENCY_SERVICE"},
		{map[string]string{"DEPENDENCY_JOBS": "db-sync,"}, "DEPENDENCY_JOBS"},
		{map[string]string{"DEPENDENCY_JOBS_JSON": `{"name": "x"}`}, "DEPENDENCY_JOBS_JSON"},
		{map[string]string{"DEPENDENCY_JOBS_JSON": `[{"name": "x", "labels": {"a": "b"}}]`}, "DEPENDENCY_JOBS_JSON"},
		{map[string]string{"DEPENDENCY_JOBS_JSON": `[{}]`}, "DEPENDENCY_JOBS_JSON"},
		{map[string]string{"DEPENDENCY_JOBS_JSON": `[{"name": "x"}] trailing`}, "DEPENDENCY_JOBS_JSON"},
		{map[string]string{"DEPENDENCY_DAEMONSET": "ovs"}, "DEPENDENCY_DAEMONSET needs POD_NAME"},
		{map[string]string{"DEPENDENCY_CONTAINER": "ns:c", "POD_NAME": "p"}, "DEPENDENCY_CONTAINER"},
		{map[string]string{"DEPENDENCY_CONTAINER": "c"}, "DEPENDENCY_CONTAINER needs POD_NAME"},
		{map[string]string{"DEPENDENCY_POD_JSON": `[{"labels": {}}]`}, "DEPENDENCY_POD_JSON"},
		{map[string]string{"DEPENDENCY_POD_JSON": `[{"labels": {"a": 1}}]`}, "DEPENDENCY_POD_JSON"},
		{map[string]string{"DEPENDENCY_POD_JSON": `[{"labels": {"a,b": "c"}}]`}, "DEPENDENCY_POD_JSON"},
		{map[string]string{"DEPENDENCY_POD_JSON": `[{"labels": {"a": "b"}, "requireSameNode": true}]`},
			"DEPENDENCY_POD_JSON with requireSameNode needs POD_NAME"},
		{map[string]string{"DEPENDENCY_CUSTOM_RESOURCE": `[{"apiVersion": "v1", "kind": "K", "name": "n"}]`},
			"DEPENDENCY_CUSTOM_RESOURCE"},
		{map[string]string{"DEPENDENCY_CUSTOM_RESOURCE": `[{"apiVersion": "g/v1", "name": "n"}]`},
			"DEPENDENCY_CUSTOM_RESOURCE"},
		{map[string]string{"DEPENDENCY_CUSTOM_RESOURCE": `[{"apiVersion": "g/v1", "kind": "K", "name": "n",
		   "fields": [{"key": "status..phase", "value": "x"}]}]`}, "DEPENDENCY_CUSTOM_RESOURCE"},
		{map[string]string{"DEPENDENCY_CUSTOM_RESOURCE": `[{"apiVersion": "g/v1", "kind": "K", "name": "n",
		   "conditions": [{"status": "True"}]}]`}, "DEPENDENCY_CUSTOM_RESOURCE"},
		{map[string]string{"DEPENDENCY_SOCKET": "relative.sock"}, "DEPENDENCY_SOCKET"},
		{map[string]string{"DEPENDENCY_CONFIG": "/etc/nova/nova.conf"}, "DEPENDENCY_CONFIG"},
		{map[string]string{"NAMESPACE": "Not_A_Namespace"}, "NAMESPACE"},
	}
	for _, c := range cases {
		_, err := parseEnv(getenvOf(c.env))
		if err == nil || !strings.HasPrefix(err.Error(), c.variable) {
			t.Errorf("%v: error %v, want one starting with %q", c.env, err, c.variable)
		}
	}
}
