"""The page engine: every HTML page trainlab writes renders here, from templates/.

One Jinja2 environment with autoescape on for every template, so any text that reaches a page
(config values, class names, run names, summary fields, sweep specs, lesson text) is escaped
unless it is ``markupsafe.Markup`` made by this module. Templates extend ``base.html`` (the one
doctype, the one inline stylesheet with light and dark themes); pieces repeated across pages
live in ``macros.html``; images are inlined as ``data:`` URIs by :func:`image_uri`.

Python modules build a page's *context* (plain dicts, lists, strings, numbers); templates do the
markup. A page is self-contained: no scripts, nothing fetched (a Content-Security-Policy says so
to the browser too).
"""

from __future__ import annotations

import base64
import functools
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup, escape

from trainlab import formatting
from trainlab.atomic import write_text

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).with_name("templates")
_MIME = {"png": "image/png", "svg": "image/svg+xml"}


@functools.cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment (created on first use, then shared)."""
    # lazy: jinja2 loads with the first page, not with `import trainlab`
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,  # a misspelled context key fails instead of rendering ''
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        number=formatting.number,
        sig=formatting.sig,
        value=formatting.value,
        percent=formatting.percent,
        seconds=formatting.seconds,
        inline=inline,
    )
    return env


def render(template: str, **context: Any) -> str:
    """A whole page: ``template`` (a file in templates/) rendered with ``context``."""
    return environment().get_template(template).render(**context)


def write_page(path: str | Path, template: str, **context: Any) -> Path:
    """Render ``template`` with ``context`` and write it to ``path`` atomically; returns the path."""
    path = Path(path)
    write_text(path, render(template, **context))
    return path


def image_uri(image: Any, fmt: str = "png", **savefig: Any) -> str:
    """An image as a ``data:`` URI, the one way pages inline images.

    ``image`` is encoded ``fmt`` bytes (PNG or SVG), a uint8 pixel array (H, W) or (H, W, 3|4)
    (written as PNG with Pillow), or a matplotlib Figure (saved as ``fmt``; ``savefig`` goes to
    ``Figure.savefig``, e.g. ``dpi=100, bbox_inches="tight"``).
    """
    if fmt not in _MIME:
        raise ValueError(f"image format {fmt!r}: expected one of {sorted(_MIME)}")
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif hasattr(image, "savefig"):
        data = _figure_bytes(image, fmt, **savefig)
    else:
        if fmt != "png":
            raise ValueError("pixel arrays are inlined as png")
        data = _pixels_png(image)
    return f"data:{_MIME[fmt]};base64,{base64.b64encode(data).decode()}"


def _figure_bytes(fig: Any, fmt: str, **savefig: Any) -> bytes:
    # lazy: matplotlib loads only where a figure is drawn (the caller's figure means it has)
    import matplotlib

    # no date, no software version, fixed SVG element ids: the same figure gives the same bytes
    metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "trainlab"}):
        fig.savefig(buf, format=fmt, transparent=True, metadata=metadata, **savefig)
    return buf.getvalue()


def _pixels_png(pixels: Any) -> bytes:
    # lazy: Pillow loads only when a pixel image is inlined
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


_CODE = re.compile(r"`([^`]+)`")
_EMPHASIS = re.compile(r"\*([^*]+)\*")


def inline(text: Any) -> Markup:
    """Text with the inline Markdown lessons use (`code`, *emphasis*) as safe HTML: escaped first."""
    escaped = str(escape(text))  # after this, the text holds no markup of its own
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return Markup(_EMPHASIS.sub(r"<em>\1</em>", escaped))
