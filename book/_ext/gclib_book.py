"""Two additions of the gclib book to Jupyter Book, as a local Sphinx extension.

- **A notebook download on every chapter.** myst-nb executes each MyST chapter and writes the
  executed notebook to ``_build/jupyter_execute/<page>.ipynb``. Before sphinx-book-theme builds
  the page's download menu, this copies that notebook next to the page's sources
  (``_build/html/_sources/<page>.ipynb``) and names it in the page context, so that the menu
  offers the ``.ipynb`` beside the ``.md`` source and the PDF. (The theme does the same only when
  a Binder or JupyterHub launch button is configured, which would tie the book to a network.)
- **Author–year references.** The text cites author–year (``Tandon et al. (2017)``); the
  bibliography style ``authoryear`` labels its entries the same way, sorted by author and year,
  instead of numbering them [1], [2], …; an entry whose authors end in "and others" is labelled
  "et al." and lists its authors so.
- **Typeset numbers from another chapter.** myst-nb pastes a Markdown value glued in another
  chapter (``{glue}`other.md::key```) only as plain text, which for a number typeset by
  ``gclib.plotting.latex_scientific`` shows ``<IPython.core.display.Markdown object>``. Values
  made of text and inline ``$…$`` mathematics are pasted here as text and math nodes instead,
  so that the introduction quotes a number exactly as its chapter prints it.
- **Alternative text of figures.** A figure's image carries the first sentence of its caption
  as ``alt`` text, instead of its file name.
- **Inline code breaks only between words.** An inline literal breaks at its spaces, never
  after a hyphen inside ``--workers`` (``_static/gclib.css``); a single word too long for a
  phone's column is marked ``gclib-long-literal`` and may break anywhere.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from pybtex.plugin import register_plugin
from pybtex.richtext import Tag, Text
from pybtex.style import template as pybtex_template
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style import template as bibtex_template
from sphinxcontrib.bibtex.style.referencing import PersonStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

LOGGER = logging.getLogger(__name__)


class AuthorYearLabels(BaseLabelStyle):
    """``Tandon et al. 2017``, ``Ye and Abbe 2018``, ``Dean and Barroso 2013``."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [
                Text.from_latex(" ".join(person.last_names)).render_as("text") for person in people
            ]
            if len(names) > 2 or "others" in names:
                authors = f"{names[0]} et al."
            else:
                authors = " and ".join(names)
            yield f"{authors} {entry.fields.get('year', '')}".strip()


def _is_others(person) -> bool:
    """BibTeX's ``and others``: the author list is incomplete."""
    return " ".join(person.last_names) == "others" and not person.first_names


@pybtex_template.node
def _entry_names(children, context, role, **kwargs):
    """pybtex's ``names``, with a trailing ``others`` written "et al."."""
    assert not children
    try:
        persons = context["entry"].persons[role]
    except KeyError as error:
        raise pybtex_template.FieldIsMissing(role, context["entry"]) from error
    style = context["style"]
    known = [
        style.format_name(person, style.abbreviate_names)
        for person in persons
        if not _is_others(person)
    ]
    text = pybtex_template.join(**kwargs)[known].format_data(context)
    return Text(text, " et al.") if len(known) < len(persons) else text


class AuthorYearStyle(UnsrtStyle):
    """The plain entry format, labelled and sorted by author and year."""

    default_label_style = AuthorYearLabels
    default_sorting_style = SortingStyle

    def format_names(self, role, as_sentence=True):
        names = _entry_names(role, sep=", ", sep2=" and ", last_sep=", and ")
        return pybtex_template.sentence[names] if as_sentence else names


ET_AL = Text(" ", Tag("em", "et al."))


