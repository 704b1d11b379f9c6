"""Type messages: the TypeEncoder (ids, order, the incomplete flag) and the
TypeDecoder (wire definitions -> vdl.Types)."""
from __future__ import annotations

# (_thread, not threading: the same C locks without importing threading.py)
from _thread import RLock as _RLock
import weakref

from v23py import verror
from v23py import vdl as T
from v23py.vdl import Kind, Type
from v23py.vom._binary import (
    CONTROL_END, CONTROL_INCOMPLETE, MAX_MESSAGE_LEN, VERSION_81, Truncated, dec_int, dec_len,
    dec_uint, enc_int, enc_uint, error, COUNTS)

FIRST_USER_ID = 41

BOOTSTRAP_IDS: dict[Type, int] = {
    T.BoolType: 1, T.ByteType: 2, T.StringType: 3, T.Uint16Type: 4, T.Uint32Type: 5,
    T.Uint64Type: 6, T.Int16Type: 7, T.Int32Type: 8, T.Int64Type: 9, T.Float32Type: 10,
    T.Float64Type: 11, T.TypeObjectType: 14, T.AnyType: 15, T.Int8Type: 16,
    T.ByteListType: 39, T.StringListType: 40,
}
BOOTSTRAP_TYPES: dict[int, Type] = {i: t for t, i in BOOTSTRAP_IDS.items()}
_KIND_IDS = {t.kind: i for t, i in BOOTSTRAP_IDS.items() if t.kind in T.PRIMITIVE_KINDS}
_ID_KINDS = {i: k for k, i in _KIND_IDS.items()}

_BUILTIN_NAMED = frozenset((T.WireErrorType, T.WireRetryCodeType))   # no class, always alive

# WireType union indexes
W_NAMED, W_ENUM, W_ARRAY, W_LIST, W_SET, W_MAP, W_STRUCT, W_UNION, W_OPTIONAL = range(9)
# the wire definition of each kind (named primitives: W_NAMED)
_WIRE_KINDS = {k: W_NAMED for k in T.PRIMITIVE_KINDS}
_WIRE_KINDS.update({Kind.ENUM: W_ENUM, Kind.ARRAY: W_ARRAY, Kind.LIST: W_LIST, Kind.SET: W_SET,
                    Kind.MAP: W_MAP, Kind.STRUCT: W_STRUCT, Kind.UNION: W_UNION,
                    Kind.OPTIONAL: W_OPTIONAL})


def _set(d: dict, k, v) -> bool:
    d[k] = v
    return True


def _enc_str(buf: bytearray, s: str) -> None:
    b = s.encode("utf-8")
    enc_uint(buf, len(b))
    buf += b


