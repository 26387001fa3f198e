package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// defaultServiceAccountDir is where the kubelet mounts the pod's service account token and the cluster CA.
const defaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// apiClient reads objects from the Kubernetes API as the pod's service account. Only GET requests: the charts'
// Role grants get and list, nothing else.
type apiClient struct {
	base      string // https://host:port, no trailing slash
	tokenFile string
	http      *http.Client
}

// inClusterClient builds the client the way a pod finds its API server: the service environment variables the
// kubelet sets and the mounted service account. saDir replaces the mount point when running outside a pod.
func inClusterClient(getenv func(string) string, saDir string) (*apiClient, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod?)")
	}
	caFile := filepath.Join(saDir, "ca.crt")
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	tokenFile := filepath.Join(saDir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("service account token: %w", err)
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     30 * time.Second,
	}
	return &apiClient{
		base:      "https://" + net.JoinHostPort(host, port),
		tokenFile: tokenFile,
		http:      &http.Client{Transport: transport},
	}, nil
}

// apiError is a response other than 200, with the message of the Status object the API server sends.
type apiError struct {
	code    int
	message string
}

func (e *apiError) Error() string {
	if e.message == "" {
		return fmt.Sprintf("API server answered %d %s", e.code, http.StatusText(e.code))
	}
	return fmt.Sprintf("API server answered %d: %s", e.code, e.message)
}

func isNotFound(err error) bool {
	var apiErr *apiError
	return errors.As(err, &apiErr) && apiErr.code == http.StatusNotFound
}

// get decodes the JSON object at path (with query, if any) into out.
func (c *apiClient) get(ctx context.Context, path string, query url.Values, out any) error {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// Read on every request: the kubelet rotates the projected token in place.
	token, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kubernetes-entrypoint (osop)")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var status struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &status) // a non-Status body leaves the message empty
		return &apiError{code: resp.StatusCode, message: status.Message}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decoding the answer: %w", path, err)
	}
	return nil
}
