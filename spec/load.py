"""Reading an ame.yaml from disk or text into a resolved Project, or a SpecError with
every problem found.

Problems are found in stages, and a stage runs only on what the one before accepted: the
text (size, encoding, YAML syntax: the first problem stops the parser), then the file's
shape (every key and value at once), then what needs the whole project (references, names,
places). A file with problems of several stages shows those of the first one.

Hostile input is refused before or while parsing, never by running out of time or memory:
the size is checked before reading, binary and non-UTF-8 content before parsing, and depth,
aliases and expansion while composing (see yaml_loader).

The size limit is 1 MiB unless the caller gives another (amed's `spec.max_size` setting,
`AME_SPEC_MAX_SIZE`): about 14,000 data sets fit in 1 MiB, 100,000 in 8 MiB. The limit on
nodes after alias expansion grows with it, 200,000 per MiB, so a file of the allowed size
always fits and an alias bomb is refused as soon as it expands past what such a file could
hold, in time proportional to the limit, not to the bomb.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import yaml
from pydantic import ValidationError

from spec.document import ProjectDoc
from spec.errors import SpecError, in_file_order
from spec.ignored import ignored_keys
from spec.lint import suspect_problems, suspects
from spec.locate import LocatedProblems, located_problem, validation_problems
from spec.model import Project
from spec.reading import MAX_FILE_BYTES, check_size, read_project_file
from spec.resolve import resolve
from spec.strict import yaml_context
from spec.yaml_errors import syntax_error
from spec.yaml_loader import read_located
from spec.yaml_nodes import MAX_EXPANDED_NODES, LocatedData


def node_limit(max_bytes: int) -> int:
    """The nodes a document may expand to when files of up to `max_bytes` are allowed: the
    default's 200,000 per MiB, and never fewer than the default."""
    return max(MAX_EXPANDED_NODES, MAX_EXPANDED_NODES * max_bytes // MAX_FILE_BYTES)


def load_project(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> Project:
    """Load a project from its ame.yaml, or from a directory that holds ame.yaml (or ame.yml).

    Errors name the file as it was given; ``Project.file`` is its absolute path.
    """
    return load_bytes(*read_project_file(path, max_bytes=max_bytes), max_bytes=max_bytes)


def load_bytes(
    raw: bytes, filename: str, file_field: str, *, max_bytes: int = MAX_FILE_BYTES
) -> Project:
    """Load a project from the bytes of its file; `filename` is what errors call it and
    `file_field` becomes ``Project.file``."""
    return _load(_decode(raw, filename), filename, file_field, max_bytes)


def load_text(text: str, filename: str = "ame.yaml", *, max_bytes: int = MAX_FILE_BYTES) -> Project:
    """Load a project from the text of an ame.yaml; ``filename`` is what errors call it."""
    if len(text) > max_bytes:
        check_size(len(text), filename, max_bytes)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as error:
        line, column = _text_position(text, error.start)
        raise SpecError("the text is not valid Unicode", filename, line, column) from None
    check_size(len(encoded), filename, max_bytes)
    return _load(text.removeprefix("\ufeff"), filename, filename, max_bytes)


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


def _text_position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _decode(raw: bytes, filename: str) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SpecError("the file is UTF-16; save it as UTF-8", filename, 1, 1)
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, column = _byte_position(raw, nul)
        raise SpecError("the file looks binary (it contains NUL bytes)", filename, line, column)
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line, column = _byte_position(raw, error.start)
        raise SpecError(
            f"the file is not UTF-8 text (byte 0x{raw[error.start]:02x}); save it as UTF-8",
            filename,
            line,
            column,
        ) from None


def _load(text: str, filename: str, file_field: str, max_bytes: int) -> Project:
    max_nodes = node_limit(max_bytes)
    if "\x00" in text:
        line, column = _text_position(text, text.index("\x00"))
        raise SpecError(
            "the text looks binary (it contains NUL characters)", filename, line, column
        )
    try:
        located = read_located(text, filename, positions=False, max_nodes=max_nodes)
    except yaml.YAMLError as error:
        raise syntax_error(error, text, filename) from None
    if located is None:
        raise SpecError(
            "the file is empty; an ame.yaml starts with e.g. 'projectname: my_project'",
            filename,
            1,
            1,
        )
    if not isinstance(located.data, dict):
        raise SpecError(
            "the top level must be a mapping (projectname, tasks, dataSets, ...)",
            filename,
            *_located(text, filename, max_nodes).values[()],
        )
    try:
        doc = ProjectDoc.model_validate(located.data, context=yaml_context())
    except ValidationError as error:
        problems = validation_problems(error, _located(text, filename, max_nodes), filename)
        raise SpecError.of(problems) from None
    del located  # the models hold what they need; free the plain data before resolving
    try:
        project, left_aside = resolve(doc, file_field)
    except LocatedProblems as found:
        where = _located(text, filename, max_nodes)
        raise SpecError.of(located_problem(p, where, filename) for p in found.problems) from None
    ignored = [*ignored_keys(doc), *left_aside]
    tiny = suspects(project)
    if not ignored and not tiny:
        return project
    where = _located(text, filename, max_nodes)
    warnings = in_file_order(
        [
            *suspect_problems(project, tiny, where, filename),
            *(located_problem(p, where, filename, "warning") for p in ignored),
        ]
    )
    return project.model_copy(update={"warning_problems": warnings})


def _located(text: str, filename: str, max_nodes: int) -> LocatedData:
    """The document again, with positions: only a file with an error or a warning needs
    them, and not recording them halves the memory a large valid file takes to load."""
    located = read_located(text, filename, positions=True, max_nodes=max_nodes)
    assert located is not None  # it was read once already
    return located
