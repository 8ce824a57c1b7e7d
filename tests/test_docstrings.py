"""Every public member of `taskstream_core` carries a reference docstring in Google style.

"Public" is each name in the `__all__` of the package and of the modules users import
directly, and for each public class its public methods, properties and fields. The checks
read the source (not `__doc__`, which dataclasses and enums fill in on their own):

- every module, class, function, method and property has a docstring;
- a function's `Args:` section names each parameter (a class's own `__init__` parameters
  may be named in the class docstring's `Args:` instead);
- a function annotated to return something other than `None` has `Returns:` (or `Yields:`);
- `Args:` names nothing that is not a parameter (mkdocs' strict build would warn);
- an exception a function raises itself (`raise SomeError(...)`) is named under `Raises:`;
- a class field is listed under the class's `Attributes:` (or `Args:`, for a dataclass's
  fields), or carries a docstring after it or a `#:` comment before it; so does a constant.

A method of a store or broker that implements a member of the public `Store`, `Broker` or
`LiveObserver` protocol may take its docstring from the protocol, which is where the
reference documents it.
"""

from __future__ import annotations

import ast
import enum
import functools
import importlib
import importlib.util
import inspect
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import taskstream_core

PACKAGE = "taskstream_core"

PUBLIC_MODULES = (
    "taskstream_core",
    "taskstream_core.models",
    "taskstream_core.errors",
    "taskstream_core.wire",
    "taskstream_core.client",
    "taskstream_core.testing",
    "taskstream_core.brokers.memory",
    "taskstream_core.brokers.redis",
    "taskstream_core.stores.memory",
    "taskstream_core.stores.sqlite",
    "taskstream_core.stores.mongodb",
)

#: The public protocols whose method docstrings an implementation may rely on.
PROTOCOLS = ("Store", "Broker", "LiveObserver")

_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_ENTRY = re.compile(r"^\s{1,8}(\*{0,2}\w+)\s*(\([^)]*\))?\s*:")

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_DefinitionNode = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class _Source:
    """The parsed source of one module: its tree and its lines."""

    tree: ast.Module
    lines: list[str]


@functools.cache
def _source(module_name: str) -> _Source:
    module = importlib.import_module(module_name)
    path = Path(inspect.getfile(module))
    text = path.read_text(encoding="utf-8")
    return _Source(ast.parse(text), text.splitlines())


