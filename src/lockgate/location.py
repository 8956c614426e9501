"""Where lockgate keeps bytes: a local folder (a ``Path``) or an object-storage prefix
(:class:`ObjectLocation`, ``s3://bucket/prefix``).

Settings parse the artifact and data roots here, once: ``s3://`` becomes an
:class:`ObjectLocation`, a plain path stays a ``Path``, and anything else (another
scheme, a malformed bucket, ``..`` in a prefix) is refused with the reason, never
reinterpreted as a folder. An :class:`ObjectLocation` joins with ``/`` like a ``Path``,
so code that builds ``root / "_predictions" / name`` works on both; object stores have
no folders, so ``mkdir`` is a no-op and ``is_dir`` asks whether anything lies under the
prefix. It is deliberately *not* ``os.PathLike``: ``Path(location)`` raises instead of
quietly turning ``s3://bucket`` into the local folder ``s3:/bucket``; pass ``str()`` of
it, with :func:`storage_options`, to deltalake and Polars.

The endpoint and credentials come from the standard AWS chain (``AWS_ENDPOINT_URL_S3``
/ ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ..., profiles); they are read when a
store is opened and never become part of a location, the settings or a record.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SCHEMES = ("s3",)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")
# S3 bucket naming rules: 3-63 characters of lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or a digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=+,;@ -]+$")


class LocationError(ValueError):
    """A root that names no usable place; config turns it into a ConfigError."""


@dataclass(frozen=True, slots=True)
class ObjectLocation:
    """A prefix in an S3-compatible bucket, e.g. ``s3://team-bucket/lockgate/data``.

    Attributes:
        bucket: the bucket name.
        prefix: the key prefix, without leading or trailing ``/`` (``""`` for the
            bucket's root).
    """

    bucket: str
    prefix: str = ""
    scheme: str = "s3"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")

    def __truediv__(self, part: str | os.PathLike[str]) -> ObjectLocation:
        parts = [p for p in str(part).split("/") if p]
        for segment in parts:
            _check_segment(segment, str(self))
        return ObjectLocation(self.bucket, "/".join([*filter(None, [self.prefix]), *parts]),
                              self.scheme)

    @property
    def name(self) -> str:
        """The last segment of the prefix (``""`` at the bucket's root)."""
        return self.prefix.rsplit("/", 1)[-1]

    @property
    def parent(self) -> ObjectLocation:
        """The prefix one segment up (the bucket's root stays itself)."""
        return ObjectLocation(self.bucket, self.prefix.rpartition("/")[0], self.scheme)

    def resolve(self) -> ObjectLocation:
        """Itself: an object location is already absolute (``Path.resolve``'s spelling)."""
        return self

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing: object stores have no folders (``Path.mkdir``'s spelling)."""
        del parents, exist_ok

    def is_dir(self) -> bool:
        """Whether any object lies under this prefix."""
        from lockgate.artifacts.object_store import S3ObjectStore

        return S3ObjectStore(self).any()

    exists = is_dir

    def storage_options(self) -> dict[str, str]:
        """Options for deltalake and Polars: the endpoint from the standard AWS
        variables and the safe concurrent-commit setting (``aws_conditional_put``);
        credentials are left to the libraries' own AWS chain, never copied here."""
        options = {"aws_conditional_put": "etag"}
        endpoint = s3_endpoint()
        if endpoint:
            options["aws_endpoint_url"] = endpoint
            if endpoint.startswith("http://"):
                options["aws_allow_http"] = "true"
        return options


#: Where a table, log or file of lockgate lives: a local path or an object location.
StoragePath = Path | ObjectLocation


def s3_endpoint() -> str | None:
    """The S3 endpoint from the standard variables (service-specific first)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def storage_options(location: Path | ObjectLocation | str) -> dict[str, str] | None:
    """What deltalake/Polars need to open ``location``: None for a local path."""
    if isinstance(location, ObjectLocation):
        return location.storage_options()
    if isinstance(location, str) and location.startswith("s3://"):
        return parse_root(location).storage_options()  # type: ignore[union-attr]
    return None


def parse_root(value: str | os.PathLike[str] | ObjectLocation) -> Path | ObjectLocation:
    """A root as given in the settings: a local ``Path`` or an :class:`ObjectLocation`.

    Raises:
        LocationError: an unknown scheme or an unusable ``s3://`` URI, with the reason.
    """
    if isinstance(value, ObjectLocation | Path):
        return value
    text = os.fspath(value)
    match = _SCHEME.match(text)
    if match is None or (len(match.group(1)) == 1 and not match.group(2)):
        return Path(text)  # a plain path (a one-letter "scheme" is a drive letter)
    scheme = match.group(1)
    if scheme == "file" and text.startswith("file:///"):
        return Path(text[len("file://"):])
    if scheme not in SCHEMES or not match.group(2):
        raise LocationError(
            f"`{text}` has the scheme `{scheme}:`, which lockgate cannot store to; use a "
            "local path or `s3://bucket/prefix` (S3-compatible: AWS, MinIO, Ceph, R2).")
    return _parse_s3(text)


def _parse_s3(text: str) -> ObjectLocation:
    rest = text[len("s3://"):]
    if any(ch in rest for ch in "?#\\") or "@" in rest.split("/", 1)[0]:
        raise LocationError(
            f"`{text}` is not a plain `s3://bucket/prefix`: no query, fragment or "
            "credentials belong in it (credentials come from the AWS environment or profile).")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise LocationError(
            f"`{text}` names the bucket `{bucket}`, which is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots or hyphens, starting and ending with a "
            "letter or a digit).")
    parts = prefix.strip("/").split("/") if prefix.strip("/") else []
    for segment in parts:
        _check_segment(segment, text)
    return ObjectLocation(bucket, "/".join(parts))


def _check_segment(segment: str, where: str) -> None:
    if segment in (".", "..") or not _SEGMENT.match(segment):
        raise LocationError(
            f"`{segment}` is not allowed in the object prefix of `{where}`: use letters, "
            "digits and `_-.`, without `.` or `..` segments or empty ones (`a//b`).")

