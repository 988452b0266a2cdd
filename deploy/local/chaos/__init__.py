"""The chaos test of a local Baton cluster (deploy/local/chaos_load.py is its entry point)."""
