"""Unit tests of Syncbase semantics (service.py) with callers given as blessing names."""

from twisted.trial import unittest

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id
from syncbased import access
from syncbased.service import Service
from syncbased.common import row_key, split_batch_handle
from syncbased.store import PutOp, DeleteOp
from v23py.testing import tempdir

ALICE = ["idp:o:fortune:alice"]
BOB = ["idp:o:fortune:bob"]
EVE = ["other:eve"]
DB = Id("idp:o:fortune", "fortuneDb")
CX = Id("idp:o:fortune:alice", "fortuneCollection")


def perms_for(pattern, tags):
    return access.perms_add({}, pattern, *tags)


def alice_and_bob(tags, bob_tag):
    """Alice with every one of ``tags``, Bob with ``bob_tag`` alone."""
    return access.perms_add(perms_for("idp:o:fortune:alice", tags), "idp:o:fortune:bob", bob_tag)


class ServiceTest(unittest.TestCase):
    def setUp(self):
        self.root = tempdir(self, "sbsvc-")
        self.svc = Service(self.root, "memstore", default_patterns=["idp:o:fortune:alice"])
        self.addCleanup(self.svc.close)

    def make_db_cx(self):
        db = self.svc.database(DB)
        db.create(ALICE, None, perms_for("idp:o:fortune:alice", access.ALL_DATABASE_TAGS))
        db = self.svc.database(DB)
        cx = db.collection(CX)
        cx.create(ALICE, "", perms_for("idp:o:fortune:alice", access.ALL_COLLECTION_TAGS))
        return db, cx

    def assertVError(self, err_id, fn, *args):
        e = self.assertRaises(verror.VError, fn, *args)
        self.assertEqual(e.id, err_id.id, str(e))
        return e

    def test_default_service_perms(self):
        perms, version = self.svc.get_permissions(ALICE)
        self.assertEqual(sorted(perms), sorted(access.ALL_TYPICAL_TAGS))
        self.assertEqual(version, "0")
        self.assertVError(verror.NoAccess, self.svc.get_permissions, EVE)

    def test_set_service_perms_versions(self):
        p = perms_for("idp:o:fortune:alice", access.ALL_TYPICAL_TAGS)
        self.svc.set_permissions(ALICE, p, "0")
        self.assertVError(verror.BadVersion, self.svc.set_permissions, ALICE, p, "0")
        self.svc.set_permissions(ALICE, p, "")
        self.assertEqual(self.svc.get_permissions(ALICE)[1], "2")
        self.assertVError(access.PermsNoAdmin, self.svc.set_permissions, ALICE,
                          perms_for("x", ["Read"]), "")
        self.assertVError(access.PermsEmpty, self.svc.set_permissions, ALICE, {}, "")

    def test_create_db_collection_put_get_scan_delete(self):
        db, cx = self.make_db_cx()
        self.assertTrue(db.exists_(ALICE))
        self.assertEqual(db.list_collections(ALICE, ""), [CX])
        self.assertEqual(self.svc.glob_children(ALICE), ["idp:o:fortune,fortuneDb"])
        for i in range(5):
            cx.row(str(i)).put(ALICE, "", b"v%d" % i)
        self.assertEqual(cx.row("3").get(ALICE, ""), b"v3")
        self.assertTrue(cx.row("3").exists_(ALICE, ""))
        self.assertFalse(cx.row("9").exists_(ALICE, ""))
        self.assertVError(verror.NoExist, cx.row("9").get, ALICE, "")
        self.assertEqual(list(cx.scan(ALICE, "", b"1", b"3")), [("1", b"v1"), ("2", b"v2")])
        self.assertEqual([k for k, _ in cx.scan(ALICE, "", b"", b"")], list("01234"))
        cx.row("1").delete(ALICE, "")
        cx.delete_range(ALICE, "", b"3", b"")
        self.assertEqual([k for k, _ in cx.scan(ALICE, "", b"", b"")], ["0", "2"])
        # watch log holds Put/Delete ops for the row keys
        ops = [e.Op for _, e in db.st.read_log(0)]
        self.assertIn(PutOp, [type(o) for o in ops])
        self.assertIn(DeleteOp(row_key(CX, "1")), ops)

    def test_create_twice_is_exist(self):
        db, cx = self.make_db_cx()
        self.assertVError(verror.Exist, db.create, ALICE, None,
                          perms_for("idp:o:fortune:alice", access.ALL_DATABASE_TAGS))
        self.assertVError(verror.Exist, cx.create, ALICE, "",
                          perms_for("idp:o:fortune:alice", access.ALL_COLLECTION_TAGS))

    def test_collection_create_requires_id_blessing(self):
        db, _ = self.make_db_cx()
        other = db.collection(Id("idp:o:fortune:bob", "c"))
        self.assertVError(sbwire.ErrUnauthorizedCreateId, other.create, ALICE, "",
                          perms_for("idp:o:fortune:alice", access.ALL_COLLECTION_TAGS))

    def test_db_create_by_non_admin_needs_write_and_id_match(self):
        p = perms_for("idp:o:fortune:alice", access.ALL_TYPICAL_TAGS)
        access.perms_add(p, "idp:o:fortune:bob", "Write", "Resolve")
        self.svc.set_permissions(ALICE, p, "")
        dbp = perms_for("idp:o:fortune:bob", access.ALL_DATABASE_TAGS)
        self.assertVError(sbwire.ErrUnauthorizedCreateId, self.svc.database(Id("idp:o:other", "x")).create,
                          BOB, None, dbp)
        self.svc.database(Id("idp:o:fortune:bob", "mine")).create(BOB, None, dbp)
        self.assertVError(verror.NoAccess, self.svc.database(Id("other:eve", "x")).create,
                          EVE, None, perms_for("other:eve", access.ALL_DATABASE_TAGS))

    def test_invalid_perms_tags(self):
        self.assertVError(access.PermsDisallowedTags, self.svc.database(DB).create, ALICE, None,
                          perms_for("idp:o:fortune:alice", ["Admin", "Debug"]))

    def test_no_access_and_existence_fuzzing(self):
        db, cx = self.make_db_cx()
        cx.row("k").put(ALICE, "", b"x")
        # Eve has nothing anywhere: existence is hidden.
        self.assertVError(verror.NoExistOrNoAccess, cx.row("k").get, EVE, "")
        self.assertVError(verror.NoExistOrNoAccess, db.exists_, EVE)
        self.assertVError(verror.NoExistOrNoAccess, self.svc.database(Id("a", "b")).exists_, EVE)
        # Alice may see that an unknown database does not exist.
        self.assertFalse(self.svc.database(Id("a", "b")).exists_(ALICE))
        self.assertVError(verror.NoExist, self.svc.database(Id("a", "b")).list_collections,
                          ALICE, "")
        # Bob gets Resolve on the service, Read on the collection but not Write.
        self.svc.set_permissions(ALICE, alice_and_bob(access.ALL_TYPICAL_TAGS, "Resolve"), "")
        db.set_permissions(ALICE, alice_and_bob(access.ALL_DATABASE_TAGS, "Resolve"), "")
        cx.set_permissions(ALICE, "", alice_and_bob(access.ALL_COLLECTION_TAGS, "Read"))
        self.assertEqual(cx.row("k").get(BOB, ""), b"x")
        self.assertVError(verror.NoAccess, cx.row("k").put, BOB, "", b"y")
        self.assertVError(verror.NoAccess, cx.get_permissions, BOB, "")
        # ... and needs Resolve on the database too: Read there shows him the collection
        # exists, it does not let him through to it
        db.set_permissions(ALICE, alice_and_bob(access.ALL_DATABASE_TAGS, "Read"), "")
        self.assertVError(verror.NoAccess, cx.row("k").get, BOB, "")

    def test_database_checks_follow_permission_changes(self):
        # (a check that passed is remembered: by the database's stored permissions and
        # the service's permissions, so changing either decides afresh)
        db, _ = self.make_db_cx()
        self.svc.set_permissions(ALICE, alice_and_bob(access.ALL_TYPICAL_TAGS, "Resolve"), "")
        dp = alice_and_bob(access.ALL_DATABASE_TAGS, "Read")
        db.set_permissions(ALICE, dp, "")
        for _ in range(2):
            db.get_resume_marker(BOB, "")
        db.set_permissions(ALICE, perms_for("idp:o:fortune:alice", access.ALL_DATABASE_TAGS),
                           "")
        self.assertVError(verror.NoExistOrNoAccess, db.get_resume_marker, BOB, "")
        db.set_permissions(ALICE, dp, "")
        db.get_resume_marker(BOB, "")
        self.svc.set_permissions(
            ALICE, perms_for("idp:o:fortune:alice", access.ALL_TYPICAL_TAGS), "")
        self.assertVError(verror.NoExistOrNoAccess, db.get_resume_marker, BOB, "")

    def test_batches(self):
        db, cx = self.make_db_cx()
        cx.row("a").put(ALICE, "", b"1")
        bh = db.begin_batch(ALICE, False)
        self.assertEqual(split_batch_handle(bh)[0], "t")
        self.assertEqual(len(bh), 17)
        cx.row("b").put(ALICE, bh, b"2")
        self.assertVError(verror.NoExist, cx.row("b").get, ALICE, "")
        self.assertEqual(cx.row("b").get(ALICE, bh), b"2")
        self.assertEqual([k for k, _ in cx.scan(ALICE, bh, b"", b"")], ["a", "b"])
        db.commit(ALICE, bh)
        self.assertEqual(cx.row("b").get(ALICE, ""), b"2")
        self.assertVError(sbwire.ErrUnknownBatch, db.commit, ALICE, bh)
        self.assertVError(sbwire.ErrNotBoundToBatch, db.commit, ALICE, "")
        self.assertVError(verror.BadArg, db.commit, ALICE, "zzz")
        # read-only snapshot
        sb = db.begin_batch(ALICE, True)
        cx.row("a").put(ALICE, "", b"changed")
        self.assertEqual(cx.row("a").get(ALICE, sb), b"1")
        self.assertVError(sbwire.ErrReadOnlyBatch, cx.row("a").put, ALICE, sb, b"x")
        self.assertVError(sbwire.ErrReadOnlyBatch, db.commit, ALICE, sb)
        db.abort(ALICE, sb)
        self.assertVError(sbwire.ErrUnknownBatch, cx.row("a").get, ALICE, sb)

    def test_ending_a_batch_checks_the_caller(self):
        # commit and abort alike: a bound batch, then any database tag for the caller
        db, cx = self.make_db_cx()
        for end in (db.commit, db.abort):
            bh = db.begin_batch(ALICE, False)
            cx.row("k").put(ALICE, bh, b"v")
            self.assertVError(sbwire.ErrNotBoundToBatch, end, ALICE, "")
            self.assertVError(verror.NoExistOrNoAccess, end, EVE, bh)
            end(ALICE, bh)      # the refusals left the batch to its owner
            self.assertVError(sbwire.ErrUnknownBatch, end, ALICE, bh)

    def test_concurrent_batches_conflict(self):
        db, cx = self.make_db_cx()
        cx.row("n").put(ALICE, "", b"0")
        b1 = db.begin_batch(ALICE, False)
        b2 = db.begin_batch(ALICE, False)
        cx.row("n").get(ALICE, b1)
        cx.row("n").get(ALICE, b2)
        cx.row("n").put(ALICE, b1, b"1")
        cx.row("n").put(ALICE, b2, b"2")
        db.commit(ALICE, b1)
        self.assertVError(sbwire.ErrConcurrentBatch, db.commit, ALICE, b2)
        self.assertEqual(cx.row("n").get(ALICE, ""), b"1")

    def test_collection_destroy_and_db_destroy(self):
        db, cx = self.make_db_cx()
        cx.row("a").put(ALICE, "", b"1")
        cx.destroy(ALICE, "")
        self.assertFalse(cx.exists_(ALICE, ""))
        cx.destroy(ALICE, "")        # idempotent
        db.destroy(ALICE)
        self.assertFalse(self.svc.database(DB).exists_(ALICE))
        db.destroy(ALICE)            # idempotent
        self.assertEqual(self.svc.glob_children(ALICE), [])

    def test_invalid_permissions_change_in_batch(self):
        db, cx = self.make_db_cx()
        bh = db.begin_batch(ALICE, False)
        # Remove own Write+Admin after writing data: data change allowed before,
        # but perms change requires Admin at start (ok).  Then a second perms
        # change is still validated against the initial perms.
        cx.row("a").put(ALICE, bh, b"1")
        cx.set_permissions(ALICE, bh, perms_for("idp:o:fortune:bob", access.ALL_COLLECTION_TAGS))
        db.commit(ALICE, bh)
        # Now Alice cannot write at all.
        self.assertVError(verror.NoAccess, cx.row("a").put, ALICE, "", b"2")

    def test_resume_marker(self):
        db, cx = self.make_db_cx()
        m1 = db.get_resume_marker(ALICE, "")
        cx.row("a").put(ALICE, "", b"1")
        m2 = db.get_resume_marker(ALICE, "")
        self.assertTrue(m1.startswith(b"l\xfe") and m2 > m1)


