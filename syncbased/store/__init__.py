"""Syncbase storage: ordered byte-key engines and the watchable transactional store."""
from syncbased.store.engine import MemEngine, SqliteEngine, open_engine
from syncbased.store.core import (
    Store, Snapshot, Transaction, LogEntry, GetOp, ScanOp, PutOp, DeleteOp,
    SyncgroupOp, SyncSnapshotOp, DbStateChangeRequestOp, log_key, parse_log_key,
    encode_log_entry, decode_log_entry, new_version, SEP, LOG_PREFIX, VERSION_PREFIX,
    ConcurrentTransaction,
)

__all__ = [
    "MemEngine", "SqliteEngine", "open_engine", "Store", "Snapshot", "Transaction",
    "LogEntry", "GetOp", "ScanOp", "PutOp", "DeleteOp", "SyncgroupOp", "SyncSnapshotOp",
    "DbStateChangeRequestOp", "log_key", "parse_log_key", "encode_log_entry",
    "decode_log_entry", "new_version", "SEP", "LOG_PREFIX", "VERSION_PREFIX",
    "ConcurrentTransaction",
]
