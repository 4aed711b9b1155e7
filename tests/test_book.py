"""The book: its sources are complete and consistent, it builds from scratch without a warning,
every figure is rendered and cited, and the HTML reads offline with its mathematics typeset.

The source checks are fast. The build (every chapter executed) happens once per test session
and is shared by the tests marked ``slow``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

yaml = pytest.importorskip("yaml")
jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD_TIMEOUT = 1500  # seconds for the whole build; each cell has its own limit in _config.yml

FIGURE_NAME = re.compile(r"^fig-[a-z0-9]+(?:-[a-z0-9]+)+$")
NUMREF = re.compile(r"\{numref\}`(?:[^`<]*<)?(fig-[A-Za-z0-9_-]+)>?`")
DIRECTIVE_FIGURE_NAME = re.compile(r"^\s*:name:\s*(fig-\S+)\s*$", re.MULTILINE)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".webp"}


# headless Chromium, offline: any request that leaves the machine fails at once (port 9 is discard)
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=http://127.0.0.1:9",
)


# ---------------------------------------------------------------- sources (fast)


def _toc_files(node: object) -> list[str]:
    """Every ``file:`` and the ``root`` of a jupyter-book table of contents, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for value in node.values():
            if isinstance(value, list | dict):
                found.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_toc_files(item))
    return found


def _toc_paths() -> list[Path]:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    paths = []
    for entry in _toc_files(toc):
        path = BOOK / entry
        paths.append(path if path.suffix else path.with_suffix(".md"))
    return paths


def _chapter_sources() -> list[Path]:
    return sorted(path for path in BOOK.glob("*.md") if path.name != "README.md")


def _code_cells(path: Path) -> list:
    return [cell for cell in jupytext.read(path).cells if cell.cell_type == "code"]


def _figure_names(path: Path) -> list[str]:
    """Figure names a chapter defines: code-cell metadata ``mystnb.figure.name`` and ``:name:``
    options of figure directives (e.g. ``glue:figure``)."""
    names = []
    for cell in _code_cells(path):
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if "name" in figure:
            names.append(str(figure["name"]))
    names.extend(DIRECTIVE_FIGURE_NAME.findall(path.read_text(encoding="utf-8")))
    return names


def _all_figure_names() -> dict[str, Path]:
    names: dict[str, Path] = {}
    for path in _chapter_sources():
        for name in _figure_names(path):
            assert name not in names, f"figure name {name!r} used in {names[name]} and {path}"
            names[name] = path
    return names


def test_toc_lists_only_existing_files():
    paths = _toc_paths()
    assert paths, "the table of contents is empty"
    assert paths[0].stem == "intro"
    missing = [str(path.relative_to(BOOK)) for path in paths if not path.is_file()]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"
    assert len(paths) == len(set(paths)), "_toc.yml lists a file twice"


def test_every_chapter_is_in_the_toc():
    listed = set(_toc_paths())
    unlisted = [path.name for path in _chapter_sources() if path not in listed]
    assert not unlisted, f"chapters missing from book/_toc.yml: {unlisted}"
    assert _toc_paths()[-1].stem == "references", "the references close the book"


@pytest.mark.parametrize("path", _chapter_sources(), ids=lambda path: path.stem)
def test_chapter_follows_the_conventions(path: Path):
    text = path.read_text(encoding="utf-8")
    notebook = jupytext.read(path)
    body = text.split("---", 2)[2] if text.startswith("---") else text
    lines = [line for line in body.splitlines() if line.strip()]
    assert lines[0] == f"({path.stem})=", f"{path.name} must open with the label ({path.stem})="
    assert lines[1].startswith("# "), f"{path.name}: the label must precede the title"
    cells = _code_cells(path)
    if cells:
        kernel = notebook.metadata.get("kernelspec", {})
        assert kernel.get("name") == "python3", f"{path.name} needs kernelspec name python3"
        assert "## Overview" in body, f"{path.name} needs an '## Overview' section"
    for number, cell in enumerate(cells, start=1):
        source = cell.source
        where = f"{path.name}, code cell {number}"
        assert not re.search(r"^\s*[!%](pip|conda)\b", source, re.MULTILINE), (
            f"{where}: installs packages; dependencies belong in pyproject.toml"
        )
        assert not re.search(r"default_rng\(\s*\)", source), f"{where}: unseeded generator"
        assert not re.search(
            r"np\.random\.(?!default_rng|Generator|SeedSequence|PCG64|Philox|SFC64|MT19937)"
            r"[a-z_]+\(",
            source,
        ), f"{where}: uses numpy's global random state instead of a seeded Generator"


