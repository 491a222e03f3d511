"""Plain HTTP routes beside GraphQL, for integrations: CSV export and import."""
