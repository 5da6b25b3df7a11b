"""Make the embedded moto's DynamoDB spend its CPU on the request, not on re-deriving constants.

Profiled under the fire path (`python -m bench.moto_cost --profile DIR`; docs/local-stack.md has
the figures), moto 5.2.5 spends most of a fire's DynamoDB time on work whose answer does not
change from one request to the next:

- **response serialisation**: moto walks every result against botocore's output shape, member
  by member, through a generic attribute picker. For a BatchGetItem of 25 timers that was over
  four fifths of the request's CPU. An AttributeValue is already in its wire form (`{"S": "..."}`,
  `{"N": "12"}`, `{"M": {...}}`), and for every type but binary the shape walk gives it back
  unchanged; `_attribute_values_as_they_are` passes such values through as they are, and leaves
  anything with binary (`B`, `BS`: base64 on the wire) or an unexpected type to moto's own walk;
- **the backend lookup**: for every request werkzeug's dispatcher lists moto's service modules
  on disk (an `isdir` per module) and tries every URL pattern to map the request's host to a
  backend. The answer for a host does not change while the process runs: it is kept per host;
- **the update expression's parse**: UpdateItem parses its UpdateExpression twice per request
  (once to check the names and values it uses, once to run it). The parsed tree depends on the
  text only, and nothing changes it (the validator works on a deep copy): it is kept per text
  (LRU, 512 texts), with its pickle, and the validator's copy of a kept tree is unpickled from
  that (a tenth of `copy.deepcopy`'s time; the same objects: a parsed tree holds no type that
  copies itself its own way);
- **a new item's second validation**: an UpdateItem on an item that does not exist yet (every
  fire's first claim) is validated twice, once against an empty item (so that an invalid
  update creates nothing) and once against the item just created from the key, which differs
  from it by the key attributes only. When the expression names no key attribute, both give the
  same tree, and the second is the first's (`_ValidatedOnce`); when it does, moto validates again;
- **an index's projection**: a Query on an index with an INCLUDE or KEYS_ONLY projection
  (the tick's query of the due index) projects each item it returns, and moto converted the
  whole item to plain JSON once per projected attribute: 17 conversions of every timer for the
  due index's 17 attributes (in process, 3.8 of the 8.7 s of CPU a tick of 1,000 due timers
  spent on its main thread, cProfile). When every projected path is a plain top-level name,
  `_project_by_name` converts those attributes only, once each; a nested path or a list index
  is left to moto's own projection;
- **the validator's dispatch**: each of the ten passes over the update's tree rebuilt its
  processing map (a dict of bound methods) twice per node. It is built once per pass (its
  effect alone was not measured: within the noise of bench.moto_cost on a shared machine).

Each replaced spot gives moto's own answer, errors included: tests/e2e/test_moto_dynamodb_speedups.py
runs the same requests on stock and patched moto and compares them. Like the other patches it
applies to moto 5.2.5 only and checks the internals it touches first (moto_internals.require).
"""
from __future__ import annotations

import copy
import functools
import logging
import pickle
import threading
from typing import Any, Callable

log = logging.getLogger("xtimer.local")

_applied = False
PARSE_CACHE_SIZE = 512

_SCALAR_STRINGS = frozenset({"S", "N"})
_STRING_LISTS = frozenset({"SS", "NS"})
_BOOLEANS = frozenset({"BOOL", "NULL"})


def plain_attribute_value(value: Any) -> bool:
    """True if `value` is an AttributeValue whose wire form is itself: one type key, no binary,
    every string a str, every flag a bool, and so on down its maps and lists."""
    if type(value) is not dict or len(value) != 1:
        return False
    (kind, inner), = value.items()
    if kind in _SCALAR_STRINGS:
        return type(inner) is str
    if kind in _BOOLEANS:
        return type(inner) is bool
    if kind in _STRING_LISTS:
        return type(inner) is list and all(type(s) is str for s in inner)
    if kind == "M":
        return type(inner) is dict and all(type(k) is str and plain_attribute_value(v) for k, v in inner.items())
    if kind == "L":
        return type(inner) is list and all(plain_attribute_value(v) for v in inner)
    return False  # B, BS (base64 on the wire), or something moto's own walk should judge


