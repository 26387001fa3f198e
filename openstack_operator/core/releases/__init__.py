"""Releases: the HelmBundle a service becomes and the decisions about its Helm steps."""
