"""Multi-channel recall: FAISS indexes, named channels and the pure merge rules."""
