"""Credentials directories in Go's layout (x/ref/lib/security), readable by
Go's ``principal`` tool and able to read what it writes.

    privatekey.pem     PKCS#8 ``PRIVATE KEY``, or ``ENCRYPTED PRIVATE KEY`` (PBES2); legacy forms read
    publickey.pem      ``PUBLIC KEY`` (PKIX)
    blessingstore.data / .sig    VOM blessingStoreState, signed (see below)
    blessingroots.data / .sig    VOM blessingRootsState (map: DER key as string -> patterns)
    dir.lock, blessings.lock, blessingroots.lock   flock(2) lock files, as Go's lockedfile

A signed file pair: ``.data`` is the VOM stream of the value; ``.sig`` is a VOM
stream of SignedHeader{ChunkSizeBytes}, one SignedData.Hash (SHA-256) per
chunk of ``.data``, then SignedData.Signature = Sign("S1", SHA-256(int64le(chunk
size) || chunk hashes...)) by the principal's key.

Writers take the exclusive lock, re-read the files, apply the change and
write new files (to temporaries, then rename); readers take the shared lock.
"""

import contextlib
import errno
import fcntl
import os
import struct

from v23py import vdl
from v23py.gostrings import go_bytes, go_string
from v23py.xref.lib import security as refsec
from v23py.xref.lib.security import serialization
from v23py.security import _errors, pem as _pem
from v23py.security._blessings import Blessings, blessings_from_wire
from v23py.security._keys import (
    KeyError_, Signer, generate_private_key, public_key_from_der, sha256)
from v23py.security._pattern import BlessingPattern
from v23py.security._principal import BlessingRoots, BlessingStore, Principal
from v23py.security._wiretypes import TimeType

DIR_LOCK = "dir.lock"
PRIVATE_KEY_FILE = "privatekey.pem"
PUBLIC_KEY_FILE = "publickey.pem"
STORE_DATA, STORE_SIG, STORE_LOCK = "blessingstore.data", "blessingstore.sig", "blessings.lock"
ROOTS_DATA, ROOTS_SIG, ROOTS_LOCK = "blessingroots.data", "blessingroots.sig", "blessingroots.lock"

CHUNK_SIZE = 1 << 20
MAX_FILE = 64 << 20
CACHE_KEY_FORMAT = 1

# The files' wire types: v.io/x/ref/lib/security and .../serialization (v23py.xref).
BlessingRootsStateType = refsec.blessingRootsState._vdl_type
DischargeCacheKeyType = refsec.dischargeCacheKey._vdl_type
CachedDischargeType = refsec.CachedDischarge._vdl_type
BlessingStoreStateType = refsec.blessingStoreState._vdl_type
SignedHeaderType = serialization.SignedHeader._vdl_type
HashCodeType = serialization.HashCode._vdl_type
SignedDataType = serialization.SignedData._vdl_type


def _vom():
    from v23py import vom
    return vom


def _err(msg):
    return _errors.fail(msg)


# --- locks (flock, like Go's lockedfile on Linux) ---

@contextlib.contextmanager
def file_lock(path, exclusive=True):
    flags = (os.O_RDWR if exclusive else os.O_RDONLY) | os.O_CREAT
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o666 if exclusive else 0o444)
    except OSError as e:
        raise _err("failed to lock %s: %s" % (path, e.strerror or e)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


# --- signed files ---

def _read_bounded(path):
    with open(path, "rb") as f:
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise _err("%s is too large" % path)
    return data


def _write_atomic(path, data, mode=0o666):
    import tempfile   # (writers only)
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode & ~_umask())
        return tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def encode_signed(value, vtype, signer, chunk_size=CHUNK_SIZE):
    """(data bytes, signature bytes) for ``value``, signed by ``signer``."""
    vom = _vom()
    data = vom.encode(value, vtype)
    enc = vom.Encoder()
    SignedHeader = vdl.class_for(SignedHeaderType)
    SignedData = vdl.class_for(SignedDataType)
    sig = bytearray(enc.encode(SignedHeader(ChunkSizeBytes=chunk_size), SignedHeaderType))
    h = sha256(struct.pack("<q", chunk_size))
    for i in range(0, len(data), chunk_size):
        hc = sha256(data[i:i + chunk_size]).digest()
        h.update(hc)
        sig += enc.encode(SignedData("Hash", hc), SignedDataType)
    from v23py.security._keys import PURPOSE_MESSAGE
    signature = signer.sign(PURPOSE_MESSAGE, h.digest())
    sig += enc.encode(SignedData("Signature", signature), SignedDataType)
    return data, bytes(sig)


