"""YAML files read strictly: UTF-8 text, no key given twice, every failure naming the file.

PyYAML keeps the last of two equal keys without a word (YAML itself forbids
them), so ``threshold: 0.1`` followed by ``threshold: 0.5`` would silently use
one of the two; here it is an error.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "twice.yaml"
>>> _ = path.write_text("a: 1\\na: 2\\n")
>>> read_yaml(path)
Traceback (most recent call last):
...
ValueError: .../twice.yaml: key 'a' appears twice (line 2)
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding the same key twice."""


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping key given twice."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            continue
        if key in seen:
            line = key_node.start_mark.line + 1
            raise _DuplicateKey(None, None, f"key {key!r} appears twice (line {line})", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path, error: type[ValueError] = ValueError) -> Any:
    """The data of the YAML file ``path``; an ``error`` naming the file if it is unreadable, not UTF-8,
    not YAML or holds a key twice."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as failure:
        raise error(f"{path}: not UTF-8 text ({failure.reason} at byte {failure.start})") from None
    except OSError as failure:
        raise error(f"{path}: cannot be read: {failure.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as failure:
        raise error(f"{path}: {failure.problem}") from None
    except yaml.YAMLError as failure:
        raise error(f"{path}: not valid YAML: {failure}") from None
