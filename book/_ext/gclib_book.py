"""Two additions of the gclib book to Jupyter Book, as a local Sphinx extension.

- **A notebook download on every chapter.** myst-nb executes each MyST chapter and writes the
  executed notebook to ``_build/jupyter_execute/<page>.ipynb``. Before sphinx-book-theme builds
  the page's download menu, this copies that notebook next to the page's sources
  (``_build/html/_sources/<page>.ipynb``) and names it in the page context, so that the menu
  offers the ``.ipynb`` beside the ``.md`` source and the PDF. (The theme does the same only when
  a Binder or JupyterHub launch button is configured, which would tie the book to a network.)
- **Author–year references.** The text cites author–year (``Tandon et al. (2017)``); the
  bibliography style ``authoryear`` labels its entries the same way, sorted by author and year,
  instead of numbering them [1], [2], ….
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle


class AuthorYearLabels(BaseLabelStyle):
    """``Tandon et al. 2017``, ``Ye and Abbe 2018``, ``Dean and Barroso 2013``."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [
                Text.from_latex(" ".join(person.last_names)).render_as("text")
                for person in people
            ]
            if len(names) > 2 or "others" in names:
                authors = f"{names[0]} et al."
            else:
                authors = " and ".join(names)
            yield f"{authors} {entry.fields.get('year', '')}".strip()


class AuthorYearStyle(UnsrtStyle):
    """The plain entry format, labelled and sorted by author and year."""

    default_label_style = AuthorYearLabels
    default_sorting_style = SortingStyle


def _offer_notebook(app, pagename, templatename, context, doctree):
    """Put the executed notebook of a chapter into ``_sources`` and into the download menu."""
    notebook = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not notebook.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    # before sphinx-book-theme's header buttons (priority 501) read the context
    app.connect("html-page-context", _offer_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
