"""The edge's fixtures (apps with production settings over HTTP, both execution paths)."""

from tests.edge.conftest import edge, serve

__all__ = ["edge", "serve"]
