"""YAML for files a user hands us (spec, HPA manifest, kubeconfig): bounded in time and memory, errors located.

PyYAML alone is not: aliases share nodes, so a few lines of `&a [*b, *b, ...]` ("billion laughs") expand
into billions of values for any walk over the tree; its composer recurses once per nesting level, so
100k `[` end in a RecursionError; out-of-range integers and dates raise a bare ValueError. Here the
composer counts every value as it would be expanded (aliases included) and stops past MAX_NODES, refuses
nesting past MAX_DEPTH and recursive aliases, and construction errors carry the line of the value.
Aliases within the limits (e.g. `<<: *defaults` merge keys) keep working.

Every problem is a UsageError at `file:line` (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.composer import ComposerError

from tritonobs.core.errors import UsageError

MAX_DEPTH = 64  # a spec nests 5 levels, a kubeconfig 4
MAX_NODES = 100_000  # values after alias expansion; the example spec has ~250


class _LimitError(ComposerError):
    """A limit of this loader, not a syntax error: reported without "not valid YAML"."""


class BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._open: list[int] = []  # running expanded size of each collection being composed
        self._total = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, once composed
        self._keep: list[yaml.Node] = []  # keeps ids in _sizes unique while the loader lives

    def _add(self, size: int, mark: yaml.Mark, alias: bool) -> None:
        """Count a composed value (`size` once expanded) into its parent, or into the file's total."""
        if self._open:
            self._open[-1] += size
        else:
            self._total += size
        if self._total + sum(self._open) > MAX_NODES:
            if alias:
                raise _LimitError(None, None, f"aliases expand this file beyond {MAX_NODES} values (a YAML "
                                  "'billion laughs' bomb?): write the values out or use fewer aliases", mark)
            raise _LimitError(None, None, f"more than {MAX_NODES} values: far more than any tritonobs input "
                              "holds; is this the right file?", mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # its anchor is still being composed: the alias is inside it
                raise _LimitError(None, None, f"alias *{event.anchor} refers to a value that contains it "
                                  "(a recursive structure): write the value out", mark)
            self._add(size, mark, alias=True)
            return node
        if self._depth >= MAX_DEPTH:
            raise _deep(mark)
        self._depth += 1
        self._open.append(1)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            size = self._open.pop()
        assert node is not None  # compose_node always returns a node once an event was peeked
        self._sizes[id(node)] = size
        self._keep.append(node)
        self._add(size, mark, alias=False)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as e:
            # int('1' * 5000) (Python's digit limit), 2024-13-45 as a date, ...
            # The value itself is not quoted: it may be a secret (a kubeconfig token).
            kind = node.tag.rsplit(":", 1)[-1]
            if "digits" in str(e):
                why = f"a number with {len(str(node.value))} digits: write a realistic number"
            else:
                why = f"not a valid {kind} ({e}): quote it if it is text"
            raise _LimitError(None, None, f"cannot read this value: {why}", node.start_mark) from None


def _deep(mark: Any) -> _LimitError:
    return _LimitError(None, None, f"nested more than {MAX_DEPTH} levels deep: far deeper than any tritonobs "
                       "input; is this the right file?", mark)


def _check_depth(text: str) -> None:
    """The pure-Python scanner slows down quadratically with flow nesting (`[[[[...`) before the composer
    sees the first level: libyaml's event parser (C) checks the depth first. Its syntax errors are left to
    the Python loader, whose messages the rest of the project quotes."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader_class):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _deep(event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except _LimitError:
        raise
    except yaml.MarkedYAMLError as e:
        if "nesting depth" in str(e.problem) and e.problem_mark is not None:
            raise _deep(e.problem_mark) from None


def _line(text: str, e: yaml.YAMLError) -> int | None:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        return mark.line + 1 if mark else None
    if isinstance(e, yaml.reader.ReaderError):
        return text.count("\n", 0, e.position) + 1
    return None


def _error(text: str, e: Exception, file: str) -> UsageError:
    if isinstance(e, _LimitError):
        return UsageError(str(e.problem), file=file, line=_line(text, e))
    if isinstance(e, yaml.reader.ReaderError):
        what = f"character U+{e.character:04X}" if isinstance(e.character, int) else "character"
        return UsageError(f"not valid YAML: {what} is not allowed in YAML text (a binary file?)",
                          file=file, line=_line(text, e))
    if isinstance(e, yaml.MarkedYAMLError):
        return UsageError(f"not valid YAML: {e.problem or e}", file=file, line=_line(text, e))
    if isinstance(e, RecursionError):
        return UsageError("nested too deeply to read: is this the right file?", file=file)
    return UsageError(f"not valid YAML: {e}", file=file)


def _documents(text: str, file: str, check: Callable[[yaml.Node], None] | None, construct: bool
               ) -> list[tuple[yaml.Node, Any]]:
    try:
        _check_depth(text)
        loader = BoundedLoader(text)
    except yaml.YAMLError as e:
        raise _error(text, e, file) from None
    try:
        out = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node said there is a document
            if check is not None:
                check(node)
            out.append((node, loader.construct_document(node) if construct else None))
        return out
    except (yaml.YAMLError, RecursionError) as e:
        raise _error(text, e, file) from None
    finally:
        loader.dispose()


def load_all(text: str, file: str) -> list[tuple[yaml.Node, Any]]:
    """Every document as (node, data)."""
    return _documents(text, file, None, construct=True)


def load(text: str, file: str, check: Callable[[yaml.Node], None] | None = None) -> tuple[yaml.Node | None, Any]:
    """One document as (node, data); (None, None) when there is none. `check` sees the node tree before
    construction (which flattens `<<` merge keys). A second document is an error at its line."""
    docs = _documents(text, file, check, construct=True)
    if len(docs) > 1:
        raise UsageError("a second YAML document (after ---): keep one document in this file", file=file,
                         line=docs[1][0].start_mark.line + 1)
    return docs[0] if docs else (None, None)


def compose(text: str, file: str) -> yaml.Node | None:
    """The node tree of a single-document file (for locating keys); None when empty."""
    docs = _documents(text, file, None, construct=False)
    return docs[0][0] if docs else None