# Code is set in a column of about 75 characters at 1280 px (sphinx-book-theme); a shorter limit
# keeps every visible code line inside it, so that no cell scrolls sideways. The browser test
# below measures the rendered page; this one names the offending line at once.
CODE_COLUMNS = 72
PRIVATE_IMPORT = re.compile(r"gclib\._|from gclib\.[a-z_]*\.")


@pytest.mark.parametrize("path", _chapter_sources(), ids=lambda path: path.stem)
def test_chapters_use_only_public_names(path: Path):
    for number, cell in enumerate(_code_cells(path), start=1):
        for line in cell.source.splitlines():
            assert not PRIVATE_IMPORT.search(line), (
                f"{path.name}, code cell {number} uses a private gclib name (import from "
                f"gclib, gclib.plotting or gclib.training, whose __all__ list the public "
                f"names): {line.strip()}"
            )


@pytest.mark.parametrize("path", _chapter_sources(), ids=lambda path: path.stem)
def test_code_cells_fit_the_column(path: Path):
    for number, cell in enumerate(_code_cells(path), start=1):
        tags = cell.metadata.get("tags", [])
        if "remove-input" in tags or "remove-cell" in tags:
            continue  # the reader never sees it
        for line in cell.source.splitlines():
            assert len(line) <= CODE_COLUMNS, (
                f"{path.name}, code cell {number}: a line of {len(line)} characters is wider "
                f"than the column ({CODE_COLUMNS}): {line.strip()[:60]}"
            )


def test_figure_names_are_well_formed_and_cited():
    names = _all_figure_names()
    assert names, "the book has no named figure"
    text = "\n".join(path.read_text(encoding="utf-8") for path in _chapter_sources())
    cited = set(NUMREF.findall(text))
    for name, path in names.items():
        assert FIGURE_NAME.match(name), (
            f"{path.name}: figure name {name!r} is not fig-<chapter>-<slug>"
        )
        assert name in cited, f"{path.name}: figure {name!r} is never cited with {{numref}}"
    uncited = cited - set(names)
    assert not uncited, f"{{numref}} cites figures that no chapter defines: {sorted(uncited)}"


def test_no_notebooks_or_images_in_the_sources():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git work tree")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "book"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    forbidden = [
        name for name in listed if Path(name).suffix.lower() in IMAGE_SUFFIXES | {".ipynb"}
    ]
    assert not forbidden, f"figures are made at build time; remove from book/: {forbidden}"


