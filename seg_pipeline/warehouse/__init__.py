"""The warehouse: DuckDB access with safe identifiers, the table registry and the SQL model runner."""