@bibtex_template.node
def _citation_names(children, data, role, **kwargs):
    """sphinxcontrib-bibtex's ``names`` for citations, with ``others`` read as "et al."."""
    assert not children
    try:
        persons = data["entry"].persons[role]
    except KeyError as error:
        raise pybtex_template.FieldIsMissing(role, data["entry"]) from error
    person = data["style"].person
    known = [
        person.style_plugin.format(one, person.abbreviate) for one in persons if not _is_others(one)
    ]
    if len(known) == len(persons):
        return bibtex_template.join(**kwargs)[known].format_data(data)
    parts = [part for part in pybtex_template._format_list(known, data) if part]
    if kwargs.get("other") is not None:  # the short form: the first author only
        return Text(parts[0], ET_AL)
    return Text(Text(kwargs.get("sep", ", ")).join(parts), ET_AL)


@bibtex_template.node
def _citation_author_or_editor_or_title(children, data, **kwargs):
    assert not children
    return pybtex_template.first_of[
        pybtex_template.optional[_citation_names("author", **kwargs)],
        pybtex_template.optional[_citation_names("editor", **kwargs)],
        pybtex_template.tag("em")[pybtex_template.field("title")],
    ].format_data(data)


@dataclass
class _CitationPersons(PersonStyle):
    """Person names in citations: ``Cao et al. (2020)`` for ``Cao, Hankun and others``."""

    def names(self, role, full):
        return _citation_names(
            role=role,
            sep=self.sep,
            sep2=self.sep2,
            last_sep=self.last_sep,
            other=None if full else self.other,
        )

    def author_or_editor_or_title(self, full):
        return _citation_author_or_editor_or_title(
            sep=self.sep,
            sep2=self.sep2,
            last_sep=self.last_sep,
            other=None if full else self.other,
        )


@dataclass
class AuthorYearReferences(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's ``author_year`` citations, reading ``and others`` as "et al."."""

    person: PersonStyle = field(default_factory=_CitationPersons)


def _offer_notebook(app, pagename, templatename, context, doctree):
    """Put the executed notebook of a chapter into ``_sources`` and into the download menu."""
    notebook = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not notebook.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


# ---------------------------------------------------------------- Markdown glued in another chapter

# text and inline math only: "$7.5 \times 10^{-12}$", "at most $3$ (exact)"
_INLINE_MATH = re.compile(r"\$([^$]+)\$")
_MARKUP = re.compile(r"[*_`\[\]<>#|\\]")


def _text_and_math(markdown: str) -> list[nodes.Node] | None:
    """The nodes of ``markdown`` if it is plain text with inline ``$…$`` math, else ``None``."""
    result: list[nodes.Node] = []
    position = 0
    for match in _INLINE_MATH.finditer(markdown):
        text = markdown[position : match.start()]
        if _MARKUP.search(text):
            return None
        if text:
            result.append(nodes.Text(text))
        result.append(nodes.math(match.group(1), match.group(1)))
        position = match.end()
    rest = markdown[position:]
    if _MARKUP.search(rest) or "$" in rest:
        return None
    if rest:
        result.append(nodes.Text(rest))
    return result


class PasteMarkdownAcrossChapters(SphinxPostTransform):
    """Resolve ``{glue}`other.md::key``` to a glued Markdown value of text and inline math."""

    default_priority = 4  # before myst-nb's own resolution (5), which would paste text/plain

    def run(self, **kwargs) -> None:
        from myst_nb.ext.glue.crossref import read_glue_cache
        from myst_nb.ext.glue.utils import PendingGlueReference

        folder = self.env.mystnb_config.output_folder
        for node in list(self.document.findall(PendingGlueReference)):
            if node.gtype is not None or not node.inline:
                continue  # {glue:text} and block pastes stay with myst-nb
            data = read_glue_cache(folder, node.refdoc).get(node.key, {}).get("data", {})
            if "text/markdown" not in data:
                continue
            pasted = _text_and_math(data["text/markdown"].strip())
            if pasted is None:
                LOGGER.warning(
                    f"glue {node.refdoc}::{node.key}: only text with inline $...$ math can be "
                    "pasted from another chapter",
                    location=node,
                )
                node.parent.remove(node)
                continue
            node.replace_self(pasted)


# ---------------------------------------------------------------- alternative text of figures

_TEX_WORDS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "Gamma": "Γ",
    "delta": "δ",
    "Delta": "Δ",
    "eta": "η",
    "theta": "θ",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "omega": "ω",
    "infty": "∞",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "times": "×",
    "cdot": "·",
    "dots": "…",
    "ldots": "…",
    "cdots": "…",
    "in": "∈",
    "subseteq": "⊆",
    "to": "→",
    "approx": "≈",
    "ne": "≠",
    "pm": "±",
}
_TEX_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


