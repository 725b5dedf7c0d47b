"""Batched ranking with SavedModels (or TF Serving)."""