def _node(module_name: str, qualname: str) -> _DefinitionNode | None:
    """The class or function node named `qualname` in the module's source, if any."""
    body: list[ast.stmt] = _source(module_name).tree.body
    found: _DefinitionNode | None = None
    for part in qualname.split("."):
        found = None
        for statement in body:
            if (
                isinstance(statement, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and statement.name == part
            ):
                found = statement  # the last definition wins, as at run time
        if found is None:
            return None
        body = found.body
    return found


def _sections(doc: str) -> dict[str, list[str]]:
    """Google-style sections of a docstring: header -> names of the entries under it."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in inspect.cleandoc(doc).splitlines():
        header = _SECTION.match(line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        if line and not line[0].isspace():
            current = None
            continue
        if current is not None:
            entry = _ENTRY.match(line)
            indent = len(line) - len(line.lstrip())
            if entry and indent <= 4:
                current.append(entry.group(1).lstrip("*"))
    return sections


def _docstring(node: ast.AST | None) -> str | None:
    if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    return ast.get_docstring(node)


def _parameters(node: _FunctionNode, *, method: bool) -> list[str]:
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    if method and positional:
        positional = positional[1:]
    names = [a.arg for a in positional]
    if arguments.vararg:
        names.append(arguments.vararg.arg)
    names += [a.arg for a in arguments.kwonlyargs]
    if arguments.kwarg:
        names.append(arguments.kwarg.arg)
    return names


def _returns_value(node: _FunctionNode) -> bool:
    annotation = node.returns
    if annotation is None:
        return False
    text = ast.unparse(annotation).strip("'\"")
    return text not in {"None", "NoReturn", "Never", "typing.NoReturn"}


def _raised(node: _FunctionNode) -> set[str]:
    """Names of the exception classes the function's own body raises (not nested functions)."""
    names: set[str] = set()

    def visit(current: ast.AST) -> None:
        for child in ast.iter_child_nodes(current):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                target = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                name = target.attr if isinstance(target, ast.Attribute) else None
                if isinstance(target, ast.Name):
                    name = target.id
                if name and name[0].isupper():
                    names.add(name)
            visit(child)

    visit(node)
    return names


def _is_decorated(node: _FunctionNode, name: str) -> bool:
    return any(ast.unparse(d).split("(")[0].endswith(name) for d in node.decorator_list)


def _check_function(
    label: str,
    node: _FunctionNode,
    doc: str | None,
    *,
    method: bool,
    class_doc: str | None = None,
    protocol_doc: str | None = None,
) -> Iterator[str]:
    """Problems of one function: its docstring, Args, Returns and Raises sections."""
    is_init = node.name == "__init__"
    if doc is None and protocol_doc is None and not is_init:
        yield f"{label}: no docstring"
        return
    own = _sections(doc or "")
    for header, entries in _sections(protocol_doc or "").items():
        own.setdefault(header, []).extend(entries)
    fallback = _sections(class_doc or "") if is_init else {}
    if _is_decorated(node, "property") or _is_decorated(node, "setter"):
        return
    if method and _is_decorated(node, "staticmethod"):
        method = False
    parameters = _parameters(node, method=method)
    documented = set(own.get("Args", [])) | set(fallback.get("Args", []))
    missing = [p for p in parameters if p not in documented]
    if missing:
        where = "Args: (here or in the class docstring)" if is_init else "Args:"
        yield f"{label}: {where} does not name {', '.join(missing)}"
    unknown = [a for a in _sections(doc or "").get("Args", []) if a not in parameters]
    if unknown:
        yield f"{label}: Args: names {', '.join(unknown)}, not a parameter"
    if not is_init and _returns_value(node) and "Returns" not in own and "Yields" not in own:
        yield f"{label}: returns a value but has no Returns: section"
    raises = set(own.get("Raises", [])) | set(fallback.get("Raises", []))
    unnamed = sorted(_raised(node) - raises)
    if unnamed:
        yield f"{label}: Raises: does not name {', '.join(unnamed)}"


def _is_documented_attribute(body: list[ast.stmt], index: int, lines: list[str]) -> bool:
    """Whether the assignment at `body[index]` has an attribute docstring or a `#:` comment."""
    statement = body[index]
    following = body[index + 1] if index + 1 < len(body) else None
    if (
        isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    ):
        return True
    above = lines[statement.lineno - 2].strip() if statement.lineno >= 2 else ""
    same = lines[statement.lineno - 1]
    return above.startswith("#:") or "#:" in same


def _assigned_name(statement: ast.stmt) -> str | None:
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        if ast.unparse(statement.annotation).startswith(("ClassVar", "typing.ClassVar")):
            return None
        return statement.target.id
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return statement.targets[0].id
    return None


def _check_fields(label: str, module_name: str, node: ast.ClassDef, doc: str) -> Iterator[str]:
    """Annotated public fields of a class: in `Attributes:`, or documented where declared.

    A dataclass's fields are its constructor's parameters, so `Args:` documents them too.
    """
    sections = _sections(doc)
    listed = set(sections.get("Attributes", [])) | set(sections.get("Args", []))
    lines = _source(module_name).lines
    for index, statement in enumerate(node.body):
        if not isinstance(statement, ast.AnnAssign):
            continue
        name = _assigned_name(statement)
        if name is None or name.startswith("_") or name in listed:
            continue
        if not _is_documented_attribute(node.body, index, lines):
            yield f"{label}.{name}: field not documented (Attributes: section, docstring or #:)"


def _protocol_nodes() -> list[ast.ClassDef]:
    found = []
    for name in PROTOCOLS:
        protocol = getattr(taskstream_core, name, None)
        if protocol is None:
            continue
        node = _node(protocol.__module__, protocol.__qualname__)
        if isinstance(node, ast.ClassDef):
            found.append(node)
    return found


def _protocol_doc(cls: type, name: str) -> str | None:
    """The docstring of `name` in a public protocol that `cls` implements, if any."""
    for node in _protocol_nodes():
        methods = {
            s.name: s
            for s in node.body
            if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and not s.name.startswith("_")
        }
        if name in methods and all(hasattr(cls, m) for m in methods):
            return ast.get_docstring(methods[name])
    return None


def _constructor_arguments(cls: type) -> set[str]:
    """What a class docstring's `Args:` may name: its `__init__`'s parameters or its fields."""
    fields: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith(PACKAGE):
            continue
        node = _node(klass.__module__, klass.__qualname__)
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
                return set(_parameters(statement, method=True))
            name = _assigned_name(statement)
            if isinstance(statement, ast.AnnAssign) and name is not None:
                fields.add(name)
    return fields


def _public_methods(cls: type) -> Iterator[tuple[type, _FunctionNode]]:
    """A class's public methods and own `__init__`, each from the nearest class defining it."""
    node = _node(cls.__module__, cls.__qualname__)
    own_names = {s.name for s in getattr(node, "body", []) if isinstance(s, _FunctionNode)}
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith(PACKAGE):
            continue
        klass_node = _node(klass.__module__, klass.__qualname__)
        if not isinstance(klass_node, ast.ClassDef):
            continue
        for statement in klass_node.body:
            if not isinstance(statement, _FunctionNode) or _is_decorated(statement, "setter"):
                continue  # a setter is documented by its property's getter
            name = statement.name
            private = name.startswith("_") and not (name == "__init__" and klass is cls)
            if private or name in seen or (klass is not cls and name in own_names):
                continue
            seen.add(name)
            yield klass, statement


def _check_class(label: str, cls: type, checked: set[str]) -> Iterator[str]:
    node = _node(cls.__module__, cls.__qualname__)
    if not isinstance(node, ast.ClassDef):
        yield f"{label}: source not found"
        return
    doc = ast.get_docstring(node)
    if doc is None:
        yield f"{label}: no docstring"
    yield from _check_fields(label, cls.__module__, node, doc or "")
    accepted = _constructor_arguments(cls)
    unknown = [a for a in _sections(doc or "").get("Args", []) if a not in accepted]
    if unknown:
        yield f"{label}: Args: names {', '.join(unknown)}, not a constructor parameter"
    for klass, method in _public_methods(cls):
        key = f"{klass.__module__}.{klass.__qualname__}.{method.name}"
        if key in checked:
            continue  # inherited from a class already checked
        checked.add(key)
        yield from _check_function(
            key,
            method,
            ast.get_docstring(method),
            method=True,
            class_doc=doc,
            protocol_doc=_protocol_doc(cls, method.name),
        )


def _check_data(module_name: str, name: str) -> Iterator[str]:
    """A module-level constant: documented where it is assigned (following re-exports)."""
    source = _source(module_name)
    body = source.tree.body
    for index, statement in enumerate(body):
        if _assigned_name(statement) == name:
            if not _is_documented_attribute(body, index, source.lines):
                yield f"{module_name}.{name}: constant not documented (docstring or #:)"
            return
    for statement in body:
        if (
            isinstance(statement, ast.ImportFrom)
            and statement.level > 0
            and any((alias.asname or alias.name) == name for alias in statement.names)
        ):
            package = module_name
            if not _is_package(module_name):
                package = module_name.rpartition(".")[0]
            target = importlib.util.resolve_name(
                "." * statement.level + (statement.module or ""), package
            )
            yield from _check_data(target, name)
            return
    yield f"{module_name}.{name}: assignment not found"


def _is_package(module_name: str) -> bool:
    return hasattr(importlib.import_module(module_name), "__path__")


def _problems() -> list[str]:
    problems: list[str] = []
    checked: set[str] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        if ast.get_docstring(_source(module_name).tree) is None:
            problems.append(f"{module_name}: no module docstring")
        if not hasattr(module, "__all__"):
            problems.append(f"{module_name}: no __all__ to say what is public")
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and value.__module__.startswith(PACKAGE):
                key = f"{value.__module__}.{value.__qualname__}"
                if key not in checked:
                    checked.add(key)
                    problems.extend(_check_class(key, value, checked))
            elif isinstance(value, types.FunctionType) and value.__module__.startswith(PACKAGE):
                key = f"{value.__module__}.{value.__qualname__}"
                if key not in checked:
                    checked.add(key)
                    node = _node(value.__module__, value.__qualname__)
                    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                        problems.extend(_check_function(key, node, _docstring(node), method=False))
                    else:
                        problems.append(f"{key}: source not found")
            elif not isinstance(value, type | types.ModuleType | enum.Enum):
                key = f"{module_name}.{name}"
                if key not in checked:
                    checked.add(key)
                    problems.extend(_check_data(module_name, name))
    return problems


def test_every_public_member_has_a_reference_docstring() -> None:
    """Each public module, class, function, method, field and constant is documented."""
    problems = _problems()
    members = {problem.split(": ", 1)[0] for problem in problems}
    summary = f"{len(problems)} documentation problems in {len(members)} public members:"
    assert not problems, "\n".join([summary, *problems])
