"""Collections, faces, users and their vector index."""