def decode_signed(data, sig, public_key, vtype, what="file"):
    """Verify a (data, signature) pair with ``public_key`` and decode the value."""
    vom = _vom()
    dec = vom.Decoder()
    dec.feed(sig)
    try:
        header = dec.decode(SignedHeaderType)
    except vom.NeedData:
        raise _err("%s: failed to decode header: truncated signature file" % what) from None
    except _errors.VError as e:
        raise _err("%s: failed to decode header: %s" % (what, e)) from None
    chunk = int(header.ChunkSizeBytes)
    if chunk <= 0 or chunk > MAX_FILE:
        raise _err("%s: invalid chunk size %d in signature file" % (what, chunk))
    h = sha256(struct.pack("<q", chunk))
    hashes = []
    signature = None
    while signature is None:
        try:
            item = dec.decode(SignedDataType)
        except vom.NeedData:
            break
        except _errors.VError as e:
            raise _err("%s: corrupt signature file: %s" % (what, e)) from None
        if item.name == "Hash":
            hashes.append(bytes(item.value))
            h.update(bytes(item.value))
            if len(hashes) > MAX_FILE // chunk + 1:
                raise _err("%s: too many chunks in signature file" % what)
        else:
            signature = item.value
    if signature is None:
        raise _err("%s: signature not found in signature file" % what)
    if dec.buffered():
        raise _err("%s: unexpected data found after signature" % what)
    if not public_key.verify(signature, h.digest()):
        raise _err("%s: signature verification failed" % what)
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    if len(pieces) != len(hashes) or any(sha256(p).digest() != hc
                                         for p, hc in zip(pieces, hashes)):
        raise _err("%s: data has been modified since being written" % what)
    try:
        return vom.decode(data, vtype)
    except _errors.VError as e:
        raise _err("%s: failed to decode: %s" % (what, e)) from None


class _SignedFiles:
    def __init__(self, dirpath, data_name, sig_name, lock_name):
        self.data = os.path.join(dirpath, data_name)
        self.sig = os.path.join(dirpath, sig_name)
        self.lock = os.path.join(dirpath, lock_name)

    def read(self, public_key, vtype):
        """The decoded value, or None when either file is missing (a fresh directory)."""
        try:
            data = _read_bounded(self.data)
            sig = _read_bounded(self.sig)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _err("failed to read %s: %s" % (self.data, e.strerror or e)) from None
        return decode_signed(data, sig, public_key, vtype, os.path.basename(self.data))

    def write(self, value, vtype, signer):
        data, sig = encode_signed(value, vtype, signer)
        try:
            tmp_d = _write_atomic(self.data, data)
            try:
                tmp_s = _write_atomic(self.sig, sig)
            except BaseException:
                os.unlink(tmp_d)
                raise
            os.replace(tmp_d, self.data)
            os.replace(tmp_s, self.sig)
        except OSError as e:     # a read-only directory, a full disk: a clear error
            raise _err("failed to write %s: %s" % (self.data, e.strerror or e)) from None


# --- persistent roots and store ---

def _der_to_key(der):
    return go_string(der)


def _key_to_der(s):
    return go_bytes(s)


class _SignedFileBacked:
    """Persistence shared by the roots and the store: the state lives in a signed data file
    pair under a lock file; every write re-reads the files under the exclusive lock, changes
    the state and writes it back (so two processes sharing a directory never lose an update),
    and a failed write leaves the state as the files have it."""

    _files: _SignedFiles
    _readonly_message = ""     # the error of a write through a read-only principal
    _state_type: object        # the VDL type of the signed data file

    def _open_files(self, dirpath, names, signer):
        self._files = _SignedFiles(dirpath, *names)
        self._signer = signer
        with _shared_lock_if_possible(self._files.lock):
            self._load()

    def _load(self):
        raise NotImplementedError

    def _saved_value(self):
        raise NotImplementedError

    def reload(self):
        with self._lock, _shared_lock_if_possible(self._files.lock):
            self._load()

    def _begin_write(self):
        if self._signer is None:
            raise _err(self._readonly_message)
        ctx = file_lock(self._files.lock, exclusive=True)
        ctx.__enter__()
        try:
            self._load()
        except BaseException:
            ctx.__exit__(None, None, None)
            raise
        return ctx

    def _end_write(self, ctx, changed):
        try:
            if changed:
                try:
                    self._files.write(self._saved_value(), self._state_type, self._signer)
                except BaseException:
                    self._load()
                    raise
        finally:
            ctx.__exit__(None, None, None)


