"""The tenants: each app's API keys and signing secrets."""
