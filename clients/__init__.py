"""Clients of cloud APIs (Entra ID, Databricks, Data Factory), wrapping the official SDKs; no Pulumi here."""
