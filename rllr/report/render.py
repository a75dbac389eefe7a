"""`report.md` plus a self-contained `report.html` (PNGs embedded as base64 data URIs).

A `Report` is a list of blocks (Markdown text, images, code). `add_provenance` appends what
produced the numbers: model, data sizes, seeds, wall time per stage (cached or run) and the
resolved configs. The HTML comes from a small Markdown subset converter (headings, tables,
lists, code fences, paragraphs, **bold**, `code`), so no Markdown library is needed.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rllr.io import atomic_write_text
from rllr.report.tables import markdown_table


class _NoAliases(yaml.SafeDumper):
    """Write shared sub-dicts (the run block) in full instead of as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass
class Report:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("md", f"{'#' * level} {text}"))

    def text(self, markdown: str) -> None:
        self.blocks.append(("md", markdown.strip()))

    def image(self, path: str | Path | None, caption: str) -> None:
        if path is not None and Path(path).is_file():
            self.blocks.append(("img", (Path(path), caption)))

    def code(self, text: str, lang: str = "") -> None:
        self.blocks.append(("code", (text.rstrip("\n"), lang)))


def add_provenance(report: Report, *, model: str, seeds: Mapping[str, Any],
                   data_sizes: Mapping[str, Mapping[str, int]],
                   stage_times: Mapping[str, tuple[float, bool]],
                   configs: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> None:
    """Model, data sizes, seeds, wall time per stage and the resolved configs."""
    report.heading("Provenance")
    facts = {"model": model, **{f"seed ({k})": v for k, v in seeds.items()}, **(extra or {})}
    report.text("\n".join(f"- **{k}**: `{v}`" for k, v in facts.items()))
    if data_sizes:
        cols = sorted({c for v in data_sizes.values() for c in v})
        report.text("Data sizes (examples per task and split):\n\n" + markdown_table(
            ["task", *cols], [[t, *(str(v.get(c, "–")) for c in cols)] for t, v in data_sizes.items()]))
    if stage_times:
        total = sum(t for t, cached in stage_times.values() if not cached)
        rows = [[name, f"{t:.1f}", "cached" if cached else "run"]
                for name, (t, cached) in stage_times.items()]
        report.text(f"Wall time per stage (this invocation ran {total:.1f} s of stages; cached "
                    "stages show the time of the run that made them):\n\n"
                    + markdown_table(["stage", "wall s", "status"], rows, ["l", "r", "l"]))
    report.text("Resolved configs:")
    report.code(yaml.dump(dict(configs), Dumper=_NoAliases, sort_keys=False), "yaml")


def write_report(report: Report, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `report.md` (images referenced relative to it) and a self-contained `report.html`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md_parts, html_parts = [f"# {report.title}"], [f"<h1>{html.escape(report.title)}</h1>"]
    for kind, payload in report.blocks:
        if kind == "md":
            md_parts.append(payload)
            html_parts.append(markdown_to_html(payload))
        elif kind == "img":
            path, caption = payload
            rel = _relative(path, out)
            md_parts.append(f"![{caption}]({rel})\n\n*{caption}*")
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            html_parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
                              f'{data}"><figcaption>{html.escape(caption)}</figcaption></figure>')
        elif kind == "code":
            text, lang = payload
            md_parts.append(f"```{lang}\n{text}\n```")
            html_parts.append(f"<pre><code>{html.escape(text)}</code></pre>")
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, "\n\n".join(md_parts) + "\n")
    atomic_write_text(html_path, _HTML_HEAD.format(title=html.escape(report.title))
                      + "\n".join(html_parts) + "\n</body></html>\n")
    return md_path, html_path


def markdown_to_html(text: str) -> str:
    """The Markdown subset our reports use -> HTML."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j])) + "</code></pre>")
            i = j + 1
        elif m := re.match(r"^(#{1,6}) (.*)$", line):
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
        elif line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
        elif re.match(r"^\s*[-*] ", line):
            items = []
            while i < len(lines) and re.match(r"^\s*[-*] ", lines[i]):
                items.append("<li>" + _inline(re.sub(r"^\s*[-*] ", "", lines[i])) + "</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif not line.strip():
            i += 1
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not lines[j].startswith(("|", "#", "```")):
                j += 1
            out.append("<p>" + _inline(" ".join(lines[i:j])) + "</p>")
            i = max(j, i + 1)
    return "\n".join(out)


def _table(rows: list[str]) -> str:
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    header, body = cells[0], [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    rows_html = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"(?<!\*)\*([^*]+)\*(?!\*)", r"<i>\1</i>", text)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


_HTML_HEAD = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 0.75rem; overflow-x: auto; font-size: 0.8rem; }}
img {{ max-width: 100%; }}
figcaption {{ font-style: italic; color: #555; }}
</style></head><body>
"""