def _attribute_values_as_they_are(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and plain_attribute_value(value):
            serialized[self.get_serialized_name(shape, key)] = value
            return
        original(self, serialized, value, shape, key)
    return _serialize_type_structure


def _backend_per_host(original: Callable[[Any, str | None], Any]) -> Callable[[Any, str | None], Any]:
    lock = threading.Lock()

    @functools.wraps(original)
    def get_backend_for_host(self: Any, host: str | None) -> Any:
        cache = self.__dict__.get("_xtimer_backends")
        if cache is None:
            with lock:
                cache = self.__dict__.setdefault("_xtimer_backends", {})
        if host in cache:
            return cache[host]
        backend = original(self, host)
        cache[host] = backend
        return backend
    return get_backend_for_host


def _parse_per_text(original: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_and_pickle(expression_str: str) -> Any:
        tree = original(expression_str)
        pickled = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
        tree.__dict__[_PICKLED] = pickled  # after pickling: copies made from it do not carry it
        return tree

    cached = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(parse_and_pickle)

    def make(expression_str: str) -> Any:
        return cached(expression_str)
    make.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return make


class _ValidatedOnce:
    """The last validation of this thread, kept for the second validation of a new item."""

    def __init__(self) -> None:
        self._last = threading.local()

    def validate(self, validator: Any, original: Callable[[Any], Any]) -> Any:
        last = getattr(self._last, "entry", None)
        self._last.entry = None
        item = validator.item
        if (last is not None and last[0] is validator.node_to_validate_source
                and last[1] is validator.expression_attribute_names
                and last[2] is validator.expression_attribute_values and last[3] is validator.table
                and set(item.attrs) <= set(validator.table.table_key_attrs)
                and not names_in(validator.node_to_validate_source, validator.expression_attribute_names)
                & set(validator.table.table_key_attrs)):
            return last[4]  # the new item, created from its key: the same validation as on the empty one
        validated = original(validator)
        if not item.attrs:  # moto's check of a new item's update before it creates the item
            self._last.entry = (validator.node_to_validate_source, validator.expression_attribute_names,
                                validator.expression_attribute_values, validator.table, validated)
        return validated


def names_in(tree: Any, placeholders: dict[str, str] | None) -> set[str]:
    """Every attribute name an update expression's tree refers to, placeholders resolved."""
    from moto.dynamodb.parsing.ast_nodes import ExpressionAttribute, ExpressionAttributeName, Node

    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ExpressionAttribute):
            found.add(node.get_attribute_name())
        elif isinstance(node, ExpressionAttributeName):
            placeholder = node.get_attribute_name_placeholder()
            found.add((placeholders or {}).get(placeholder, placeholder))
        elif isinstance(node, Node) and node.children:
            stack.extend(node.children)
    return found


_PICKLED = "_xtimer_pickled"


def _copy_tree(value: Any, memo: Any = None) -> Any:
    """deepcopy, from the pickle kept beside a parsed tree when there is one."""
    pickled = getattr(value, "__dict__", {}).get(_PICKLED)
    if pickled is not None and memo is None:
        return pickle.loads(pickled)
    return copy.deepcopy(value, memo)


def _project_by_name(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.models.dynamo_type import Item, deserializer, serializer

    @functools.wraps(original)
    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        names: dict[str, None] = {}  # ordered and unique, as moto's merge of the projections leaves them
        for path in projection_expressions:
            if len(path) != 1 or "[" in path[0]:
                return original(self, projection_expressions)
            names[path[0]] = None
        result = {name: deserializer.deserialize(self.attrs[name].to_regular_json())
                  for name in names if name in self.attrs}
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=serializer.serialize(result)["M"])
    return project


def _map_once(self: Any) -> dict[type, Callable[[Any], Any]]:
    processing = self.__dict__.get("_xtimer_map")
    if processing is None:
        processing = self.__dict__["_xtimer_map"] = self._processing_map()
    return processing


def apply() -> bool:
    """Patch moto's DynamoDB serialisation, dispatch and expression handling in this process;
    raises UnsupportedMoto (nothing changed) if the internals it touches are not as expected."""
    global _applied
    if _applied:
        return True
    import moto
    from moto.core import serialize
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.parsing import ast_nodes, expressions, validators
    from moto.moto_server import werkzeug_app

    from xtimer_local.moto_internals import require

    require(serialize.BaseJSONSerializer, "_serialize_type_structure", ("self", "serialized", "value", "shape", "key"))
    require(serialize.ResponseSerializer, "get_serialized_name", ("self", "shape", "default_name"))
    require(werkzeug_app.DomainDispatcherApplication, "get_backend_for_host", ("self", "host"))
    require(expressions.UpdateExpressionParser, "make", ("expression_str",))
    require(ast_nodes.DepthFirstTraverser, "nodes_to_be_processed", ("self",))
    require(ast_nodes.DepthFirstTraverser, "process", ("self", "node"))
    require(ast_nodes.DepthFirstTraverser, "_processing_map", ("self",))
    require(validators, "deepcopy", ("x", "memo", "_nil"))
    require(dynamo_type.Item, "project", ("self", "projection_expressions"))
    require(dynamo_type.Item, "__init__", ("self", "hash_key", "range_key", "attrs"))
    require(dynamo_type, "deserializer")
    require(dynamo_type, "serializer")
    require(validators.Validator, "validate", ("self",))
    require(validators.Validator, "__init__", ("self", "expression", "expression_attribute_names",
                                               "expression_attribute_values", "item", "table"))

    json_serializer = serialize.BaseJSONSerializer
    json_serializer._serialize_type_structure = _attribute_values_as_they_are(  # type: ignore[method-assign]
        json_serializer._serialize_type_structure)

    dispatcher = werkzeug_app.DomainDispatcherApplication
    dispatcher.get_backend_for_host = _backend_per_host(dispatcher.get_backend_for_host)  # type: ignore[method-assign]

    parser = expressions.UpdateExpressionParser
    parser.make = staticmethod(_parse_per_text(parser.make))  # type: ignore[method-assign]

    validators.deepcopy = _copy_tree  # the validator's copy of the tree (and if_not_exists' of a value)

    update_validator = validators.UpdateExpressionValidator
    original_init = update_validator.__init__
    original_validate = validators.Validator.validate
    once = _ValidatedOnce()

    @functools.wraps(original_init)
    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, expression, *args, **kwargs)
        self.node_to_validate_source = expression  # the parsed tree itself, not the validator's copy

    def validate(self: Any) -> Any:
        return once.validate(self, original_validate)

    update_validator.__init__ = __init__  # type: ignore[method-assign]
    update_validator.validate = validate  # type: ignore[method-assign]

    dynamo_type.Item.project = _project_by_name(dynamo_type.Item.project)  # type: ignore[method-assign]

    traverser = ast_nodes.DepthFirstTraverser

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        kinds = self.__dict__.get("_xtimer_kinds")
        if kinds is None:
            kinds = self.__dict__["_xtimer_kinds"] = tuple(_map_once(self).keys())
        return kinds

    def process(self: Any, node: Any) -> Any:
        for class_key, processor in _map_once(self).items():
            if isinstance(node, class_key):
                return processor(node)
        return None

    traverser.nodes_to_be_processed = nodes_to_be_processed  # type: ignore[method-assign]
    traverser.process = process  # type: ignore[method-assign]
    _applied = True
    log.info("moto %s: DynamoDB speed-ups applied (serialisation, backend lookup, update expressions, "
             "index projections)",
             moto.__version__)
    return True