class PersistentBlessingRoots(_SignedFileBacked, BlessingRoots):
    _readonly_message = "Add is not implemented for readonly blessings roots"
    _state_type = BlessingRootsStateType

    def __init__(self, dirpath, public_key, signer):
        BlessingRoots.__init__(self)
        self._public_key = public_key
        self._open_files(dirpath, (ROOTS_DATA, ROOTS_SIG, ROOTS_LOCK), signer)

    def _load(self):
        state = self._files.read(self._public_key, BlessingRootsStateType)
        new = {}
        for k, pats in (state or {}).items():
            new[_key_to_der(k)] = [BlessingPattern(p) for p in pats]
        self._state = new

    def _saved_value(self):
        return {_der_to_key(k): list(v) for k, v in self._state.items()}


class PersistentBlessingStore(_SignedFileBacked, BlessingStore):
    _readonly_message = "Set is not implemented for readonly blessings store"
    _state_type = BlessingStoreStateType

    def __init__(self, dirpath, public_key, signer):
        BlessingStore.__init__(self, public_key)
        self._open_files(dirpath, (STORE_DATA, STORE_SIG, STORE_LOCK), signer)

    def _load(self):
        state = self._files.read(self.public_key, BlessingStoreStateType)
        if state is None:
            return
        peer = {}
        for pat, wb in state.PeerBlessings.items():
            b = blessings_from_wire(wb)
            if not b.is_zero() and b.public_key.der != self.public_key.der:
                raise _err("read Blessings: %s that are not for provided PublicKey: %s"
                           % (b, self.public_key))
            peer[BlessingPattern(pat)] = b
        default = blessings_from_wire(state.DefaultBlessings)
        if not default.is_zero() and default.public_key.der != self.public_key.der:
            raise _err("read Blessings: %s that are not for provided PublicKey: %s"
                       % (default, self.public_key))
        discharges = {}
        if state.CacheKeyFormat == CACHE_KEY_FORMAT:
            for k, cd in state.Discharges.items():
                discharges[bytes(k)] = (cd.Discharge, cd.CacheTime)
            for k, wd in state.DischargeCache.items():
                discharges[bytes(k)] = (wd, vdl.zero(TimeType))
        self._peer = peer
        self._default = default
        self._discharges = discharges

    def _saved_value(self):
        S = vdl.class_for(BlessingStoreStateType)
        CD = vdl.class_for(CachedDischargeType)
        return S(PeerBlessings={BlessingPattern(p): b.to_wire() for p, b in self._peer.items()},
                 DefaultBlessings=self._default.to_wire(),
                 DischargeCache={},
                 Discharges={k: CD(Discharge=w, CacheTime=t)
                             for k, (w, t) in self._discharges.items()},
                 CacheKeyFormat=CACHE_KEY_FORMAT)


# --- principals ---

def _wrap_key_error(e, path):
    if isinstance(e, _pem.PassphraseRequired):
        return _errors.PassphraseRequired.new("passphrase required for decrypting private key")
    if isinstance(e, _pem.BadPassphrase):
        return _errors.BadPassphrase.new("passphrase incorrect for decrypting private key")
    return _err("%s: %s" % (path, e))


def _read_file(path, what):
    try:
        return _read_bounded(path)
    except FileNotFoundError:
        raise _errors.NoExist.new("%s not found: %s" % (what, path)) from None
    except OSError as e:
        raise _err("failed to read %s: %s" % (path, e.strerror or e)) from None


def load_signer(dirpath, passphrase=None):
    path = os.path.join(dirpath, PRIVATE_KEY_FILE)
    data = _read_file(path, "private key")
    try:
        key = _pem.parse_private_key(data, passphrase, base_dir=dirpath)
        return Signer(key)
    except (_pem.PEMError, KeyError_) as e:
        raise _wrap_key_error(e, path) from None


def load_public_key(dirpath):
    path = os.path.join(dirpath, PUBLIC_KEY_FILE)
    data = _read_file(path, "public key")
    try:
        return public_key_from_der(_pem.parse_public_key_der(data))
    except (_pem.PEMError, KeyError_) as e:
        raise _err("%s: %s" % (path, e)) from None


def _check_dir(dirpath):
    if not os.path.exists(dirpath):
        raise _errors.NoExist.new("credentials directory %s does not exist" % dirpath)
    if not os.path.isdir(dirpath):
        raise _err("%s is not a directory" % dirpath)