class PersistenceTest(unittest.TestCase):
    def test_reopen_sqlite_root(self):
        root = tempdir(self, "sbsvc-")
        svc = Service(root, "sqlite", default_patterns=["idp:o:fortune:alice"])
        db = svc.database(DB)
        db.create(ALICE, None, perms_for("idp:o:fortune:alice", access.ALL_DATABASE_TAGS))
        cx = svc.database(DB).collection(CX)
        cx.create(ALICE, "", perms_for("idp:o:fortune:alice", access.ALL_COLLECTION_TAGS))
        cx.row("k").put(ALICE, "", b"persisted")
        svc.flush()
        svc.close()
        svc2 = Service(root, "sqlite", perms=perms_for("someone:else", access.ALL_TYPICAL_TAGS))
        self.addCleanup(svc2.close)
        self.assertEqual(svc2.database(DB).collection(CX).row("k").get(ALICE, ""), b"persisted")
        # persisted service perms win over the flag
        self.assertEqual(svc2.get_permissions(ALICE)[1], "0")

    def test_initial_db(self):
        root = tempdir(self, "sbsvc-")
        svc = Service(root, "memstore", default_patterns=["admin"],
                      initial_db=Id("idp:o:fortune", "fortuneDb"))
        self.addCleanup(svc.close)
        perms, _ = svc.database(DB).get_permissions(["admin"])
        self.assertEqual(perms["Read"].In, ["admin", "idp:o:fortune"])
        self.assertEqual(perms["Admin"].In, ["admin"])


