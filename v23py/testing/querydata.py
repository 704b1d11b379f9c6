"""syncQL test data: Go's query test types (own declarations, same shapes) and rows."""
from v23py import vdl, vom
from v23py.query.gotime import parse_time

PKG = "v.io/v23/query/engine/internal/testdata."

AddressInfo = vdl.struct(PKG + "AddressInfo", [
    ("Street", vdl.StringType), ("City", vdl.StringType), ("State", vdl.StringType),
    ("Zip", vdl.StringType)])
CreditAgency = vdl.enum(PKG + "CreditAgency", ["Equifax", "Experian", "TransUnion"])
ExperianRating = vdl.enum(PKG + "ExperianRating", ["Good", "Bad"])
Tdh = vdl.enum(PKG + "Tdh", ["Tom", "Dick", "Harry"])
RatingsArray = vdl.array_of(vdl.Int16Type, 4, name=PKG + "RatingsArray")
EquifaxCreditReport = vdl.struct(PKG + "EquifaxCreditReport", [
    ("Rating", vdl.ByteType), ("FourScoreRatings", RatingsArray)])
ExperianCreditReport = vdl.struct(PKG + "ExperianCreditReport", [
    ("Rating", ExperianRating), ("TdhApprovals", vdl.set_of(Tdh)), ("Auditor", Tdh)])
TransUnionCreditReport = vdl.struct(PKG + "TransUnionCreditReport", [
    ("Rating", vdl.Int16Type), ("PreviousRatings", vdl.map_of(vdl.StringType, vdl.Int16Type))])
AgencyReport = vdl.union(PKG + "AgencyReport", [
    ("EquifaxReport", EquifaxCreditReport), ("ExperianReport", ExperianCreditReport),
    ("TransUnionReport", TransUnionCreditReport)])
CreditReport = vdl.struct(PKG + "CreditReport", [("Agency", CreditAgency),
                                                 ("Report", AgencyReport)])
Customer = vdl.struct(PKG + "Customer", [
    ("Name", vdl.StringType), ("Id", vdl.Int64Type), ("Active", vdl.BoolType),
    ("Address", AddressInfo), ("PreviousAddresses", vdl.list_of(AddressInfo)),
    ("Credit", CreditReport)])
from v23py.v23.vdlroot.time import Time  # noqa: E402
TimeType = Time._vdl_type
Invoice = vdl.struct(PKG + "Invoice", [
    ("CustId", vdl.Int64Type), ("InvoiceNum", vdl.Int64Type), ("InvoiceDate", TimeType),
    ("Amount", vdl.Int64Type), ("ShipTo", AddressInfo)])
Numbers = vdl.struct(PKG + "Numbers", [
    ("B", vdl.ByteType), ("Ui16", vdl.Uint16Type), ("Ui32", vdl.Uint32Type),
    ("Ui64", vdl.Uint64Type), ("I16", vdl.Int16Type), ("I32", vdl.Int32Type),
    ("I64", vdl.Int64Type), ("F32", vdl.Float32Type), ("F64", vdl.Float64Type)])
KeyIndexData = vdl.struct(PKG + "KeyIndexData", [
    ("A", vdl.array_of(vdl.StringType, 4)), ("L", vdl.StringListType),
    ("M", vdl.map_of(vdl.Int64Type, vdl.StringType)), ("S", vdl.set_of(vdl.StringType))])
Holder = vdl.struct(PKG + "Holder", [("A", vdl.AnyType),
                                     ("O", vdl.optional(AddressInfo))])


def new(t, **kw):
    return vdl.class_for(t)(**kw)


def addr(street, city, state, zip_):
    return new(AddressInfo, Street=street, City=city, State=state, Zip=zip_)


def when(text):
    return parse_time("Jan 2 2006 15:04:05 -0700 MST", text).to_wire()


def invoice(cust, num, date, amount, street, city="Palo Alto", state="CA", zip_="94303"):
    return new(Invoice, CustId=cust, InvoiceNum=num, InvoiceDate=when(date), Amount=amount,
               ShipTo=addr(street, city, state, zip_))


