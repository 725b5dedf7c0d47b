"""Contracts shared by the offline (Spark/TF) and online (FastAPI) sides.

Only small, dependency-light modules live here: the settings class, the artifact
bundle layout, the Redis key schema and the ranking-model feature spec. Neither
pyspark nor fastapi is imported from this package.
"""
