"""The VDL type system: kinds, types, values and the registry of classes by
Go wire name.  The compiler lives in ``v23py.vdl.compiler``.

    t = vdl.struct("fortune/ifc.Pair", [("A", vdl.StringType), ("B", vdl.Int32Type)])
    Pair = vdl.class_for(t)           # or a registered/generated class
    p = Pair(A="x", B=3)
    vdl.type_of(p) is t
"""
from v23py.vdl._types import (  # noqa: F401
    AnyListType, AnyType, BoolType, ByteListType, ByteType, ErrorType, Field, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, Kind, PendingType, StringListType,
    StringType, Type, TypeBuilder, TypeObjectType, Uint16Type, Uint32Type, Uint64Type,
    WireErrorType, WireRetryCodeType, array_of, enum_type, list_of, map_of, named, optional,
    primitive, set_of, struct, union, FLOAT_KINDS, INT_KINDS, INT_RANGES, MAX_TYPE_DEPTH,
    PRIMITIVE_KINDS, TYPE_TOO_LARGE, named_type)
from v23py.vdl._types import _intern as canonical  # noqa: F401 (the interned equal type)
from v23py.vdl._values import (  # noqa: F401
    Enum, NamedBool, Struct, Typed, Union, base_class, class_by_name, class_for, convert,
    optional_class, optional_value, register, register_type, registered_class, type_of, unwrap,
    value, zero, zero_maker)

enum = enum_type  # vdl.enum(name, labels), as in the contract

__all__ = [
    "Kind", "Type", "Field", "TypeBuilder", "PendingType",
    "AnyType", "BoolType", "ByteType", "Uint16Type", "Uint32Type", "Uint64Type", "Int8Type",
    "Int16Type", "Int32Type", "Int64Type", "Float32Type", "Float64Type", "StringType",
    "TypeObjectType", "ErrorType", "ByteListType", "StringListType", "AnyListType",
    "named", "list_of", "array_of", "set_of", "map_of", "optional", "struct", "union", "enum",
    "enum_type", "primitive",
    "Struct", "Union", "Enum", "NamedBool", "Typed", "register", "register_type",
    "registered_class", "class_for", "class_by_name", "type_of", "unwrap", "value", "convert",
    "optional_class", "optional_value",
    "zero",
]
