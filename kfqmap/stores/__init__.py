"""Stores that layers can be read from besides files: ``postgis`` (PostgreSQL/PostGIS tables, psycopg 3)."""
