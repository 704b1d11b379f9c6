// Command sbinterop drives a Syncbase daemon (Go's or v23py's) through Go's 2017
// Syncbase client library on Go v.io v0.2.0, for v23py's mixed interop tests
// (tests/interop/test_syncbase_mixed_go.py). Built by .ci/go-sbinterop.sh inside the
// module that ../shared/go-syncbase/build.sh makes.
//
// Databases, collections and syncgroups are given by name; their blessings are
// inferred from the caller's credentials as the client library does. Values print as
// VDL constants (vdlgen.TypedConst, as Go's vrpc prints them); errors as "err <id>".
//
//	sbinterop trace    SB DB                     the client-library scenario (see trace())
//	sbinterop setup    SB DB CX...               database and collections
//	sbinterop createsg SB DB SG CX[,CX...] [MT...]
//	sbinterop join     SB DB SG ADMIN_SB
//	sbinterop put|get|del SB DB CX KEY [VALUE]
//	sbinterop scan     SB DB CX
//	sbinterop batch    SB DB CX KEY=VALUE...     one batch
//	sbinterop marker   SB DB                     the resume marker, hex
//	sbinterop watch    SB DB MARKER PREFIX N     changes after MARKER (hex) through the batch
//	                                             that completes N rows with keys PREFIX...
//	sbinterop spec     SB DB SG
//	sbinterop members  SB DB SG
//	sbinterop putblob  SB DB CX KEY DATA         a blob holding DATA, its ref put at KEY
//	sbinterop getblob  SB DB CX KEY              the blob whose ref is at KEY, fetched
//	sbinterop pause|resume SB DB
//	sbinterop stranger SB DBID CXID SGID        what a caller outside every ACL gets
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	v23 "v.io/v23"
	"v.io/v23/context"
	"v.io/v23/security"
	"v.io/v23/security/access"
	wire "v.io/v23/services/syncbase"
	"v.io/v23/services/watch"
	"v.io/v23/syncbase"
	sbutil "v.io/v23/syncbase/util"
	"v.io/v23/vdl"
	"v.io/v23/verror"
	"v.io/x/ref/lib/vdl/codegen/vdlgen"
	_ "v.io/x/ref/runtime/factories/generic"
)

func tc(v *vdl.Value) string { return vdlgen.TypedConst(v, "", nil) }

func tcOf(x interface{}) string { return tc(vdl.ValueOf(x)) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ERROR:", err)
	os.Exit(1)
}

func must(err error) {
	if err != nil {
		fail(err)
	}
}

// out prints "what ok" or "what err <id>".
func out(what string, err error) {
	if err != nil {
		fmt.Printf("%s err %s\n", what, verror.ErrorID(err))
		return
	}
	fmt.Printf("%s ok\n", what)
}

// es is "ok" or "err <id>".
func es(err error) string {
	if err != nil {
		return "err " + string(verror.ErrorID(err))
	}
	return "ok"
}

func userPattern(ctx *context.T) security.BlessingPattern {
	_, user, err := sbutil.AppAndUserPatternFromBlessings(security.DefaultBlessingNames(v23.GetPrincipal(ctx))...)
	must(err)
	return user
}

func spec(ctx *context.T, desc string, cxs []wire.Id, mts []string) wire.SyncgroupSpec {
	perms := access.Permissions{}
	perms.Add(userPattern(ctx), string(access.Admin), string(access.Read))
	return wire.SyncgroupSpec{Description: desc, Perms: perms, Collections: cxs, MountTables: mts}
}

var info = wire.SyncgroupMemberInfo{SyncPriority: 10}