class TypeEncoder:
    """Assigns ids to types and writes their type messages (ids from 41).

    One per stream, or per connection in RPC.  Type messages accumulate in an
    internal buffer; ``take_bytes()`` hands them over, preceded by the version
    byte the first time anything is written.
    """

    def __init__(self, write_version: bool = True):
        self._ids: dict[Type, int] = {}
        self._next = FIRST_USER_ID
        self._out = bytearray()
        self._version_pending = write_version
        self._lock = _RLock()
        # The root types encoded so far, in order, while there are few: together with
        # the bootstrap ids they fix this encoder's state, so what encoding a new root
        # writes can be taken from _ENCODED (None: too many roots to remember).
        self._roots: tuple | None = ()
        # type -> plan of a value message (vom._plan) for types without any/typeobject;
        # filled by encode_value_message
        self.value_plans: dict = {}
        self.value_plans_by_id: dict = {}   # id(type) -> plan + (type,): no Type.__hash__ call
        # id(type) -> plan of a value message with type or any-length tables (filled
        # by encode_value_message too), ending with the type as above
        self.table_plans_by_id: dict = {}
        # id(type) -> (type id, type) of types already given an id: a message's any
        # finds its type's id without Type.__hash__ (the type is kept, so its id stays
        # unique; bounded, as types may be made per value)
        self._ids_by_object: dict = {}

    def take_bytes(self) -> bytes:
        if not self._out:
            return b""
        with self._lock:
            out = bytes(self._out)
            self._out.clear()
            return out

    def lookup(self, t: Type) -> int:
        return BOOTSTRAP_IDS.get(t) or self._ids.get(t, 0)

    def encode_type(self, t: Type) -> int:
        """The id of ``t``, writing its type messages (and its children's) if new."""
        known = self._ids_by_object.get(id(t))
        if known is not None:
            return known[0]
        tid = self._encode_type(t)
        if len(self._ids_by_object) < _MAX_IDS_BY_OBJECT:
            self._ids_by_object[id(t)] = (tid, t)
        return tid

    def _encode_type(self, t: Type) -> int:
        tid = BOOTSTRAP_IDS.get(t) or self._ids.get(t)
        if tid:
            return tid
        with self._lock:
            roots = self._roots
            if roots is None:
                return self._encode(t, [])
            key = (roots, t)
            self._roots = None   # until this root is written whole
            done = _ENCODED.get(key)
            if done is not None:
                tid = self._replay(*done)
            else:
                tid = self._encode_new_root(key, t)
            if len(roots) < _MAX_ROOTS and len(t.unique()) <= _MAX_ENCODED_UNIQUE \
                    and _all_ours(t):
                self._roots = roots + (t,)
            return tid

    def _encode_new_root(self, key: tuple, t: Type) -> int:
        start, first = len(self._out), self._next
        version = self._version_pending
        tid = self._encode(t, [])
        if len(t.unique()) <= _MAX_ENCODED_UNIQUE and _all_ours(t):
            # every type in the key is small and ours too (a root joins the roots only so)
            written = bytes(self._out[start + 1 if version else start:])
            ids = tuple((x, i) for x, i in self._ids.items() if i >= first)
            _remember(_ENCODED, _MAX_ENCODED, key, (written, ids, self._next, tid))
        return tid

    def _replay(self, written: bytes, ids: tuple, next_id: int, tid: int) -> int:
        """Take the state an identical encoder reached by encoding the same roots."""
        out = self._out
        if self._version_pending:
            out.append(VERSION_81)
            self._version_pending = False
        out += written
        self._ids.update(ids)
        self._next = next_id
        COUNTS.types_encoded += len(ids)
        return tid

    def _encode(self, t: Type, pending: list) -> int:
        tid = BOOTSTRAP_IDS.get(t) or self._ids.get(t)
        if tid:
            return tid
        tid = self._next
        self._next += 1
        self._ids[t] = tid
        COUNTS.types_encoded += 1
        prev = pending
        pending = pending + [t]
        k = t.kind
        wire = bytearray()
        if k in T.PRIMITIVE_KINDS:
            wire.append(W_NAMED)
            wire.append(0)
            _enc_str(wire, t.name)
            wire.append(1)
            enc_uint(wire, _KIND_IDS[k])
        elif k == Kind.ENUM:
            wire.append(W_ENUM)
            if t.name:
                wire.append(0)
                _enc_str(wire, t.name)
            if t.labels:
                wire.append(1)
                enc_uint(wire, len(t.labels))
                for label in t.labels:
                    _enc_str(wire, label)
        elif k in (Kind.ARRAY, Kind.LIST, Kind.OPTIONAL):
            elem = self._encode(t.elem, pending)
            wire.append({Kind.ARRAY: W_ARRAY, Kind.LIST: W_LIST, Kind.OPTIONAL: W_OPTIONAL}[k])
            if t.name:
                wire.append(0)
                _enc_str(wire, t.name)
            wire.append(1)
            enc_uint(wire, elem)
            if k == Kind.ARRAY and t.len:
                wire.append(2)
                enc_uint(wire, t.len)
        elif k == Kind.SET:
            key = self._encode(t.key, pending)
            wire.append(W_SET)
            if t.name:
                wire.append(0)
                _enc_str(wire, t.name)
            wire.append(1)
            enc_uint(wire, key)
        elif k == Kind.MAP:
            key = self._encode(t.key, pending)
            elem = self._encode(t.elem, pending)
            wire.append(W_MAP)
            if t.name:
                wire.append(0)
                _enc_str(wire, t.name)
            wire.append(1)
            enc_uint(wire, key)
            wire.append(2)
            enc_uint(wire, elem)
        elif k in (Kind.STRUCT, Kind.UNION):
            ids = [self._encode(f.type, pending) for f in t.fields]
            wire.append(W_STRUCT if k == Kind.STRUCT else W_UNION)
            if t.name:
                wire.append(0)
                _enc_str(wire, t.name)
            if t.fields:
                wire.append(1)
                enc_uint(wire, len(t.fields))
                for f, fid in zip(t.fields, ids):
                    wire.append(0)
                    _enc_str(wire, f.name)
                    wire.append(1)
                    enc_uint(wire, fid)
                    wire.append(CONTROL_END)
        else:
            raise verror.BadArg.new(f"vom: cannot encode type {t}")
        wire.append(CONTROL_END)  # ends the wire struct held by the WireType union
        complete = not (prev and _reaches_any(t, prev))
        out = self._out
        if self._version_pending:
            out.append(VERSION_81)
            self._version_pending = False
        if not complete:
            out.append(CONTROL_INCOMPLETE)
        enc_int(out, -tid)
        enc_uint(out, len(wire))
        out += wire
        return tid


