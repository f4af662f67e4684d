"""Frontends: other frameworks enter by becoming a torch module proved equal on the input."""