func main() {
	ctx, shutdown := v23.Init()
	defer shutdown()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	a := flag.Args()
	if len(a) < 3 {
		fail(fmt.Errorf("usage: sbinterop CMD SB DB ..."))
	}
	cmd, sb := a[0], syncbase.NewService(a[1])
	db := sb.Database(ctx, a[2], nil)
	if strings.Contains(a[2], ",") {
		db = sb.DatabaseForId(id(a[2]), nil)
	}
	switch cmd {
	case "trace":
		trace(ctx, sb, db)
	case "setup":
		must(db.Create(ctx, nil))
		for _, n := range a[3:] {
			must(db.Collection(ctx, n).Create(ctx, nil))
		}
		fmt.Println("OK setup")
	case "createsg":
		var cxs []wire.Id
		for _, n := range strings.Split(a[4], ",") {
			cxs = append(cxs, db.Collection(ctx, n).Id())
		}
		must(db.Syncgroup(ctx, a[3]).Create(ctx, spec(ctx, "mixed", cxs, a[5:]), info))
		fmt.Println("OK createsg")
	case "join":
		s, err := db.Syncgroup(ctx, a[3]).Join(ctx, a[4], nil, info)
		must(err)
		fmt.Printf("OK join %s\n", tcOf(s))
	case "put":
		must(db.Collection(ctx, a[3]).Put(ctx, a[4], a[5]))
		fmt.Println("OK put")
	case "del":
		must(db.Collection(ctx, a[3]).Delete(ctx, a[4]))
		fmt.Println("OK del")
	case "get":
		var v *vdl.Value
		must(db.Collection(ctx, a[3]).Get(ctx, a[4], &v))
		fmt.Printf("%s = %s\n", a[4], tc(v))
	case "scan":
		scan(ctx, db.Collection(ctx, a[3]), syncbase.Prefix(""), "")
	case "batch":
		must(syncbase.RunInBatch(ctx, db, wire.BatchOptions{}, func(b syncbase.BatchDatabase) error {
			for _, kv := range a[4:] {
				k, v := split(kv)
				if err := b.Collection(ctx, a[3]).Put(ctx, k, v); err != nil {
					return err
				}
			}
			return nil
		}))
		fmt.Println("OK batch")
	case "marker":
		m, err := db.GetResumeMarker(ctx)
		must(err)
		fmt.Println(hex.EncodeToString(m))
	case "watch":
		// changes after MARKER until N rows whose keys start with PREFIX have come
		// and the batch holding the last of them has ended
		m, err := hex.DecodeString(a[3])
		must(err)
		var n int
		fmt.Sscan(a[5], &n)
		ws := db.Watch(ctx, watch.ResumeMarker(m), allRows)
		for seen := 0; ws.Advance(); {
			c := ws.Change()
			fmt.Println(change(c))
			if c.EntityType == syncbase.EntityRow && strings.HasPrefix(c.Row, a[4]) {
				seen++
			}
			if seen >= n && !c.Continued {
				break
			}
		}
		must(ws.Err())
		ws.Cancel()
	case "spec":
		s, version, err := db.Syncgroup(ctx, a[3]).GetSpec(ctx)
		must(err)
		fmt.Printf("%s %s\n", tcOf(s), version)
	case "members":
		m, err := db.Syncgroup(ctx, a[3]).GetMembers(ctx)
		must(err)
		for _, n := range sortedKeys(m) {
			fmt.Printf("%s %s\n", n, tcOf(m[n]))
		}
	case "putblob":
		b, err := db.CreateBlob(ctx)
		must(err)
		w, err := b.Put(ctx)
		must(err)
		must(w.Send([]byte(a[5])))
		must(w.Close())
		must(b.Commit(ctx))
		must(db.Collection(ctx, a[3]).Put(ctx, a[4], b.Ref()))
		fmt.Println(b.Ref())
	case "getblob":
		var br wire.BlobRef
		must(db.Collection(ctx, a[3]).Get(ctx, a[4], &br))
		b := db.Blob(br)
		st, err := b.Fetch(ctx, 100)
		must(err)
		for st.Advance() {
			if st.Value().State == wire.BlobFetchStateDone {
				st.Cancel()
			}
		}
		fmt.Println(readBlob(ctx, b, 0))
	case "stranger":
		stranger(ctx, sb, a[2], a[3], a[4])
	case "pause":
		must(db.PauseSync(ctx))
		fmt.Println("OK pause")
	case "resume":
		must(db.ResumeSync(ctx))
		fmt.Println("OK resume")
	default:
		fail(fmt.Errorf("unknown command %q", cmd))
	}
}

var allRows = []wire.CollectionRowPattern{{CollectionBlessing: "%", CollectionName: "%", RowKey: "%"}}

func id(s string) wire.Id {
	i, err := wire.ParseId(s)
	must(err)
	return i
}

