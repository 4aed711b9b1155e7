"""Execute one chapter of the book on its own, as the book build would, and fail on error.

Usage: ``python book/_tools/run_chapter.py SLUG [--timeout SECONDS]`` runs ``book/SLUG.md``
in a fresh Python kernel with the chapter's folder as working directory. The exit status is 0
when every cell ran, 1 when a cell raised or wrote to standard error (the book build treats
both as failures), and 2 for a chapter that does not exist.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chapter", description=__doc__.splitlines()[0])
    parser.add_argument("slug", help="the chapter's file name in book/ without .md")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    args = parser.parse_args(argv)

    chapters = sorted(path.stem for path in BOOK.glob("*.md"))
    path = BOOK / f"{args.slug}.md"
    if args.slug not in chapters:
        print(
            f"make chapter: error: no chapter {args.slug!r} in {BOOK}; "
            f"the chapters are: {', '.join(chapters)}.",
            file=sys.stderr,
        )
        return 2

    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(path)
    if "kernelspec" not in notebook.metadata:
        print(f"{path.name} has no code cells to execute (no kernelspec).")
        return 0
    # Figures are drawn by the inline backend in the book: do the same here, whatever the shell.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = NotebookClient(
        notebook,
        timeout=args.timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(BOOK)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        print(f"{path.name}: a cell failed:\n{error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    failures = 0
    for number, cell in enumerate(code_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                failures += 1
                print(
                    f"{path.name}: code cell {number} wrote to stderr:\n{output['text']}",
                    file=sys.stderr,
                )
    if failures:
        return 1
    print(f"{path.name}: {len(code_cells)} code cells executed in {elapsed:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