@contextlib.contextmanager
def _shared_lock_if_possible(path):
    try:
        ctx = file_lock(path, exclusive=False)
        ctx.__enter__()
    except _errors.VError:
        yield  # e.g. a read-only directory without lock files: read unlocked
        return
    try:
        yield
    finally:
        ctx.__exit__(None, None, None)


def load_principal(dirpath, passphrase=None, read_only=False):
    """Load a persistent principal (Go's LoadPersistentPrincipal).

    Raises VError: ``errPassphraseRequired`` / ``errBadPassphrase`` for encrypted
    keys, NoExist for a missing directory or key file, others for corruption.
    With read_only=True the private key is optional (public-key-only principal)
    and nothing is ever written."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    _check_dir(dirpath)
    lock = file_lock(os.path.join(dirpath, DIR_LOCK), exclusive=True) if not read_only \
        else _shared_lock_if_possible(os.path.join(dirpath, DIR_LOCK))
    with lock:
        try:
            signer = load_signer(dirpath, passphrase)
        except _errors.VError:
            if not read_only:
                raise
            signer = None
        try:
            public_key = load_public_key(dirpath)
        except _errors.VError as e:
            # Directories written before publickey.pem existed: the key says it all.
            if e.id != _errors.NoExist.id or signer is None:
                raise
            public_key = signer.public_key
        if signer is not None and signer.public_key.der != public_key.der:
            raise _err("store's public key: %s does not match signer's public key: %s"
                       % (public_key, signer.public_key))
        w = None if read_only else signer
        store = PersistentBlessingStore(dirpath, public_key, w)
        roots = PersistentBlessingRoots(dirpath, public_key, w)
    p = Principal(signer=signer, public_key=public_key, blessing_store=store, roots=roots)
    p.directory = dirpath
    return p


def create_principal(dirpath, passphrase=None, key_type="ecdsa256", private_key=None,
                     overwrite=False, private_key_pem=None):
    """Create a persistent principal with a new key (Go's CreatePersistentPrincipal).

    The directory is created with mode 0700 if needed; it must not already hold
    key files unless overwrite=True (which first removes the directory).
    ``private_key`` (a ``cryptography`` key) imports an existing key; ``private_key_pem``
    is then written as privatekey.pem instead of the key itself (e.g. an indirect
    ``VANADIUM INDIRECT PRIVATE KEY`` naming the key's file)."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    if overwrite and os.path.lexists(dirpath):
        import shutil
        if os.path.isdir(dirpath) and not os.path.islink(dirpath):
            shutil.rmtree(dirpath)
        else:
            os.unlink(dirpath)
    if os.path.exists(dirpath):
        if not os.path.isdir(dirpath):
            raise _err("%s is not a directory" % dirpath)
    else:
        try:
            os.makedirs(dirpath, 0o700)
        except OSError as e:
            raise _err("failed to create: %s: %s" % (dirpath, e.strerror or e)) from None
    for name in (DIR_LOCK, STORE_LOCK, ROOTS_LOCK):
        with file_lock(os.path.join(dirpath, name), exclusive=True):
            pass
    key = private_key if private_key is not None else generate_private_key(key_type)
    signer = Signer(key)
    with file_lock(os.path.join(dirpath, DIR_LOCK), exclusive=True):
        _write_key_file(os.path.join(dirpath, PUBLIC_KEY_FILE),
                        _pem.marshal_public_key(signer.public_key))
        _write_key_file(os.path.join(dirpath, PRIVATE_KEY_FILE),
                        private_key_pem if private_key_pem is not None
                        else _pem.marshal_private_key(key, passphrase))
        store = PersistentBlessingStore(dirpath, signer.public_key, signer)
        roots = PersistentBlessingRoots(dirpath, signer.public_key, signer)
    p = Principal(signer=signer, blessing_store=store, roots=roots)
    p.directory = dirpath
    return p


def _write_key_file(path, data):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    except OSError as e:
        if e.errno == errno.EEXIST:
            raise _errors.Exist.new("failed to open %s for writing: file exists" % path) from None
        raise _err("failed to open %s for writing: %s" % (path, e.strerror or e)) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def principal_exists(dirpath):
    return os.path.exists(os.path.join(dirpath, PRIVATE_KEY_FILE)) or \
        os.path.exists(os.path.join(dirpath, PUBLIC_KEY_FILE))


_ = Blessings
