"""Comparing embeddings: ``matcher`` ranks the KB's people for a face or body (distance for faces, cosine
similarity for bodies), ``linkage`` groups unknown faces that look like one person (review's clusters), and
``neighbours`` finds each face's nearest ones for large sets (faiss)."""
