"""obstore's errors turned into ours, once, at the store's door.

obstore's errors are not uniform (a missing key is a `FileNotFoundError`, most others a
`GenericError` whose text may hold a whole S3 XML answer, a URL with credentials in it or
a request's headers). What leaves the door is one of `StoreError` (permanent),
`StoreUnavailable` (temporary: retry later) or `OutOfSpace`, as one short line that never
carries a secret we were given nor the user part of a URL.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from obstore.exceptions import BaseError, PermissionDeniedError, UnauthenticatedError

from amed.errors import OutOfSpace, StoreError, StoreUnavailable

MESSAGE_MAX_CHARS = 400

_NO_SPACE = re.compile(r"os error 28\b|no space left on device|StorageFull|QuotaExceeded", re.I)
_TRANSIENT = re.compile(
    r"error sending request|timed out|timeout|HTTP error|status code: (5\d\d|429)\b"
    r"|connection (reset|refused|closed|aborted)|broken pipe|dns error"
    r"|SlowDown|ServiceUnavailable|InternalError|RequestTimeout",
    re.I,
)
_XML_ERROR = re.compile(
    r"<\?xml.*?<Code>(?P<code>[^<]*)</Code>(?:<Message>(?P<msg>[^<]*)</Message>)?.*?(</Error>|$)",
    re.S,
)
_MISSING_BUCKET = {"NoSuchBucket": "bucket", "ContainerNotFound": "container"}
"""The error codes S3 (and GCS's XML API) and Azure give for a bucket that is not there."""
_URL = re.compile(r"https?://\S+")
_URL_USERINFO = re.compile(r"//[^/@\s]*@")


@contextmanager
def translating(url: str, doing: str, secrets: tuple[str, ...]) -> Iterator[None]:
    """Raise whatever obstore (or the disk under a file:// store) raises as one of our
    errors; ours pass through untouched, so nesting translates once."""
    try:
        yield
    except StoreError:
        raise
    except (BaseError, OSError, ValueError) as exc:
        raise translate(url, doing, exc, secrets) from None


def translate(url: str, doing: str, exc: BaseException, secrets: tuple[str, ...]) -> StoreError:
    """`secrets` longest first, so a secret that contains another is masked whole."""
    text = str(exc)
    line = first_line(exc)
    line = _XML_ERROR.sub(lambda m: f"{m.group('code')}: {m.group('msg') or ''}".rstrip(": "), line)
    message = redact(f"{url}: {doing}: {line}", secrets)
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[: MESSAGE_MAX_CHARS - 3] + "..."
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or _NO_SPACE.search(text):
        return OutOfSpace(message)
    missing = missing_bucket(exc)
    if missing is not None:
        return StoreError(redact(f"{url}: the {missing} does not exist", secrets))
    if isinstance(exc, FileNotFoundError | PermissionDeniedError | UnauthenticatedError):
        return StoreError(message)
    # Classify on the words of the error, not on a URL or key that may contain them.
    if isinstance(exc, BaseError) and _TRANSIENT.search(_URL.sub("", line)):
        return StoreUnavailable(message)
    return StoreError(message)


def missing_bucket(exc: BaseException) -> str | None:
    """What is missing ("bucket" or "container") when the error says the store's bucket is
    not there: a missing key is an absent object, a missing bucket is a wrong store."""
    text = str(exc)
    return next((what for code, what in _MISSING_BUCKET.items() if code in text), None)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Without the user part of any URL, and with `secrets` (longest first) masked."""
    text = strip_userinfo(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def strip_userinfo(url: str) -> str:
    """`s3://KEY:SECRET@bucket` as `s3://bucket`: the form of a URL that is safe to log."""
    return _URL_USERINFO.sub("//", url)


def longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    """The non-empty secrets, longest first, as `redact` needs them."""
    return tuple(sorted((s for s in secrets if s), key=len, reverse=True))
