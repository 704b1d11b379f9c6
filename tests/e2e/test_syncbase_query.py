"""syncQL end to end: Database.Exec against a real syncbased subprocess."""
import os

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py import verror, vdl
from v23py.query import errors as QE, split_error
from v23py.testing import querydata as D, tempdir
from v23py.testing.syncbase import Daemon, make_creds

USER = "idp:o:app:client"


def unwrap(v):
    return v.value if isinstance(v, vdl.Typed) else v


class _Base(unittest.TestCase):
    timeout = 60

    async def setUp(self):
        import v23py
        self.tmp = tempdir(self, "sbql-")
        self.creds = make_creds(os.path.join(self.tmp, "client"), USER)
        self.daemon = Daemon(self.creds, root_dir=os.path.join(self.tmp, "root"))
        self.addCleanup(self.daemon.stop)
        await self.daemon.start()
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)

    async def setup_db(self):
        from v23py import syncbase
        self.sb = syncbase.new_service(self.daemon.endpoint)
        self.db = self.sb.database(self.ctx, "d", None)
        await self.db.create(self.ctx, None)
        self.customer = self.db.collection(self.ctx, "Customer")
        await self.customer.create(self.ctx, None)
        for k, v in D.customers():
            await self.customer.put(self.ctx, k, v)
        self.numbers = self.db.collection(self.ctx, "Numbers")
        await self.numbers.create(self.ctx, None)
        for k, v in D.numbers():
            await self.numbers.put(self.ctx, k, v)

    async def exec(self, db, q, *params):
        h, rs = await db.exec(self.ctx, q, *params)
        return h, [[unwrap(x) for x in row] async for row in rs]

    async def exec_error(self, db, q, *params):
        try:
            h, rs = await db.exec(self.ctx, q, *params)
            [r async for r in rs]
        except verror.VError as e:
            return e
        self.fail(f"{q}: no error")


def inline(fn):
    def test(self):
        return defer.ensureDeferred(fn(self))
    test.__name__ = fn.__name__
    return test