// stranger tries what a caller that no ACL names may try on someone else's database,
// collection and syncgroup (all given as "blessing,name").
func stranger(ctx *context.T, sb syncbase.Service, dbId, cxId, sgId string) {
	p := func(format string, args ...interface{}) { fmt.Printf(format+"\n", args...) }
	db := sb.DatabaseForId(id(dbId), nil)
	cx := db.CollectionForId(id(cxId))
	sg := db.SyncgroupForId(id(sgId))
	ok, err := db.Exists(ctx)
	p("db exists %v %s", ok, es(err))
	out("db create", db.Create(ctx, nil))
	out("db destroy", db.Destroy(ctx))
	_, err = db.ListCollections(ctx)
	out("db listcollections", err)
	_, _, err = db.GetPermissions(ctx)
	out("db getperms", err)
	out("db setperms", db.SetPermissions(ctx, access.Permissions{}.Add(userPattern(ctx), "Admin"), ""))
	_, err = db.BeginBatch(ctx, wire.BatchOptions{})
	out("db beginbatch", err)
	_, err = db.GetResumeMarker(ctx)
	out("db resumemarker", err)
	_, _, err = db.Exec(ctx, "select k from cx")
	out("db exec", err)
	ok, err = cx.Exists(ctx)
	p("cx exists %v %s", ok, es(err))
	out("cx create", cx.Create(ctx, nil))
	_, err = cx.GetPermissions(ctx)
	out("cx getperms", err)
	p("cx get = %s", getv(ctx, cx, "k"))
	out("cx put", cx.Put(ctx, "k", "x"))
	out("cx delete", cx.Delete(ctx, "k"))
	out("cx deleterange", cx.DeleteRange(ctx, syncbase.Prefix("")))
	ok, err = cx.Row("k").Exists(ctx)
	p("row exists %v %s", ok, es(err))
	scan(ctx, cx, syncbase.Prefix(""), "cx scan ")
	_, _, err = sg.GetSpec(ctx)
	out("sg getspec", err)
	_, err = sg.GetMembers(ctx)
	out("sg getmembers", err)
	_, err = db.ListSyncgroups(ctx)
	out("db listsyncgroups", err)
	_, err = db.CreateBlob(ctx)
	out("db createblob", err)
	_, _, err = sb.GetPermissions(ctx)
	out("service getperms", err)
	out("service setperms", sb.SetPermissions(ctx, access.Permissions{}.Add(userPattern(ctx), "Admin"), ""))
	ids, err := sb.ListDatabases(ctx)
	p("service listdatabases %d %s", len(ids), es(err))
}

func split(kv string) (string, string) {
	i := strings.Index(kv, "=")
	return kv[:i], kv[i+1:]
}

func sortedKeys(m map[string]wire.SyncgroupMemberInfo) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func scan(ctx *context.T, cx syncbase.Collection, r syncbase.RowRange, prefix string) {
	s := cx.Scan(ctx, r)
	for s.Advance() {
		var v *vdl.Value
		if err := s.Value(&v); err != nil {
			fmt.Printf("%s%s err %s\n", prefix, s.Key(), verror.ErrorID(err))
			continue
		}
		fmt.Printf("%s%s = %s\n", prefix, s.Key(), tc(v))
	}
	if err := s.Err(); err != nil {
		fmt.Printf("%serr %s\n", prefix, verror.ErrorID(err))
	}
}

func readBlob(ctx *context.T, b syncbase.Blob, offset int64) string {
	r, err := b.Get(ctx, offset)
	if err != nil {
		return "err " + string(verror.ErrorID(err))
	}
	var data []byte
	for r.Advance() {
		data = append(data, r.Value()...)
	}
	if err := r.Err(); err != nil {
		return "err " + string(verror.ErrorID(err))
	}
	return fmt.Sprintf("%q", data)
}

// getv is the value at key as a VDL constant, or "err <id>".
func getv(ctx *context.T, cx syncbase.Collection, key string) string {
	var v *vdl.Value // a fresh one: decoding into a non-nil *vdl.Value keeps its type
	if err := cx.Get(ctx, key, &v); err != nil {
		return "err " + string(verror.ErrorID(err))
	}
	return tc(v)
}

// change prints a watch change: entity, collection, row, put/delete, value, flags.
func change(c syncbase.WatchChange) string {
	kind := "put"
	if c.ChangeType == syncbase.DeleteChange {
		kind = "delete"
	}
	val := "-"
	entity := "root"
	switch c.EntityType {
	case syncbase.EntityCollection:
		entity = "collection"
		if c.ChangeType == syncbase.PutChange {
			ci := c.CollectionInfo()
			var tags []string
			for t := range ci.Allowed {
				tags = append(tags, string(t))
			}
			sort.Strings(tags)
			val = fmt.Sprintf("allowed=%s perms=%s", strings.Join(tags, ","), tcOf(ci.Perms))
		}
	case syncbase.EntityRow:
		entity = "row"
		if c.ChangeType == syncbase.PutChange {
			var v *vdl.Value
			if err := c.Value(&v); err != nil {
				val = "err " + string(verror.ErrorID(err))
			} else {
				val = tc(v)
			}
		}
	}
	cx := ""
	if c.Collection.Name != "" {
		cx = c.Collection.String()
	}
	return fmt.Sprintf("%s %q %q %s %s fromSync=%v continued=%v", entity, cx, c.Row, kind, val,
		c.FromSync, c.Continued)
}

