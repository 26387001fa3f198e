"""The logic of each operator process, built with a gateway to the cluster (kube.gateways) and tested with a fake one: no Kopf, no pykube here."""
