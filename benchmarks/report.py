"""Plain-text, markdown-ish tables: the report is pasted as-is into an issue note."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Cell = str | float | int | None


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # For the summary of targets: the column holding the figure a target is judged on, and how
    # many leading columns say what a row measures.
    figure_column: str = ""
    key_columns: int = 3

    def add(self, cells: dict[str, Cell]) -> None:
        """Append a row given by header name; columns not named stay empty."""
        unknown = set(cells) - set(self.headers)
        if unknown:
            raise KeyError(f"no such column(s) {sorted(unknown)} in {self.headers}")
        self.rows.append([cells.get(h, "") for h in self.headers])

    def render(self) -> str:
        return render_section(self)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "n/a"
    ratio = numerator / denominator
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def fmt_us(seconds: float | None, n: int) -> str:
    return "n/a" if seconds is None else f"{seconds / n * 1e6:,.0f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def _cell(value: Cell) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return fmt_seconds(value)
    if isinstance(value, int):
        return f"{value:,}"
    return value


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(r) for r in cells)])


def target_summary(sections: Sequence[Section]) -> Section:
    """One row per PASS/MISS found in the other sections: the first lines of an issue note."""
    summary = Section(
        title="Targets at a glance",
        headers=["section", "what", "ours", "target", "result"],
    )
    for section in sections:
        if "result" not in section.headers or not section.figure_column:
            continue
        result_at = section.headers.index("result")
        figure_at = section.headers.index(section.figure_column)
        target_at = section.headers.index("target")
        for row in section.rows:
            if row[result_at] not in ("PASS", "MISS"):
                continue
            what = " ".join(_cell(c) for c in row[: section.key_columns] if _cell(c))
            # Without key columns the section's own name says it ("3. import d6tflow (…)").
            what = what or section.title.split(" (")[0].split(". ", 1)[-1]
            summary.add(
                {
                    "section": section.title.split(" ")[0].rstrip("."),
                    "what": what,
                    "ours": row[figure_at],
                    "target": row[target_at],
                    "result": row[result_at],
                }
            )
    if not summary.rows:
        summary.notes.append("no target was measured in this run (targets are stated for N=10,000)")
    return summary


def render_section(section: Section) -> str:
    parts = [f"## {section.title}", ""]
    if section.rows:
        parts.append(render_table(section.headers, section.rows))
    if section.notes:
        parts.append("")
        parts.extend(f"- {note}" for note in section.notes)
    return "\n".join(parts)
