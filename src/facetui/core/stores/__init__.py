"""Stores: everything facetui keeps on disk, each written atomically and read without trusting it.

``kb`` (the knowledge base: JSON + npz, never pickle), ``cache`` (SQLite embedding cache keyed by file hash and
model settings), ``report`` (the CSV report, one row per face), ``reviewlog`` (the review decisions journal),
``manifest`` (what a run was asked to do and how far it got, for resume) and ``scan`` (listing photos in a
folder). These use models' data types but never run a model.
"""
