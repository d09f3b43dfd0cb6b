"""Images for the wire: only ``data:image/...;base64,...`` URLs reach Workers AI.

Workers AI refuses http(s) image URLs ("HTTP URL will not be accepted"). A remote image is
refused here, before sending, unless the caller opted in to downloading and inlining it; the
download itself is I/O and lives in the client, which passes the results back in as data URLs.
"""

from __future__ import annotations

import base64
import binascii
import re

from cf_mistral._errors import InvalidRequestError

__all__ = [
    "MAX_IMAGE_BYTES",
    "check_data_url",
    "is_remote_url",
    "to_data_url",
]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*?),", re.ASCII)


def is_remote_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def to_data_url(data: bytes, mime_type: str) -> str:
    """Encode image bytes as a base64 data URL, refusing what is not an image."""
    if not mime_type.startswith("image/"):
        raise InvalidRequestError(
            f"Expected an image, got media type {mime_type!r}: Workers AI accepts only "
            "image/* content (PNG, JPEG, WebP, GIF)."
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidRequestError(
            f"The image is {len(data)} bytes; the limit here is {MAX_IMAGE_BYTES} bytes. "
            "Resize or compress it before sending."
        )
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def check_data_url(url: str) -> str:
    """Return ``url`` if it is a base64 image data URL; otherwise raise naming the fix."""
    if is_remote_url(url):
        raise InvalidRequestError(
            f"Image URL {url[:80]!r} is a web address, which Workers AI does not accept. "
            "Pass the image as base64 / a data: URL, or set inline_remote_images=True to let "
            "the client download and inline it."
        )
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequestError(
            f"Image {url[:40]!r}... is neither a data: URL nor an http(s) URL: pass "
            "'data:image/png;base64,<data>'."
        )
    mime = match.group("mime") or ""
    if not mime.startswith("image/"):
        raise InvalidRequestError(
            f"The data: URL has media type {mime or 'none'!r}, not an image: Workers AI "
            "accepts only image/* data URLs such as 'data:image/png;base64,...'."
        )
    if ";base64" not in match.group("params"):
        raise InvalidRequestError(
            "The image data: URL is not base64-encoded: use 'data:<type>;base64,<data>'."
        )
    payload = url[match.end() :]
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequestError(
            f"The image data: URL has invalid base64 data: {error}."
        ) from None
    return url
