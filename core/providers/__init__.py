"""Database servers Changeover provisions on: PostgreSQL, MariaDB/MySQL, a SQLite folder (AWS RDS later)."""
