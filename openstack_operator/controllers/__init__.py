"""One thin module per operator process: Kopf handlers that feed a work queue; decisions live in core."""
