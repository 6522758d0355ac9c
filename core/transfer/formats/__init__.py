"""Backup formats: the manifest, the built-in PostgreSQL copy format, the MariaDB tab-separated format."""
