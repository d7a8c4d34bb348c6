"""The in-memory output store (``d6tflow.data``): TaskCache outputs and cached loads live here,
keyed by the path the output would have on disk."""

from __future__ import annotations

from typing import Any

data: dict[str, Any] = {}