def _remember(memo: dict, bound: int, key, value) -> None:
    """memo[key] = value, forgetting the oldest entry when memo is full (so a peer that
    fills it only evicts, never disables it)."""
    while len(memo) >= bound:
        try:
            del memo[next(iter(memo))]
        except (RuntimeError, StopIteration, KeyError):   # another thread got there
            break
    memo[key] = value


# What a fresh encoder writes for its first few root types, by the roots so far: every
# connection encodes the same RPC headers first, and their type messages (~30 types)
# cost ~0.2 ms to write.  The bounds keep it small whatever types a peer makes us send.
_MAX_ROOTS = 4
_MAX_IDS_BY_OBJECT = 4096
_MAX_ENCODED = 128
_MAX_ENCODED_UNIQUE = 8 << 10
_ENCODED: dict = {}


def _named_candidate(name: str):
    """The type named ``name`` a peer's definition most likely means: the one this
    process has a class for, else the latest interned one (another type of the same name
    may have been made since, e.g. by a peer)."""
    cls = T.class_by_name(name)
    t = getattr(cls, "_vdl_type", None) if cls is not None else None
    if isinstance(t, Type) and t.name == name:
        return t
    return T.named_type(name)


def _ours(t: Type) -> bool:
    """Whether ``t`` lives for the whole process anyway: unnamed, built in, or a type
    this process has a class for (a peer's own named types must not be kept, B4)."""
    return not t.name or t in _BUILTIN_NAMED or T.registered_class(t) is not None


def _all_ours(t: Type) -> bool:
    return not _reaches(t, lambda x: not _ours(x))


def _reaches_any(t: Type, targets: list) -> bool:
    return _reaches(t, set(targets).__contains__)


def _reaches(t: Type, pred) -> bool:
    """Whether ``pred`` holds for ``t`` or any type inside it."""
    return any(pred(x) for x in t.walk())


class _WireDef:
    __slots__ = ("kind", "name", "elem", "key", "fields", "labels", "len")

    def __init__(self):
        self.kind = None
        self.name = ""
        self.elem = 0
        self.key = 0
        self.fields = []
        self.labels = []
        self.len = 0


def _dec_str(data, pos):
    n, pos = dec_len(data, pos)
    try:
        return bytes(data[pos:pos + n]).decode("utf-8"), pos + n
    except UnicodeDecodeError:
        raise error("invalid UTF-8 in a type name or label") from None


