"""The source of a file format for tests that kill or interrupt a process in the middle of a save
(pasted into the flow scripts they start): it writes half the bytes and, when the script was
asked to hang, tells the test by creating a marker file, then waits to be stopped."""

from __future__ import annotations

import textwrap


def slow_format_source(ext: str, hang_if: str, marker: str) -> str:
    """``ext``: the format's name and extension; ``hang_if``, ``marker``: Python expressions of
    the script (when to hang, the marker file's path). The script imports os, sys, time,
    ``Format`` and ``register``."""
    return textwrap.dedent(
        f"""
        @register
        class SlowFormat(Format):
            name = ext = {ext!r}

            def save(self, obj, path, **kwargs):
                with open(path, "wb") as f:
                    f.write(obj[: len(obj) // 2])
                    f.flush()
                    if {hang_if}:
                        open({marker}, "w").close()
                        time.sleep(60)
                    f.write(obj[len(obj) // 2 :])

            def load(self, path, **kwargs):
                with open(path, "rb") as f:
                    return f.read()
        """
    )