class SelectTest(_Base):
    @inline
    async def test_select_fields_functions_params(self):
        await self.setup_db()
        db = self.db
        h, rows = await self.exec(db, "select k, v.Name, Type(v) from Customer "
                                      "where Type(v) like \"%.Customer\"")
        self.assertEqual(h, ["k", "v.Name", "Type"])
        self.assertEqual(rows, [["001", "John Smith", D.PKG + "Customer"],
                                ["002", "Bat Masterson", D.PKG + "Customer"],
                                ["003", "John \"JOS\" O'Steed", D.PKG + "Customer"]])
        # whole values come back with their types
        h, rows = await self.exec(db, 'select v from Customer where k = "001001"')
        self.assertEqual(vdl.type_of(rows[0][0]), D.Invoice)
        self.assertEqual(rows[0][0].Amount, 42)
        # parameters of several types travel as any
        h, rows = await self.exec(db, "select k, v.Amount as Amt from Customer where "
                                      "v.ShipTo.City = ? and v.Amount > ?", "Collins", 100)
        self.assertEqual((h, rows), (["k", "Amt"], [["002001", 166], ["002002", 243],
                                                    ["002003", 787]]))
        h, rows = await self.exec(db, "select k from Customer where v.Address = ?",
                                  D.addr("1 Main St.", "Palo Alto", "CA", "94303"))
        self.assertEqual(rows, [["001"]])
        h, rows = await self.exec(db, 'select k, Year(v.InvoiceDate, "America/Los_Angeles"), '
                                      'Str(v.InvoiceDate) from Customer where k = "002003"')
        self.assertEqual(rows, [["002003", 2015, "Mon Apr 13 05:16:06 +0000 UTC 2015"]])
        h, rows = await self.exec(db, "select k, v.F32, v.Ui64 from Numbers where v.B >= ? "
                                      "limit 1 offset 1", 10)
        self.assertEqual(rows, [["003", 210.0, 210]])
        # key ranges: a prefix; nothing matching; no where at all
        h, rows = await self.exec(db, 'select k from Customer where k like "002%" and '
                                      'v.Amount < 200')
        self.assertEqual(rows, [["002001"], ["002004"]])
        self.assertEqual((await self.exec(db, 'select k from Customer where k = "9"'))[1], [])
        self.assertEqual(len((await self.exec(db, "select k from Customer"))[1]), 10)

    @inline
    async def test_errors_keep_ids_and_offsets(self):
        await self.setup_db()
        cases = [
            ("select a from Customer", QE.InvalidSelectField, 7),
            ("select v from Customer where v.Foo = 10.10.10", QE.Unexpected, 42),
            ("select k from Customer where k = 100", QE.KeyExpressionLiteral, 33),
            ("select k from Blah", QE.TableCantAccess, 14),
            ("select v from Customer offset 9223372036854775808", QE.CouldNotConvert, 30),
            ("", QE.NoStatementFound, 0),
            ("select now() from Customer", QE.DidYouMeanFunction, 7),
        ]
        for q, eid, off in cases:
            e = await self.exec_error(self.db, q)
            self.assertEqual(e.id, eid.id, f"{q}: {e}")
            self.assertEqual(split_error(e)[0], off, f"{q}: {e}")
        e = await self.exec_error(self.db, "select k from Customer where k = ? and v.Id = ?",
                                  "001")
        self.assertEqual((e.id, split_error(e)[0]),
                         (QE.NotEnoughParamValuesSpecified.id, 46))
        e = await self.exec_error(self.db, "select k from Customer", 1)
        self.assertEqual(e.id, QE.TooManyParamValuesSpecified.id)
        self.assertIn("Customer", str(await self.exec_error(self.db, "select k from Blah"))
                      .replace("Blah", "Customer"))

    @inline
    async def test_long_stream_limit_and_cancel(self):
        from v23py import syncbase
        await self.setup_db()
        big = self.db.collection(self.ctx, "Big")
        await big.create(self.ctx, None)

        async def fill(b):
            c = b.collection_for_id(big.id())
            for i in range(1000):
                await c.put(self.ctx, "%04d" % i, i)
        await syncbase.run_in_batch(self.ctx, self.db, syncbase.BatchOptions(), fill)
        h, rows = await self.exec(self.db, "select k, v from Big where v >= 100")
        self.assertEqual(len(rows), 900)
        self.assertEqual(rows[0], ["0100", 100])
        self.assertEqual(rows[-1], ["0999", 999])
        h, rows = await self.exec(self.db, 'select v from Big where k > "0500" limit 300')
        self.assertEqual([r[0] for r in rows], list(range(501, 801)))
        # stop reading early: the stream ends without an error on our side
        h, rs = await self.db.exec(self.ctx, "select k from Big")
        got = []
        async for row in rs:
            got.append(row)
            if len(got) == 3:
                rs.cancel()
                break
        self.assertEqual(got, [["0000"], ["0001"], ["0002"]])
        # the daemon still serves
        self.assertEqual((await self.exec(self.db, 'select k from Big where k = "0007"'))[1],
                         [["0007"]])


class DeleteAndBatchTest(_Base):
    @inline
    async def test_delete(self):
        await self.setup_db()
        h, rows = await self.exec(self.db, 'delete from Customer where k like "001%"')
        self.assertEqual((h, rows), (["Count"], [[4]]))
        await self.assertNoExist(self.customer, "001002")
        h, rows = await self.exec(self.db, "delete from Customer where v.Amount > ? limit 2", 100)
        self.assertEqual(rows, [[2]])
        keys = (await self.exec(self.db, "select k from Customer"))[1]
        self.assertEqual(keys, [["002"], ["002003"], ["002004"], ["003"]])
        self.assertEqual((await self.exec(self.db, "delete from Customer where k = \"x\""))[1],
                         [[0]])

    async def assertNoExist(self, cx, key):
        try:
            await cx.get(self.ctx, key)
        except verror.VError as e:
            self.assertEqual(e.id, verror.NoExist.id)
            return
        self.fail(f"{key} still exists")

    @inline
    async def test_batches(self):
        from v23py import syncbase
        await self.setup_db()
        ro = await self.db.begin_batch(self.ctx, syncbase.BatchOptions(ReadOnly=True))
        await self.numbers.put(self.ctx, "004", 4)
        # a read-only batch sees its snapshot, and cannot delete
        self.assertEqual((await self.exec(ro, "select k from Numbers"))[1],
                         [["001"], ["002"], ["003"]])
        e = await self.exec_error(ro, 'delete from Numbers where k = "001"')
        self.assertEqual(e.id, QE.TableCantAccess.id)
        self.assertIn("not writable", str(e))
        await ro.abort(self.ctx)
        # a read-write batch sees its own writes; its deletes land at commit
        rw = await self.db.begin_batch(self.ctx)
        await rw.collection_for_id(self.numbers.id()).put(self.ctx, "005", 5)
        self.assertEqual((await self.exec(rw, 'select k from Numbers where k >= "004"'))[1],
                         [["004"], ["005"]])
        self.assertEqual((await self.exec(rw, 'delete from Numbers where k < "003"'))[1], [[2]])
        self.assertEqual(len((await self.exec(self.db, "select k from Numbers"))[1]), 4)
        await rw.commit(self.ctx)
        self.assertEqual((await self.exec(self.db, "select k from Numbers"))[1],
                         [["003"], ["004"], ["005"]])
        # an unknown batch
        bad = syncbase.BatchDatabase(self.sb, self.db.id(), None, "t0000000000000001")
        e = await self.exec_error(bad, "select k from Numbers")
        self.assertEqual(e.id, QE.TableCantAccess.id)
        self.assertIn("unknown batch", str(e))