def parse_wire_type(data) -> _WireDef:
    """Decode one WireType value (the body of a type message)."""
    w = _WireDef()
    idx, pos = dec_uint(data, 0)
    if idx > W_OPTIONAL:
        raise error(f"unknown wire type index {idx}")
    w.kind = idx
    while True:
        if pos >= len(data):
            raise error("truncated wire type")
        if data[pos] == CONTROL_END:
            pos += 1
            break
        f, pos = dec_uint(data, pos)
        if f == 0:
            w.name, pos = _dec_str(data, pos)
        elif idx == W_NAMED and f == 1:
            w.elem, pos = dec_uint(data, pos)
        elif idx == W_ENUM and f == 1:
            n, pos = dec_len(data, pos)
            labels = []
            for _ in range(n):
                s, pos = _dec_str(data, pos)
                labels.append(s)
            w.labels = labels
        elif idx in (W_ARRAY, W_LIST, W_OPTIONAL) and f == 1:
            w.elem, pos = dec_uint(data, pos)
        elif idx == W_ARRAY and f == 2:
            w.len, pos = dec_uint(data, pos)
            if w.len > MAX_MESSAGE_LEN:
                raise error(f"array length {w.len} too large")
        elif idx == W_SET and f == 1:
            w.key, pos = dec_uint(data, pos)
        elif idx == W_MAP and f == 1:
            w.key, pos = dec_uint(data, pos)
        elif idx == W_MAP and f == 2:
            w.elem, pos = dec_uint(data, pos)
        elif idx in (W_STRUCT, W_UNION) and f == 1:
            n, pos = dec_len(data, pos)
            fields = []
            for _ in range(n):
                fname, ftype = "", 0
                while True:
                    if pos >= len(data):
                        raise error("truncated wire field")
                    if data[pos] == CONTROL_END:
                        pos += 1
                        break
                    ff, pos = dec_uint(data, pos)
                    if ff == 0:
                        fname, pos = _dec_str(data, pos)
                    elif ff == 1:
                        ftype, pos = dec_uint(data, pos)
                    else:
                        raise error(f"bad wire field index {ff}")
                fields.append((fname, ftype))
            w.fields = fields
        else:
            raise error(f"bad field index {f} in wire type {idx}")
    if pos != len(data):
        raise error("leftover bytes after a wire type")
    return w


# Every connection of a peer sends the same type definitions (a Go client: some 34 for
# the blessings and the request header).  Built groups of types (by what the definitions
# say) are shared by the type streams alive in the process, so a conn opened while others
# are up does not build its types again.  The sharing is weak: a peer's types live only
# as long as a stream that defined them (issue 12, B4: peer-defined types are freed with
# their connection).
_GROUPS: "weakref.WeakValueDictionary[tuple, _Group]" = weakref.WeakValueDictionary()


class _Group:
    """The types one group of definitions built, held by every stream that uses them."""
    __slots__ = ("types", "__weakref__")

    def __init__(self, types):
        self.types = types


# What decoding each type message did, by the messages a stream began with: every
# connection of a peer starts with the same definitions (a Go client: ~34 types for its
# blessings and request header, each in its own flow write, ~0.5 ms to parse and build).
# A node maps a message's bytes to (the next node, its effect).  Only small messages,
# early in a stream, that define types this process has classes for (or unnamed ones
# made of them) are remembered, and only so many: when the trie is full it is dropped and
# begun again.  So a peer's own types still go with its streams (issue 12, B4).
_TRIE_DEPTH = 64
_TRIE_NODES = 1024
_TRIE_MESSAGE = 1024
_TRIE_UNIQUE = 4 << 10
_trie: dict = {}
_trie_size = [0]
_trie_gen = [0]     # bumps when the trie is dropped: older streams stop adding to it