def customers():
    """The Customer table: customers and their invoices, keyed as in Go's tests."""
    AR = vdl.class_for(AgencyReport)
    eq = new(CreditReport, Agency=vdl.class_for(CreditAgency)("Equifax"),
             Report=AR("EquifaxReport", new(EquifaxCreditReport, Rating=ord("A"),
                                             FourScoreRatings=(1, 2, 3, 4))))
    tu = new(CreditReport, Agency=vdl.class_for(CreditAgency)("TransUnion"),
             Report=AR("TransUnionReport", new(TransUnionCreditReport, Rating=80,
                                                PreviousRatings={"2015Q2": 40})))
    tdh = vdl.class_for(Tdh)
    ex = new(CreditReport, Agency=vdl.class_for(CreditAgency)("Experian"),
             Report=AR("ExperianReport", new(
                 ExperianCreditReport, Rating=vdl.class_for(ExperianRating)("Good"),
                 TdhApprovals={tdh("Tom"), tdh("Harry")}, Auditor=tdh("Dick"))))
    return [
        ("001", new(Customer, Name="John Smith", Id=1, Active=True,
                    Address=addr("1 Main St.", "Palo Alto", "CA", "94303"), Credit=eq)),
        ("001001", invoice(1, 1000, "Jan 22 2015 13:11:01 -0800 PST", 42, "1 Main St.")),
        ("001002", invoice(1, 1003, "Feb 10 2015 16:12:02 -0800 PST", 7, "2 Main St.")),
        ("001003", invoice(1, 1005, "Mar 11 2015 10:13:03 -0700 PDT", 88, "3 Main St.")),
        ("002", new(Customer, Name="Bat Masterson", Id=2, Active=True,
                    Address=addr("777 Any St.", "Collins", "IA", "50055"),
                    PreviousAddresses=[addr("555 Any St.", "Collins", "IA", "50055"),
                                       addr("333 Any St.", "Collins", "IA", "50055")],
                    Credit=tu)),
        ("002001", invoice(2, 1001, "Mar 17 2015 11:14:04 -0700 PDT", 166, "777 Any St.",
                           "Collins", "IA", "50055")),
        ("002002", invoice(2, 1002, "Mar 17 2015 13:15:05 -0700 PDT", 243, "888 Any St.",
                           "Collins", "IA", "50055")),
        ("002003", invoice(2, 1004, "Apr 12 2015 22:16:06 -0700 PDT", 787, "999 Any St.",
                           "Collins", "IA", "50055")),
        ("002004", invoice(2, 1006, "Apr 13 2015 14:17:07 -0700 PDT", 88, "101010 Any St.",
                           "Collins", "IA", "50055")),
        ("003", new(Customer, Name="John \"JOS\" O'Steed", Id=3, Active=False,
                    Address=addr("100 Queen St.", "New London", "CT", "06320"), Credit=ex)),
    ]


def numbers():
    return [
        ("001", new(Numbers, B=12, Ui16=1234, Ui32=5678, Ui64=999888777666, I16=9876,
                    I32=876543, I64=128, F32=3.14159, F64=2.71828182846)),
        ("002", new(Numbers, B=9, Ui16=99, Ui32=999, Ui64=9999999, I16=9, I32=99, I64=88,
                    F32=1.41421356237, F64=1.73205080757)),
        ("003", new(Numbers, B=210, Ui16=210, Ui32=210, Ui64=210, I16=210, I32=210, I64=210,
                    F32=210.0, F64=210.0)),
    ]


def key_index_data():
    return [("aaa", new(KeyIndexData, A=("Fee", "Fi", "Fo", "Fum"),
                        L=["I", "smell", "the", "blood", "of", "an", "Englishman"],
                        M={6: "six", 7: "seven"}, S={"I'll grind his bones"}))]


class MemTable:
    """An in-memory datasource table holding VOM bytes; records the ranges it scans."""

    def __init__(self, rows, writable=True):
        self.rows = dict(rows)
        self.writable = writable
        self.scanned = []     # keys yielded
        self.ranges = None

    def scan(self, ranges):
        self.ranges = list(ranges)
        for start, limit in ranges:
            a, b = start.encode(), limit.encode()
            for k in sorted(self.rows, key=lambda s: s.encode()):
                kb = k.encode()
                if kb >= a and (not b or kb < b):
                    self.scanned.append(k)
                    yield k, self.rows[k]

    def delete(self, k):
        return self.rows.pop(k, None) is not None


class MemDB:
    def __init__(self, tables):
        self.tables = {name: MemTable({k: vom.encode(v) for k, v in rows})
                       for name, rows in tables.items()}

    def get_table(self, name, write):
        t = self.tables.get(name)
        if t is None:
            raise LookupError(f"no table {name}")
        t.scanned = []
        return t


def standard_db():
    return MemDB({"Customer": customers(), "Numbers": numbers(),
                  "KeyIndexData": key_index_data(),
                  "BigTable": [(str(i), i) for i in range(100, 301)]})
