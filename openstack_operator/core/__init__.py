"""The pure core: data model, values layering and rendering. No Kubernetes, Helm or network code here."""
