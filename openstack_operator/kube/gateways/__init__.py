"""One gateway per process: the async methods its reconciler calls to read and write the cluster, each a blocking pykube call run in a worker thread (see kube.process, the threading rule)."""