def test_config_executes_every_chapter_strictly():
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    execute = config["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["allow_errors"] is False
    assert execute["stderr_output"] in ("warn", "error", "severe")
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_execution_raise_on_error"] is True
    assert "sphinx_thebe" not in sphinx["extensions"]
    assert "sphinx-mathjax-offline" in sphinx["extensions"]


# ---------------------------------------------------------------- the build (slow)


# The HTML folder of a book already built with the command of ``built_book`` (e.g.
# ``jupyter-book build book --all --warningiserror --nitpick --keep-going --path-output DIR``,
# then DIR/_build/html): the tests of the build check it instead of building the book again.
BUILT_BOOK_VARIABLE = "GCLIB_BUILT_BOOK"


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the book from scratch into a temporary folder; the HTML folder."""
    if os.environ.get(BUILT_BOOK_VARIABLE):
        html = Path(os.environ[BUILT_BOOK_VARIABLE]).resolve()
        if not (html / "index.html").is_file():
            pytest.fail(f"{BUILT_BOOK_VARIABLE}={html} holds no built book (index.html)")
        return html
    output = tmp_path_factory.mktemp("book")
    executable = Path(sys.executable).parent / "jupyter-book"
    command = [str(executable) if executable.exists() else "jupyter-book"]
    command += ["build", str(BOOK), "--path-output", str(output), "--all"]
    command += ["--warningiserror", "--nitpick", "--keep-going"]
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    log = result.stdout + result.stderr
    (output / "build.log").write_text(log, encoding="utf-8")
    if result.returncode != 0 or "build succeeded" not in log:
        pytest.fail(f"the book build failed (exit {result.returncode}):\n{log[-6000:]}")
    return output / "_build" / "html"


class _PageParser(HTMLParser):
    """Collects what a page loads and which figures and math it contains."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline_scripts: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.images: list[str] = []
        self.image_alts: list[tuple[str, str | None]] = []  # (src, alt) of every <img>
        self.styles: list[str] = []
        self.figures: dict[str, list[str]] = {}
        self.anchors: list[str] = []
        self.math_elements = 0
        self._figure_stack: list[str | None] = []
        self._in_script = False
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "script":
            if "src" in attributes:
                self.scripts.append(attributes["src"])
            else:
                self._in_script = True
                self.inline_scripts.append("")
        elif tag == "style":
            self._in_style = True
            self.styles.append("")
        elif tag == "link":
            self.links.append((attributes.get("rel", ""), attributes.get("href", "")))
        elif tag in ("img", "iframe", "source", "video", "audio", "embed"):
            if attributes.get("src"):
                self.images.append(attributes["src"])
            if tag == "img":
                self.image_alts.append((attributes.get("src", ""), dict(attrs).get("alt")))
            for figure in self._figure_stack:
                if figure is not None and tag == "img":
                    self.figures[figure].append(attributes.get("src", ""))
        elif tag == "a" and "href" in attributes:
            self.anchors.append(attributes["href"])
        if tag == "figure":
            figure_id = attributes.get("id") or None
            if figure_id is not None:
                self.figures[figure_id] = []
            self._figure_stack.append(figure_id)
        if "math" in attributes.get("class", "").split():
            self.math_elements += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._figure_stack:
            self._figure_stack.pop()
        elif tag == "script":
            self._in_script = False
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_scripts[-1] += data
        elif self._in_style:
            self.styles[-1] += data


def _pages(html: Path) -> dict[Path, _PageParser]:
    pages = {}
    for path in sorted(html.glob("*.html")):
        parser = _PageParser()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path] = parser
    return pages


def _is_external(url: str) -> bool:
    return bool(
        re.match(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE)
    ) and not url.strip().lower().startswith("file:")


CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""")


def _css_targets(css: str) -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return [match.group(2) or match.group(4) for match in CSS_URL.finditer(css)]


def _local_file(page: Path, url: str) -> Path:
    return (page.parent / unquote(urlsplit(url).path)).resolve()


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_book_builds_from_scratch_without_warnings(built_book: Path):
    for path in _toc_paths():
        assert (built_book / f"{path.stem}.html").is_file(), f"{path.stem}.html was not built"
    assert (built_book / "index.html").is_file()


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_every_named_figure_is_rendered_and_linked(built_book: Path):
    pages = _pages(built_book)
    for name, source in _all_figure_names().items():
        page = built_book / f"{source.stem}.html"
        images = pages[page].figures.get(name)
        assert images is not None, f"{page.name} has no <figure id={name!r}>"
        assert images, f"figure {name!r} in {page.name} has no <img>"
        for src in images:
            assert _local_file(page, src).is_file(), f"{page.name}: image {src} is missing"
        linked = any(
            href.split("#")[-1] == name for parser in pages.values() for href in parser.anchors
        )
        assert linked, f"no page links to figure {name!r}"


def _names_a_file(alt: str, src: str) -> bool:
    """Whether an image's alt text is a file name or path (Sphinx's default: the image's URI)."""
    text = alt.strip()
    name = Path(unquote(urlsplit(src).path)).name
    return bool(text) and (
        text == src or Path(text).name == name or Path(text).suffix.lower() in IMAGE_SUFFIXES
    )


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_images_have_alternative_text(built_book: Path):
    """Every image carries an alt text, and none is a file name: a figure's image is described
    by the first sentence of its caption (``_ext/gclib_book.py``)."""
    pages = _pages(built_book)
    problems = []
    for page, parser in pages.items():
        for src, alt in parser.image_alts:
            if alt is None:
                problems.append(f"{page.name}: <img src={src!r}> has no alt attribute")
            elif _names_a_file(alt, src):
                problems.append(f"{page.name}: <img src={src!r}> has the alt text {alt!r}")
    for name, source in _all_figure_names().items():
        page = built_book / f"{source.stem}.html"
        if not any(alt and alt.strip() for _, alt in pages[page].image_alts):
            problems.append(f"{page.name}: no image has an alt text (figure {name!r})")
    assert not problems, "images need a meaningful alt text:\n" + "\n".join(problems)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_html_loads_no_external_resource(built_book: Path):
    problems = []
    stylesheets: set[Path] = set()
    for page, parser in _pages(built_book).items():
        for src in parser.scripts + parser.images:
            if _is_external(src):
                problems.append(f"{page.name} loads {src}")
        for rel, href in parser.links:
            loads = {"stylesheet", "preload", "modulepreload", "icon", "manifest", "prefetch"}
            if loads & set(rel.split()):
                if _is_external(href):
                    problems.append(f"{page.name} loads {href} ({rel})")
                elif "stylesheet" in rel.split():
                    stylesheets.add(_local_file(page, href))
        for script in parser.inline_scripts:
            for url in re.findall(r"""["'](https?://[^"']+)["']""", script):
                problems.append(f"{page.name} names {url} in an inline script")
        for style in parser.styles:
            problems += [
                f"{page.name}: <style> loads {url}"
                for url in _css_targets(style)
                if _is_external(url)
            ]
    seen: set[Path] = set()
    while stylesheets:
        sheet = stylesheets.pop()
        if sheet in seen:
            continue
        seen.add(sheet)
        assert sheet.is_file(), f"stylesheet {sheet} is missing"
        for url in _css_targets(sheet.read_text(encoding="utf-8", errors="replace")):
            if url.startswith("data:"):
                continue
            if _is_external(url):
                problems.append(f"{sheet.relative_to(built_book)} loads {url}")
            elif url.endswith(".css"):
                stylesheets.add((sheet.parent / unquote(urlsplit(url).path)).resolve())
    assert not problems, "the book must read offline:\n" + "\n".join(problems)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


