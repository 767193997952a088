"""In-warehouse ML: the churn features as a SQL view and the churn model scored inside the database.

DuckDB is the embedded engine; the same SQL is transpiled to PostgreSQL and Snowflake, so scoring
millions of customers moves no rows out of the warehouse.
"""
