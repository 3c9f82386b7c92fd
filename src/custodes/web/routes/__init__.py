"""The API's routes under ``/api/v1``: authentication, then the vault's use cases."""