class WatchTest(ServiceTest):
    def test_initial_state_then_updates(self):
        from syncbased.watch import (
            PatternFilter, GlobFilter, WATCH_EXISTS, WATCH_DOES_NOT_EXIST,
            WATCH_INITIAL_STATE_SKIPPED)
        db, cx = self.make_db_cx()
        cx.row("a").put(ALICE, "", b"va")
        cx.row("b").put(ALICE, "", b"vb")
        flt = PatternFilter([("%", "%", "%")])
        changes, marker, seq = db.watch_start(ALICE, b"", flt)
        enc = "idp:o:fortune:alice,fortuneCollection"
        self.assertEqual([(c[0], c[1]) for c in changes],
                         [("", WATCH_EXISTS), (enc, WATCH_EXISTS),
                          (enc + "/a", WATCH_EXISTS), (enc + "/b", WATCH_EXISTS)])
        self.assertEqual(changes[1][2][0], "cxinfo")
        self.assertEqual(changes[1][2][1], ["Admin", "Read", "Write"])
        self.assertEqual(changes[2][2], b"va")
        self.assertEqual(marker, db.get_resume_marker(ALICE, ""))
        batches, seq2 = db.watch_next(ALICE, seq, flt)
        self.assertEqual(batches, [])
        cx.row("c").put(ALICE, "", b"vc")
        cx.row("a").delete(ALICE, "")
        batches, seq3 = db.watch_next(ALICE, seq2, flt)
        self.assertEqual([[(c[0], c[1], c[2]) for c in b] for b, _ in batches],
                         [[(enc + "/c", WATCH_EXISTS, b"vc")],
                          [(enc + "/a", WATCH_DOES_NOT_EXIST, None)]])
        self.assertEqual(batches[-1][1], db.get_resume_marker(ALICE, ""))
        # resuming from a marker skips the initial state
        changes, _, s = db.watch_start(ALICE, batches[0][1], flt)
        self.assertEqual(changes, [("", WATCH_INITIAL_STATE_SKIPPED, None, False)])
        b2, _ = db.watch_next(ALICE, s, flt)
        self.assertEqual(len(b2), 1)
        # filters
        only_c = PatternFilter([("%", "%", "c%")])
        self.assertEqual(len(db.watch_next(ALICE, seq2, only_c)[0]), 1)
        g = GlobFilter(enc + "/a*")
        self.assertEqual([c[0] for b, _ in db.watch_next(ALICE, seq2, g)[0] for c in b],
                         [enc + "/a"])
        # Go's glob semantics: the collection is an element matched against its
        # encoded id, the row key is matched "/"-part by "/"-part
        star = GlobFilter("*/...")
        self.assertEqual(len(db.watch_next(ALICE, seq2, star)[0]), 2)
        self.assertTrue(GlobFilter("idp:o:fortune:alice,fortune*/a/*").row_matches(cx.id, "a/b"))
        self.assertFalse(GlobFilter(enc + "/a/*").row_matches(cx.id, "a"))
        self.assertFalse(GlobFilter(enc + "/a*").row_matches(cx.id, "a/b"))
        self.assertTrue(GlobFilter(enc).collection_matches(cx.id))
        self.assertFalse(GlobFilter(enc).row_matches(cx.id, "a"))
        self.assertVError(verror.BadArg, GlobFilter, enc + "/[a")
        self.assertVError(verror.NoExistOrNoAccess, db.watch_start, EVE, b"", flt)
        from syncbased.watch import UnknownResumeMarker
        self.assertVError(UnknownResumeMarker, db.watch_start, ALICE, b"bogus", flt)
