"""The osdpl's conditions and summary fields, computed from what the processes observed."""