// trace runs the client-library scenario; tests run the same scenario with v23py's
// client library and compare the lines.
func trace(ctx *context.T, sb syncbase.Service, db syncbase.Database) {
	p := func(format string, args ...interface{}) { fmt.Printf(format+"\n", args...) }
	ok, err := db.Exists(ctx)
	p("db exists %v %s", ok, es(err))
	out("db create", db.Create(ctx, nil))
	out("db create again", db.Create(ctx, nil))
	ids, err := sb.ListDatabases(ctx)
	must(err)
	has := false
	for _, id := range ids {
		has = has || id == db.Id()
	}
	p("listdatabases has db %v", has)
	cx := db.Collection(ctx, "cx")
	out("cx create", cx.Create(ctx, nil))
	out("cx2 create", db.Collection(ctx, "cx2").Create(ctx, nil))
	out("cx create again", cx.Create(ctx, nil))
	cids, err := db.ListCollections(ctx)
	must(err)
	p("listcollections %s", tcOf(cids))

	// values of many kinds, a struct and a *struct (optional in the any) among them
	puts := []struct {
		k string
		v interface{}
	}{
		{"a", "va"}, {"b", int64(7)}, {"c", wire.Id{Blessing: "x", Name: "y"}},
		{"d", &wire.Id{Blessing: "p", Name: "q"}}, {"e", []byte{1, 2, 3}}, {"f", uint32(9)},
		{"g", []string{"s1", "s2"}}, {"h", float64(1.5)}, {"i", true}, {"k/x%y", "escaped"},
	}
	for _, kv := range puts {
		out("put "+kv.k, cx.Put(ctx, kv.k, kv.v))
	}
	for _, kv := range puts {
		p("get %s = %s", kv.k, getv(ctx, cx, kv.k))
	}
	p("get missing = %s", getv(ctx, cx, "zz"))
	for _, k := range []string{"a", "zz"} {
		ok, err := cx.Row(k).Exists(ctx)
		p("row %s exists %v %s", k, ok, es(err))
	}
	scan(ctx, cx, syncbase.Prefix(""), "scan ")
	scan(ctx, cx, syncbase.Range("b", "e"), "scan b-e ")
	scan(ctx, cx, syncbase.Prefix("k/"), "scan k/ ")

	// batches
	b1, err := db.BeginBatch(ctx, wire.BatchOptions{})
	must(err)
	out("batch put j", b1.Collection(ctx, "cx").Put(ctx, "j", "in-batch"))
	p("get j outside the batch = %s", getv(ctx, cx, "j"))
	p("batch get j = %s", getv(ctx, b1.Collection(ctx, "cx"), "j"))
	out("batch commit", b1.Commit(ctx))
	out("batch commit again", b1.Commit(ctx))
	p("get j = %s", getv(ctx, cx, "j"))
	ro, err := db.BeginBatch(ctx, wire.BatchOptions{ReadOnly: true})
	must(err)
	out("readonly put", ro.Collection(ctx, "cx").Put(ctx, "k", "x"))
	out("readonly commit", ro.Commit(ctx))
	out("readonly abort", ro.Abort(ctx))
	ab, err := db.BeginBatch(ctx, wire.BatchOptions{})
	must(err)
	out("aborted put l", ab.Collection(ctx, "cx").Put(ctx, "l", "x"))
	out("abort", ab.Abort(ctx))
	p("get l = %s", getv(ctx, cx, "l"))
	out("commit after abort", ab.Commit(ctx))
	c1, err := db.BeginBatch(ctx, wire.BatchOptions{})
	must(err)
	p("conflict read a = %s", getv(ctx, c1.Collection(ctx, "cx"), "a"))
	out("put a outside", cx.Put(ctx, "a", "va2"))
	out("conflict put a", c1.Collection(ctx, "cx").Put(ctx, "a", "c1"))
	out("conflict commit", c1.Commit(ctx))

	// deletes
	out("delete b", cx.Delete(ctx, "b"))
	p("get b = %s", getv(ctx, cx, "b"))
	out("delete b again", cx.Delete(ctx, "b"))
	out("deleterange g-i", cx.DeleteRange(ctx, syncbase.Range("g", "i")))
	scan(ctx, cx, syncbase.Prefix(""), "after deletes ")

	// syncQL
	for _, q := range []struct {
		q      string
		params []interface{}
	}{
		{"select k, v from cx", nil},
		{"select k, v.Name from cx where Type(v) like \"%Id\"", nil},
		{"select k from cx where k = ?", []interface{}{"c"}},
		{"select k, v from cx where v = ?", []interface{}{int64(9)}},
		{"delete from cx where k = \"e\"", nil},
		{"select k from cx", nil},
		{"select k from nosuch", nil},
		{"selec k from cx", nil},
	} {
		headers, rs, err := db.Exec(ctx, q.q, q.params...)
		if err != nil {
			out("exec "+q.q, err)
			continue
		}
		p("exec %s headers %s", q.q, tcOf(headers))
		for rs.Advance() {
			var cols []string
			for i := 0; i < rs.ResultCount(); i++ {
				var c *vdl.Value
				if err := rs.Result(i, &c); err != nil {
					cols = append(cols, "err "+string(verror.ErrorID(err)))
				} else {
					cols = append(cols, tc(c))
				}
			}
			p("  row %s", strings.Join(cols, ", "))
		}
		if err := rs.Err(); err != nil {
			out("  end", err)
		}
	}

	// watch: changes after a resume marker, then again from one change's marker
	m, err := db.GetResumeMarker(ctx)
	must(err)
	out("put w1", cx.Put(ctx, "w1", "x1"))
	out("delete a", cx.Delete(ctx, "a"))
	out("batch w2 w3", syncbase.RunInBatch(ctx, db, wire.BatchOptions{}, func(b syncbase.BatchDatabase) error {
		if err := b.Collection(ctx, "cx").Put(ctx, "w2", "x2"); err != nil {
			return err
		}
		return b.Collection(ctx, "cx").Put(ctx, "w3", int64(3))
	}))
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	ws := db.Watch(wctx, m, allRows)
	var markers []watch.ResumeMarker
	for i := 0; i < 4 && ws.Advance(); i++ {
		c := ws.Change()
		markers = append(markers, c.ResumeMarker)
		p("watch %s marker %v", change(c), len(c.ResumeMarker) > 0)
	}
	out("watch", ws.Err())
	ws.Cancel()
	wcancel()
	if len(markers) == 4 {
		// a resume marker is given only at the end of a batch: resuming from the
		// second change's marker starts after the delete
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		ws := db.Watch(wctx, markers[1], allRows)
		for i := 0; i < 2 && ws.Advance(); i++ {
			p("rewatch %s", change(ws.Change()))
		}
		out("rewatch", ws.Err())
		ws.Cancel()
		wcancel()
	}
	// the initial state: root, collections, rows, as one batch
	wctx, wcancel = context.WithTimeout(ctx, 20*time.Second)
	ws = db.Watch(wctx, nil, []wire.CollectionRowPattern{{CollectionBlessing: "%", CollectionName: "cx%", RowKey: "w%"}})
	for ws.Advance() {
		c := ws.Change()
		p("initial %s", change(c))
		if !c.Continued {
			break
		}
	}
	out("initial", ws.Err())
	ws.Cancel()
	wcancel()

	// permissions
	perms, version, err := db.GetPermissions(ctx)
	p("db perms %s %q %s", tcOf(perms), version, es(err))
	out("db setperms", db.SetPermissions(ctx, perms, version))
	out("db setperms stale", db.SetPermissions(ctx, perms, version))
	_, version2, _ := db.GetPermissions(ctx)
	p("db perms version %q", version2)
	out("db setperms no version", db.SetPermissions(ctx, perms, ""))
	out("db setperms no admin", db.SetPermissions(ctx, access.Permissions{}.Add(userPattern(ctx), "Read"), ""))
	cperms, err := cx.GetPermissions(ctx)
	p("cx perms %s %s", tcOf(cperms), es(err))
	ro2 := access.Permissions{}.Add(userPattern(ctx), string(access.Admin), string(access.Read))
	out("cx setperms read-only", cx.SetPermissions(ctx, ro2))
	out("put when read-only", cx.Put(ctx, "n", "x"))
	out("cx setperms back", cx.SetPermissions(ctx, cperms))
	out("cx setperms bad tag", cx.SetPermissions(ctx, access.Permissions{}.Add(userPattern(ctx), "Admin", "Debug")))
	sperms, sversion, err := sb.GetPermissions(ctx)
	p("service perms %s %q %s", tcOf(sperms), sversion, es(err))

	// syncgroups
	sg := db.Syncgroup(ctx, "sg1")
	sp := spec(ctx, "d1", []wire.Id{cx.Id()}, nil)
	out("sg create", sg.Create(ctx, sp, info))
	out("sg create again", sg.Create(ctx, sp, info))
	out("sg create no collection", db.Syncgroup(ctx, "sg2").Create(ctx,
		spec(ctx, "d", []wire.Id{{Blessing: string(userPattern(ctx)), Name: "nosuch"}}, nil), info))
	got, sv, err := sg.GetSpec(ctx)
	p("sg spec %s version-set %v %s", tcOf(got), sv != "", es(err))
	sp.Description = "d2"
	out("sg setspec", sg.SetSpec(ctx, sp, sv))
	out("sg setspec stale", sg.SetSpec(ctx, sp, sv))
	got, _, _ = sg.GetSpec(ctx)
	p("sg spec description %q", got.Description)
	sp.Collections = append(sp.Collections, db.Collection(ctx, "cx2").Id())
	out("sg setspec collections", sg.SetSpec(ctx, sp, ""))
	members, err := sg.GetMembers(ctx)
	p("sg members %d %s", len(members), es(err))
	for _, n := range sortedKeys(members) {
		p("  member hex %v info %s", isHexID(n), tcOf(members[n]))
	}
	sgs, err := db.ListSyncgroups(ctx)
	p("listsyncgroups %s %s", tcOf(sgs), es(err))
	out("sg leave", sg.Leave(ctx))
	out("sg destroy", sg.Destroy(ctx))
	out("sg eject", sg.Eject(ctx, "abc"))
	_, err = db.Syncgroup(ctx, "nosg").Join(ctx, "", nil, info)
	out("sg join nowhere", err)

	// blobs
	bl, err := db.CreateBlob(ctx)
	must(err)
	p("blob ref form %v", strings.HasPrefix(string(bl.Ref()), "blob/"))
	w, err := bl.Put(ctx)
	must(err)
	out("blob send", w.Send([]byte("hello ")))
	out("blob send", w.Send([]byte("blob")))
	out("blob close", w.Close())
	n, err := bl.Size(ctx)
	p("blob size %d %s", n, es(err))
	p("blob get uncommitted %s", readBlob(ctx, bl, 0))
	out("blob commit", bl.Commit(ctx))
	out("blob commit again", bl.Commit(ctx))
	p("blob get %s", readBlob(ctx, bl, 0))
	p("blob get 6 %s", readBlob(ctx, bl, 6))
	p("blob get 11 %s", readBlob(ctx, bl, 11))
	out("blob row put", cx.Put(ctx, "blobrow", bl.Ref()))
	var br wire.BlobRef
	out("blob row get", cx.Get(ctx, "blobrow", &br))
	p("blob row ref same %v", br == bl.Ref())
	p("blob row = %s", strings.Replace(getv(ctx, cx, "blobrow"), string(bl.Ref()), "REF", 1))
	st, err := bl.Fetch(ctx, 100)
	must(err)
	for st.Advance() {
		s := st.Value()
		p("blob fetch %s", s.State)
		if s.State == wire.BlobFetchStateDone {
			st.Cancel()
		}
	}
	out("blob pin", bl.Pin(ctx))
	out("blob keep", bl.Keep(ctx, 2))
	out("blob unpin", bl.Unpin(ctx))
	out("blob delete", bl.Delete(ctx))
	_, err = bl.Size(ctx)
	out("blob size deleted", err)
	_, err = db.Blob("blob/nonsense").Size(ctx)
	out("blob bad ref", err)

	// destroy
	out("cx2 destroy", db.Collection(ctx, "cx2").Destroy(ctx))
	ok, err = db.Collection(ctx, "cx2").Exists(ctx)
	p("cx2 exists %v %s", ok, es(err))
	out("db destroy", db.Destroy(ctx))
	ok, err = db.Exists(ctx)
	p("db exists %v %s", ok, es(err))
	out("db destroy again", db.Destroy(ctx))
}

// isHexID: a member name is a daemon's 64-bit id in lower-case hex, without leading
// zeros (so 1 in 16 ids has fewer than 16 digits)
func isHexID(n string) bool {
	_, err := strconv.ParseUint(n, 16, 64)
	return err == nil && n == strings.ToLower(n)
}
