"""CKAN extension for the project's local portal (checked on CKAN 2.12.0 only)."""
