"""Credentials, their rotation, the Ceph exchange, the public certificate check and redaction of secrets."""
