"""The rows `sb make-demo` writes: the same collections, keys and values as Go's
sb demo database (types in ``v23py/cmd/sb/demodb``)."""
from __future__ import annotations

import calendar
import time as _time

from v23py import vdl
from v23py.cmd.sb import demodb as D
from v23py.v23.vdlroot.time import Duration, Time

_UNIX_EPOCH = 62135596800
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _unix_time(sec, nsec=0):
    return Time(Seconds=sec + _UNIX_EPOCH, Nanos=nsec)


def go_parse_zone_time(text: str) -> Time:
    """Go's time.Parse("Jan 2 15:04:05 MST 2006", text): a zone abbreviation the local
    zone knows (at that time) gives its offset; any other is UTC with a zero offset."""
    mon, day, hms, zone, year = text.split()
    h, m, s = (int(x) for x in hms.split(":"))
    naive = calendar.timegm((int(year), _MONTHS.index(mon) + 1, int(day), h, m, s, 0, 0, 0))
    if zone != "UTC":
        # candidates: the local zone's offsets around that date
        for probe in (naive - 12 * 3600, naive, naive + 12 * 3600):
            lt = _time.localtime(probe)
            if lt.tm_zone == zone:
                return _unix_time(naive - lt.tm_gmtoff)
    return _unix_time(naive)


def _address(street, city, state, zip_):
    return D.AddressInfo(Street=street, City=city, State=state, Zip=zip_)


def _customer(name, cid, active, addr, agency, report):
    return D.Customer(Name=name, Id=cid, Active=active, Address=addr,
                      Credit=D.CreditReport(Agency=D.CreditAgency(agency),
                                            Report=D.AgencyReport(*report)))


def _invoice(cust, num, amount, addr):
    return D.Invoice(CustId=cust, InvoiceNum=num, Amount=amount, ShipTo=addr)


def _numbers(*v):
    names = ("B", "Ui16", "Ui32", "Ui64", "I16", "I32", "I64", "F32", "F64")
    return D.Numbers(**dict(zip(names, v)))


def collections():
    """[(collection name, [(key, value), ...]), ...] in Go's order."""
    palo = [_address(f"{n} Main St.", "Palo Alto", "CA", "94303") for n in (1, 2, 3)]
    collins = lambda street: _address(street, "Collins", "IA", "50055")  # noqa: E731
    equifax = ("EquifaxReport", D.EquifaxCreditReport(Rating=ord("A")))
    transunion = ("TransUnionReport", D.TransUnionCreditReport(Rating=80))
    bat = _customer("Bat Masterson", 2, True, collins("777 Any St."), "TransUnion", transunion)
    arr = D.Array2String
    experian = D.CreditReport(Agency=D.CreditAgency("Experian"),
                              Report=D.AgencyReport("ExperianReport", D.ExperianCreditReport(
                                  Rating=D.ExperianRating("Good"))))
    foo = D.FooType(Bar=D.BarType(Baz=D.BazType(Name="hello",
                                                TitleOrValue=D.TitleOrValueType("Value", 42))))
    rec_t = vdl.type_of(D.Recursive())
    recursive = D.Recursive(
        Any=None,
        Maybe=D.Times(Stamp=_unix_time(123456789, 42244224), Interval=Duration(Seconds=0,
                                                                              Nanos=1337)),
        Rec={arr(("a", "b")): D.Recursive(),
             arr(("x", "y")): D.Recursive(Any=experian, Maybe=None, Rec={
                 arr(("alpha", "beta")): D.Recursive(Any=foo, Maybe=None, Rec={})}),
             arr(("u", "v")): D.Recursive(Any=rec_t, Maybe=None, Rec={})})
    student = lambda name, when, score: D.Student(  # noqa: E731
        Name=name, TestTime=go_parse_zone_time(when) if when else Time(Seconds=0, Nanos=0),
        Score=D.ActOrSatScore(*score))
    return [
        ("Customers", [
            ("001", _customer("John Smith", 1, True, palo[0], "Equifax", equifax)),
            ("001001", _invoice(1, 1000, 42, palo[0])),
            ("001002", _invoice(1, 1003, 7, palo[1])),
            ("001003", _invoice(1, 1005, 88, palo[2])),
            ("002", bat),
            ("002001", _invoice(2, 1001, 166, collins("777 Any St."))),
            ("002002", _invoice(2, 1002, 243, collins("888 Any St."))),
            ("002003", _invoice(2, 1004, 787, collins("999 Any St."))),
            ("002004", _invoice(2, 1006, 88, collins("101010 Any St."))),
        ]),
        ("Numbers", [
            ("001", _numbers(12, 1234, 5678, 999888777666, 9876, 876543, 128, 3.14159,
                             2.71828182846)),
            ("002", _numbers(9, 99, 999, 9999999, 9, 99, 88, 1.41421356237, 1.73205080757)),
            ("003", _numbers(210, 210, 210, 210, 210, 210, 210, 210.0, 210.0)),
        ]),
        ("Composites", [
            ("uno", D.Composite(Arr=arr(("foo", "bar")), ListInt=[1, 2], MySet={1, 2},
                                Map={"foo": 1, "bar": 2})),
        ]),
        ("Recursives", [("alpha", recursive)]),
        ("Students", [
            ("1", student("John Smith", "Jul 22 12:34:56 PDT 2015", ("ActScore", 36))),
            ("2", student("Mary Jones", "Sep 4 01:23:45 PDT 2015", ("SatScore", 1200))),
        ]),
        ("AnythingGoes", [
            ("bar", D.AnythingGoes(NameOfType="Student", Anything=student(
                "John Smith", None, ("ActScore", 36)))),
            ("baz", D.AnythingGoes(NameOfType="Customer", Anything=bat)),
        ]),
    ]