class TypeDecoder:
    """Builds types from type messages.  Feed it the bytes of a type flow
    (``feed``), or let a Decoder hand it the type messages of a single stream."""

    # Bounds on what one peer's stream may make us hold (Go's own types total ~30 KB of
    # unique strings; a connection rarely defines more than a few hundred types).
    MAX_TYPES = 1 << 14
    MAX_UNIQUE_TOTAL = 4 << 20

    def __init__(self):
        self._wire: dict[int, _WireDef] = {}
        self._built: dict[int, Type] = {}
        self._groups: list[_Group] = []   # keeps this stream's shared groups alive
        self._buf = bytearray()
        self._version_read = False
        self._err: verror.VError | None = None
        self._unique_total = 0
        self._node: dict | None = _trie   # where this stream's messages so far lead
        self._gen = _trie_gen[0]
        self._depth = 0
        # Decoding plans of value messages by their leading id bytes, shared by every
        # Decoder of this type stream (type ids never change meaning within a stream).
        self.value_plans: dict = {}

    # -- split (RPC) mode: a stream of type messages only ---------------------
    def feed(self, data: bytes) -> None:
        """Add bytes of the type stream; complete messages are processed now."""
        if self._err:
            raise self._err
        self._buf += data
        buf = self._buf
        pos = 0
        try:
            if not self._version_read:
                if not buf:
                    return
                if buf[0] != VERSION_81:
                    raise error(f"bad version byte 0x{buf[0]:02x}")
                self._version_read = True
                pos = 1
            while pos < len(buf):
                start = pos
                try:
                    pos = self.read_type_message(buf, pos)
                except Truncated:
                    pos = start
                    break
        except verror.VError as e:
            self._err = e
            raise
        del buf[:pos]

    def read_type_message(self, data, pos: int) -> int:
        """Parse one type message at ``pos``; returns the new position."""
        start = pos
        incomplete = False
        if data[pos] == CONTROL_INCOMPLETE:
            incomplete = True
            pos += 1
        mid, pos = dec_int(data, pos)
        if mid >= 0:
            raise error(f"expected a type message, got message id {mid}")
        n, pos = dec_uint(data, pos)
        if n > MAX_MESSAGE_LEN:
            raise error(f"message length {n} too large")
        if pos + n > len(data):
            raise Truncated()
        end = pos + n
        node = self._node
        if node is None:
            self.add_wire_type(-mid, bytes(data[pos:end]), incomplete)
            return end
        msg = bytes(data[start:end])
        hit = node.get(msg)
        if hit is not None:
            self._node, effect = hit
            self._take(*effect)
            return end
        self._node = None    # until this message is processed whole
        unique = self._unique_total
        built = self.add_wire_type(-mid, bytes(data[pos:end]), incomplete)
        self._depth += 1
        added = self._unique_total - unique
        if (self._depth >= _TRIE_DEPTH or len(msg) > _TRIE_MESSAGE or added > _TRIE_UNIQUE
                or self._gen != _trie_gen[0]):
            return end
        if _trie_size[0] >= _TRIE_NODES:
            _trie.clear()
            _trie_size[0] = 0
            _trie_gen[0] += 1
            return end
        if not all(_ours(t) for _, t in built):
            return end   # a peer's own named types are freed with its streams (B4)
        child: dict = {}
        tid = -mid
        effect = (tid, self._wire.get(tid), tuple(built), self._groups[-1] if built else None,
                  added)
        node[msg] = (child, effect)
        _trie_size[0] += 1
        self._node = child
        return end

    def _take(self, tid, wire, built, group, added) -> None:
        """Do what processing the same message did to a stream in the same state."""
        if tid in self._wire or tid in self._built:
            raise error(f"type id {tid} defined twice")
        if wire is not None:
            self._wire[tid] = wire
        for i, t in built:
            self._built[i] = t
            self._wire.pop(i, None)
        if group is not None:
            self._groups.append(group)
        self._unique_total += added
        self._depth += 1
        COUNTS.types_decoded += 1

    def add_wire_type(self, tid: int, body: bytes, incomplete: bool) -> list | tuple:
        """Take one definition; returns the (id, Type) pairs it completed."""
        if tid < FIRST_USER_ID:
            raise error(f"type id {tid} below the first user id")
        if tid in self._wire or tid in self._built:
            raise error(f"type id {tid} defined twice")
        if len(self._wire) + len(self._built) >= self.MAX_TYPES:
            raise error("too many types on one stream")
        self._wire[tid] = parse_wire_type(body)
        COUNTS.types_decoded += 1
        if incomplete:
            return ()
        try:
            return self._build(tid)
        except RecursionError:   # (matching known types or building new ones)
            raise error("type definitions nested too deeply") from None

    def lookup(self, tid: int):
        """The Type for ``tid``, or None if it has not (completely) arrived."""
        t = BOOTSTRAP_TYPES.get(tid) or self._built.get(tid)
        return t

    def _build(self, tid: int) -> list:
        # Gather every unbuilt id reachable from tid.
        todo = [tid]
        group: list[int] = []
        seen = set()
        while todo:
            i = todo.pop()
            if i in seen or i in self._built or i in BOOTSTRAP_TYPES:
                continue
            seen.add(i)
            w = self._wire.get(i)
            if w is None:
                raise error(f"unknown type id {i}")
            group.append(i)
            if w.kind != W_NAMED:
                for ref in (w.elem, w.key):
                    if ref:
                        todo.append(ref)
                todo.extend(ft for _, ft in w.fields)
        known = self._known(tid, group)
        if known is not None:
            types = tuple(known[i] for i in group)
            self._hold(types)
            self._groups.append(_Group(types))   # (alive anyway; as every build records one)
            for i, t in zip(group, types):
                self._built[i] = t
                del self._wire[i]
            return list(zip(group, types))
        key = self._group_key(group)
        hit = _GROUPS.get(key)
        if hit is not None:
            self._hold(hit.types)
            self._groups.append(hit)
            for i, t in zip(group, hit.types):
                self._built[i] = t
                del self._wire[i]
            return list(zip(group, hit.types))
        b = T.TypeBuilder()
        pend = {}
        for i in group:
            w = self._wire[i]
            if w.kind == W_NAMED:
                k = _ID_KINDS.get(w.elem)
                if k is None:
                    raise error(f"named type {w.name!r} has non-primitive base id {w.elem}")
                pend[i] = b.named(w.name, k)
            elif w.kind == W_ENUM:
                pend[i] = b.enum(w.name, w.labels)
            elif w.kind == W_ARRAY:
                pend[i] = b.array(None, w.len, w.name)
            elif w.kind == W_LIST:
                pend[i] = b.list(None, w.name)
            elif w.kind == W_SET:
                pend[i] = b.set(None, w.name)
            elif w.kind == W_MAP:
                pend[i] = b.map(None, None, w.name)
            elif w.kind == W_STRUCT:
                pend[i] = b.struct(w.name)
            elif w.kind == W_UNION:
                pend[i] = b.union(w.name)
            elif w.kind == W_OPTIONAL:
                if w.name:
                    raise error("optional types cannot be named")
                pend[i] = b.optional(None)

        def ref(x):
            if x in pend:
                return pend[x]
            t = BOOTSTRAP_TYPES.get(x) or self._built.get(x)
            if t is None:
                raise error(f"unknown type id {x}")
            return t

        for i in group:
            w, p = self._wire[i], pend[i]
            if w.kind in (W_ARRAY, W_LIST, W_OPTIONAL, W_MAP):
                if not w.elem:
                    raise error(f"type {i} has no elem")
                p.elem = ref(w.elem)
            if w.kind in (W_SET, W_MAP):
                if not w.key:
                    raise error(f"type {i} has no key")
                p.key = ref(w.key)
            if w.kind in (W_STRUCT, W_UNION):
                for fname, ft in w.fields:
                    if not fname:
                        raise error(f"type {i} has a field without a name")
                    p.append_field(fname, ref(ft))
        try:
            self._unique_total += b.build(max_unique=self.MAX_UNIQUE_TOTAL - self._unique_total)
        except verror.VError as e:
            raise error(f"invalid type definition: {e.msg}") from None
        for i in group:
            self._built[i] = pend[i].built
            del self._wire[i]
        g = _Group(tuple(pend[i].built for i in group))
        self._groups.append(g)
        _GROUPS[key] = g
        return [(i, pend[i].built) for i in group]

    def _hold(self, types) -> None:
        """Count the unique strings of ``types``, found made already (not built here, where
        the builder counts them), toward what this stream may make us hold."""
        n = sum(len(t.unique()) for t in types)
        if n > self.MAX_UNIQUE_TOTAL - self._unique_total:
            raise error(f"invalid type definition: {T.TYPE_TOO_LARGE}")
        self._unique_total += n

    def _known(self, tid: int, group: list) -> dict | None:
        """{id: Type} when the definitions of ``group`` are exactly types this process
        has already made (the usual case: a peer sends the types both sides' generated
        code declares), else None.  A named definition is matched to the interned type of
        its name, and everything it refers to to that type's parts, recursively: a match
        is a type with the same unique string, which building would return anyway (after
        computing unique strings, interning and checks; most of a short-lived tool's
        decoding).  An unnamed definition left over is matched as the interned type made
        of its matched parts."""
        cand: dict[int, Type] = {}
        wire = self._wire
        built = self._built

        def match(i: int, t: Type) -> bool:
            # (a type's parts need not be the interned objects: compare by unique string)
            got = BOOTSTRAP_TYPES.get(i) or built.get(i) or cand.get(i)
            if got is not None:
                return got is t or got == t
            w = wire.get(i)
            if w is None or w.name != t.name or _WIRE_KINDS.get(t.kind) != w.kind:
                return False
            k = w.kind
            if k == W_NAMED:
                return _ID_KINDS.get(w.elem) == t.kind and _set(cand, i, t)
            if k == W_ENUM:
                return tuple(w.labels) == t.labels and _set(cand, i, t)
            if k == W_ARRAY and w.len != t.len:
                return False
            if k in (W_STRUCT, W_UNION):
                if len(w.fields) != len(t.fields):
                    return False
                cand[i] = t
                for (fname, ft), f in zip(w.fields, t.fields):
                    if fname != f.name or not match(ft, f.type):
                        return False
                return True
            cand[i] = t
            if k in (W_SET, W_MAP) and not (w.key and match(w.key, t.key)):
                return False
            return k == W_SET or bool(w.elem and match(w.elem, t.elem))

        for i in group:
            w = wire[i]
            if w.name and i not in cand:
                t = _named_candidate(w.name)
                if t is None or not match(i, t):
                    return None
        left = [i for i in group if i not in cand]
        while left:   # unnamed ones not reached from a named one (e.g. []T at the top)
            i = left.pop()
            t = self._made_of(wire[i], cand)
            if t is None or not match(i, t):
                return None
        return {i: T.canonical(t) for i, t in cand.items()}

    def _made_of(self, w: _WireDef, cand: dict):
        """The interned unnamed type of definition ``w`` when its parts are known."""
        def part(x):
            return BOOTSTRAP_TYPES.get(x) or self._built.get(x) or cand.get(x)
        elem, key = part(w.elem), part(w.key)
        try:
            if w.kind == W_LIST and elem is not None:
                return T.list_of(elem)
            if w.kind == W_ARRAY and elem is not None:
                return T.array_of(elem, w.len)
            if w.kind == W_SET and key is not None:
                return T.set_of(key)
            if w.kind == W_MAP and key is not None and elem is not None:
                return T.map_of(key, elem)
            if w.kind == W_OPTIONAL and elem is not None:
                return T.optional(elem)
        except verror.VError:
            return None
        return None

    def _group_key(self, group):
        """Everything the definitions of ``group`` say, with their references to types
        built before as those Types and references inside the group as positions: equal
        keys build equal types, whichever ids a stream gave them."""
        at = {i: n for n, i in enumerate(group)}
        built = self._built

        def ref(x):
            if not x:
                return None
            n = at.get(x)
            if n is not None:
                return n
            t = BOOTSTRAP_TYPES.get(x) or built.get(x)
            if t is None:
                raise error(f"unknown type id {x}")
            return t
        return tuple((w.kind, w.name, tuple(w.labels), w.len, ref(w.elem), ref(w.key),
                      tuple((f, ref(ft)) for f, ft in w.fields))
                     for w in map(self._wire.__getitem__, group))