class PermissionTest(_Base):
    @inline
    async def test_read_and_write_access(self):
        from v23py import syncbase
        await self.setup_db()
        # a collection its creator may write but not read
        wo = self.db.collection(self.ctx, "WriteOnly")
        await wo.create(self.ctx, syncbase.perms_for(USER, ("Admin", "Write")))
        await wo.put(self.ctx, "a", 1)
        e = await self.exec_error(self.db, "select k from WriteOnly")
        self.assertEqual(e.id, QE.TableCantAccess.id)
        self.assertEqual(e.params[4].id, verror.NoAccess.id)
        # readable but not writable: select works, delete is refused and nothing goes
        ro = self.db.collection(self.ctx, "ReadOnly")
        await ro.create(self.ctx, syncbase.perms_for(USER, ("Admin", "Read")))
        self.assertEqual((await self.exec(self.db, "select k from ReadOnly"))[1], [])
        await wo.set_permissions(self.ctx, syncbase.perms_for(USER, ("Admin", "Read", "Write")))
        self.assertEqual((await self.exec(self.db, "select k, v from WriteOnly"))[1],
                         [["a", 1]])
        await wo.set_permissions(self.ctx, syncbase.perms_for(USER, ("Admin", "Read")))
        e = await self.exec_error(self.db, "delete from WriteOnly")
        self.assertEqual(e.id, QE.TableCantAccess.id)
        self.assertEqual(e.params[4].id, verror.NoAccess.id)
        self.assertEqual(await wo.get(self.ctx, "a"), 1)

    async def setUp(self):
        # the daemon (running as USER) and OTHER recognize each other's blessings
        import v23py
        from v23py import security
        self.tmp = tempdir(self, "sbql-")
        self.other = make_creds(os.path.join(self.tmp, "other"), "idp:o:app:other")
        self.creds = make_creds(os.path.join(self.tmp, "client"), USER, trust=[self.other])
        op = security.load_principal(self.other)
        op.add_to_roots(security.load_principal(self.creds).blessing_store.default())
        self.daemon = Daemon(self.creds, root_dir=os.path.join(self.tmp, "root"))
        self.addCleanup(self.daemon.stop)
        await self.daemon.start()
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)

    @inline
    async def test_other_principal(self):
        import v23py
        from v23py import syncbase
        await self.setup_db()
        ctx2, shutdown = v23py.init([f"--v23.credentials={self.other}"], reactor=reactor)
        self.addCleanup(shutdown)
        db2 = syncbase.new_service(self.daemon.endpoint).database_for_id(self.db.id())
        # OTHER's queries name its own collections ({its user pattern, name}); it has no
        # access to the database, so the error does not even say whether it exists
        try:
            h, rs = await db2.exec(ctx2, "select k from Customer")
            [r async for r in rs]
        except verror.VError as e:
            self.assertEqual(e.id, QE.TableCantAccess.id)
            self.assertEqual(e.params[4].id, verror.NoExistOrNoAccess.id, str(e))
        else:
            self.fail("other principal read the collection")
        # once the service and database grant OTHER read and resolve, its own (missing) collection
        # is named in the error
        for obj in (self.sb, self.db):
            perms, version = await obj.get_permissions(self.ctx)
            perms = {t: {"In": list(a.In) + (["idp:o:app:other"] if t in ("Read", "Resolve")
                                             else [])} for t, a in perms.items()}
            await obj.set_permissions(self.ctx, perms, version)
        try:
            h, rs = await db2.exec(ctx2, "select k from Customer")
            [r async for r in rs]
        except verror.VError as e:
            self.assertEqual(e.id, QE.TableCantAccess.id)
            self.assertEqual(e.params[4].id, verror.NoExist.id, str(e))
            self.assertIn("idp:o:app:other,Customer", str(e))
        else:
            self.fail("other principal read a collection it does not have")