def _plain_tex(tex: str) -> str:
    """Inline TeX as plain text for a screen reader: ``s_{\\max} \\le 4`` → ``s_max ≤ 4``."""

    def word(match: re.Match) -> str:
        name = match.group(1)
        if name in _TEX_WORDS:
            return _TEX_WORDS[name]
        if name in ("{", "}"):
            return "\0" if name == "{" else "\1"  # an escaped brace stays
        return " " if name in (",", ";", ":", "!", " ", "quad", "qquad") else name

    tex = re.sub(r"\\hat\s*\{?([A-Za-z])\}?", "\\1\u0302", tex)  # \hat s → ŝ
    text = _TEX_COMMAND.sub(word, tex)
    text = re.sub(
        r"\b(text|mathrm|mathbb|mathcal|operatorname|bigl|bigr|Bigl|Bigr|left|right)"
        r"(?=[({\[|.]|\s|$)",
        "",
        text,
    )
    text = text.replace("{", "").replace("}", "").replace("\0", "{").replace("\1", "}")
    return re.sub(r"\s+", " ", text).strip()


def _caption_text(caption: nodes.Element) -> str:
    parts = []
    for node in caption.findall(lambda n: isinstance(n, nodes.Text | nodes.math)):
        if isinstance(node, nodes.math):
            parts.append(_plain_tex(node.astext()))
        elif not any(isinstance(parent, nodes.math) for parent in _ancestors(node)):
            parts.append(node.astext())
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _ancestors(node: nodes.Node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _first_sentence(text: str, limit: int = 160) -> str:
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z(])", text)
    sentence = text[: match.start()] if match else text
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return sentence


def _describe_images(app, doctree: nodes.document, docname: str) -> None:
    """Give every image of a captioned figure the first sentence of the caption as alt text."""
    for figure in doctree.findall(nodes.figure):
        captions = [child for child in figure.children if isinstance(child, nodes.caption)]
        if not captions:
            continue
        alt = _first_sentence(_caption_text(captions[0]))
        if not alt:
            continue
        for image in figure.findall(nodes.image):
            if not image.get("alt") or image["alt"] == image.get("uri"):
                image["alt"] = alt


# ---------------------------------------------------------------- long inline literals

LONG_LITERAL = 30  # characters of one word: longer ones may break anywhere (a phone's column)


class MarkLongLiterals(SphinxTransform):
    """Mark inline literals with a word too long for a narrow column (see ``gclib.css``)."""

    default_priority = 800

    def apply(self, **kwargs) -> None:
        for literal in self.document.findall(nodes.literal):
            if any(len(word) > LONG_LITERAL for word in literal.astext().split()):
                literal["classes"].append("gclib-long-literal")


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    register_bibtex_plugin(
        "sphinxcontrib.bibtex.style.referencing", "gclib_author_year", AuthorYearReferences
    )
    # before sphinx-book-theme's header buttons (priority 501) read the context
    app.connect("html-page-context", _offer_notebook, priority=500)
    app.add_post_transform(PasteMarkdownAcrossChapters)
    app.add_transform(MarkLongLiterals)
    app.connect("doctree-resolved", _describe_images)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
