"""The resource's schema: the CRDs and admission policy built from the catalog, their offline validation, and loading a manifest."""
