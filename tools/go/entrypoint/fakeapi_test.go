package main

import (
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const fakeToken = "fake-token-value"

// fakeAPI is a TLS API server answering GETs from a table: the key is the path, plus
// "?labelSelector=<selector>" for a list with a selector. Anything else is a 404 Status, as the real one answers.
type fakeAPI struct {
	t      *testing.T
	server *httptest.Server
	saDir  string

	mu       sync.Mutex
	answers  map[string]fakeAnswer
	requests []string
}

type fakeAnswer struct {
	code int
	body any
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, answers: map[string]fakeAnswer{}, saDir: t.TempDir()}
	f.server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.server.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(f.saDir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.saDir, "token"), []byte(fakeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeAPI) key(r *http.Request) string {
	if selector := r.URL.Query().Get("labelSelector"); selector != "" {
		return r.URL.Path + "?labelSelector=" + selector
	}
	return r.URL.Path
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	key := f.key(r)
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+key)
	answer, found := f.answers[key]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	status := func(code int, message string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": code, "message": message})
	}
	switch {
	case r.Method != http.MethodGet:
		f.t.Errorf("the entrypoint sent %s %s: only GET is allowed by the charts' Role", r.Method, key)
		status(http.StatusMethodNotAllowed, "only GET")
	case r.Header.Get("Authorization") != "Bearer "+fakeToken:
		status(http.StatusUnauthorized, "Unauthorized")
	case !found:
		status(http.StatusNotFound, key+" not found")
	case answer.code != 0 && answer.code != http.StatusOK:
		status(answer.code, answer.body.(string))
	default:
		_ = json.NewEncoder(w).Encode(answer.body)
	}
}

// set answers the key with a JSON document (a map, or a string holding JSON).
func (f *fakeAPI) set(key string, body any) {
	if text, ok := body.(string); ok {
		var decoded any
		if err := json.Unmarshal([]byte(text), &decoded); err != nil {
			f.t.Fatalf("bad fake answer for %s: %v", key, err)
		}
		body = decoded
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[key] = fakeAnswer{body: body}
}

func (f *fakeAPI) fail(key string, code int, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[key] = fakeAnswer{code: code, body: message}
}

func (f *fakeAPI) requested(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r == "GET "+key {
			return true
		}
	}
	return false
}

// waitRequested blocks until the key was asked for (a subprocess polling it).
func (f *fakeAPI) waitRequested(key string, within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for !f.requested(key) {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s was never requested; requests: %v", key, f.requests)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// env is what a pod would see: the service variables and (here) where its service account is.
func (f *fakeAPI) env() map[string]string {
	u, err := url.Parse(f.server.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		f.t.Fatal(err)
	}
	return map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
		"ENTRYPOINT_SERVICEACCOUNT_DIR": f.saDir}
}

func (f *fakeAPI) client() *apiClient {
	f.t.Helper()
	env := f.env()
	c, err := inClusterClient(func(k string) string { return env[k] }, f.saDir)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// getenvOf turns a map into a getenv function.
func getenvOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func joinEnv(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// podJSON is a pod on a node, ready or not, optionally controlled by an owner uid.
func podJSON(name, node string, ready bool, owner string) map[string]any {
	status := "False"
	if ready {
		status = "True"
	}
	meta := map[string]any{"name": name}
	if owner != "" {
		meta["ownerReferences"] = []any{map[string]any{"uid": owner, "controller": true}}
	}
	return map[string]any{
		"metadata": meta,
		"spec":     map[string]any{"nodeName": node},
		"status": map[string]any{"phase": "Running",
			"conditions": []any{map[string]any{"type": "Ready", "status": status}}},
	}
}

func list(items ...map[string]any) map[string]any {
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{"items": items}
}

func mustContain(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}