# Appended to a copy of a page: once MathJax has typeset it (and its fonts had time to load),
# list the resources the page fetched. Chromium lists http(s) requests there, failed ones
# included, but not file:// ones: the list must be empty.
PROBE = """
<script>
window.addEventListener("load", function () {
  function report() {
    setTimeout(function () {
      var pre = document.createElement("pre");
      pre.id = "gclib-resource-probe";
      pre.textContent = JSON.stringify(
        performance.getEntriesByType("resource").map(function (entry) { return entry.name; }));
      document.body.appendChild(pre);
    }, 2000);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(report, report);
  } else {
    report();
  }
});
</script>
"""


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 300)
def test_math_is_typeset_offline_in_a_browser(built_book: Path, tmp_path: Path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'): cannot render pages")
    pages = {page: parser for page, parser in _pages(built_book).items() if parser.math_elements}
    assert pages, "no page of the book contains mathematics"
    for page, parser in pages.items():
        probe = page.with_name(f"_probe_{page.name}")
        probe.write_text(
            page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
            encoding="utf-8",
        )
        try:
            result = subprocess.run(
                [
                    chromium,
                    *HEADLESS,
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--virtual-time-budget=15000",
                    "--dump-dom",
                    probe.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            probe.unlink()
        dom = result.stdout
        assert result.returncode == 0 and "</html>" in dom, (
            f"chromium failed on {page.name}:\n{result.stderr[-2000:]}"
        )
        typeset = dom.count("<mjx-container")
        assert typeset >= parser.math_elements, (
            f"{page.name}: {parser.math_elements} math elements, only {typeset} typeset"
        )
        assert "<mjx-merror" not in dom, f"{page.name}: MathJax reports a TeX error"
        match = re.search(r'<pre id="gclib-resource-probe">(.*?)</pre>', dom, re.DOTALL)
        assert match is not None, f"{page.name}: the resource probe did not run"
        resources = json.loads(match.group(1).replace("&amp;", "&").replace("&quot;", '"'))
        external = [url for url in resources if not url.startswith("file:")]
        assert not external, f"{page.name} fetched from the network: {external}"


def _toc_chapters_with_code() -> list[Path]:
    return [path for path in _toc_paths() if _code_cells(path)]


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_every_chapter_offers_its_notebook(built_book: Path):
    pages = _pages(built_book)
    for path in _toc_chapters_with_code():
        page = built_book / f"{path.stem}.html"
        links = [href for href in pages[page].anchors if href.split("#")[0].endswith(".ipynb")]
        assert links, f"{page.name} offers no notebook (.ipynb) download"
        for href in links:
            notebook = _local_file(page, href)
            assert notebook.name == f"{path.stem}.ipynb", f"{page.name} links {href}"
            assert notebook.is_file(), f"{page.name}: the notebook {href} is missing"
            content = json.loads(notebook.read_text(encoding="utf-8"))
            code = [cell for cell in content["cells"] if cell["cell_type"] == "code"]
            assert len(code) == len(_code_cells(path)), f"{notebook.name} lacks code cells"
            assert any(cell.get("outputs") for cell in code), f"{notebook.name} was not executed"


# Loaded twice into one page, in frames 1280 px (a desktop) and 400 px (a phone) wide, a copy of
# a book page measures itself once MathJax has typeset it and posts what it found to the frame
# page, which lists it for --dump-dom. Collapsed cells ("show code") are opened first, so that
# their code is measured as a reader who opens them sees it.
LAYOUT_PROBE = """
<script>
window.addEventListener("load", function () {
  function longest(text) {
    return text.split("\\n").reduce(function (a, l) { return l.length > a.length ? l : a; }, "");
  }
  function measure() {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    var out = {width: window.innerWidth, page: document.documentElement.scrollWidth,
               equations: [], unscrollable: [], code: [], dollars: []};
    document.querySelectorAll("div.math").forEach(function (div) {
      var math = div.querySelector("mjx-container mjx-math");
      if (!math) { return; }
      var m = math.getBoundingClientRect(), d = div.getBoundingClientRect();
      var wide = m.right > d.right + 1 || m.left < d.left - 1;
      var eqno = div.querySelector(".eqno");
      if (eqno) {
        var e = eqno.getBoundingClientRect();
        var beside = m.top < e.bottom && e.top < m.bottom;
        wide = wide || (e.width > 0 && m.right > e.left - 2 && beside);
      }
      if (wide) {
        out.equations.push(div.id || div.textContent.slice(0, 40));
        var style = getComputedStyle(div);
        if (style.overflowX !== "auto" && style.overflowX !== "scroll") {
          out.unscrollable.push(div.id || div.textContent.slice(0, 40));
        }
      }
    });
    document.querySelectorAll("div.cell_input pre, div.cell_output pre").forEach(function (pre) {
      if (pre.scrollWidth > pre.clientWidth + 1) {
        out.code.push(longest(pre.textContent).trim().slice(0, 60));
      }
    });
    var article = (document.querySelector("article") || document.body).cloneNode(true);
    article.querySelectorAll(".cell_input, mjx-container, script, style, .math, code").forEach(
      function (e) { e.remove(); });
    var m, re = /[^\\n]{0,30}\\$[^\\n]{0,30}/g, text = article.textContent;
    while ((m = re.exec(text)) !== null) { out.dollars.push(m[0].trim()); }
    parent.postMessage(JSON.stringify(out), "*");
  }
  function later() { setTimeout(measure, 1000); }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(later, later);
  } else {
    later();
  }
});
</script>
"""

LAYOUT_FRAMES = """<!DOCTYPE html><html><body>
<pre id="gclib-layout-probe"></pre>
<script>
var results = [];
window.addEventListener("message", function (event) {
  results.push(JSON.parse(event.data));
  if (results.length === 2) {
    document.getElementById("gclib-layout-probe").textContent = JSON.stringify(results);
  }
});
</script>
<iframe src="PAGE" style="width:1280px;height:900px;border:0"></iframe>
<iframe src="PAGE" style="width:400px;height:900px;border:0"></iframe>
</body></html>
"""


def _layout(chromium: str, page: Path, profile: Path) -> tuple[dict, dict]:
    """What the layout probe finds on ``page`` at 1280 px and at 400 px."""
    probe = page.with_name(f"_layout_{page.name}")
    frames = page.with_name(f"_frames_{page.name}")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "</body>"),
        encoding="utf-8",
    )
    frames.write_text(LAYOUT_FRAMES.replace("PAGE", probe.name), encoding="utf-8")
    try:
        result = subprocess.run(
            [
                chromium,
                *HEADLESS,
                f"--user-data-dir={profile}",
                "--window-size=1700,1000",
                "--virtual-time-budget=20000",
                "--dump-dom",
                frames.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        probe.unlink()
        frames.unlink()
    match = re.search(r'<pre id="gclib-layout-probe">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match is not None and match.group(1), (
        f"the layout probe did not run on {page.name}:\n{result.stderr[-2000:]}"
    )
    text = match.group(1)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    wide, narrow = sorted(json.loads(text), key=lambda found: -found["width"])
    return wide, narrow


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT + 900)
def test_pages_fit_their_column_in_a_browser(built_book: Path, tmp_path: Path):
    """At 1280 px no display equation and no code cell is wider than its column and no output
    shows raw ``$`` markup; at 400 px the page itself never scrolls sideways (a wide equation
    scrolls inside its own box)."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'): cannot render pages")
    problems = []
    for path in _toc_paths():
        page = built_book / f"{path.stem}.html"
        wide, narrow = _layout(chromium, page, tmp_path / "profile")
        assert wide["width"] == 1280 and narrow["width"] <= 400, (wide["width"], narrow["width"])
        problems += [f"{page.name}: equation wider than the column: {e}" for e in wide["equations"]]
        problems += [f"{page.name}: code wider than the column: {c}" for c in wide["code"]]
        problems += [f"{page.name}: raw $ markup in the text: {d}" for d in wide["dollars"]]
        if narrow["page"] > narrow["width"] + 1:
            problems.append(
                f"{page.name}: at 400 px the page is {narrow['page']} px wide and scrolls sideways"
            )
        problems += [
            f"{page.name}: at 400 px a wide equation cannot scroll: {e}"
            for e in narrow["unscrollable"]
        ]
    assert not problems, "the book does not fit its column:\n" + "\n".join(problems)
