// Command sbextra drives Go's 2017 Syncbase client library where sbclient has no
// command: an application conflict resolver, schema upgrades and syncgroup invites.
// It is v23py's own test helper, built by .ci/go-sbextra.sh against the go-syncbase
// build (../shared/go-syncbase/build.sh). Ids are "blessing,name"; values strings.
//
//	sbextra [v23 flags] resolve [-mode=M] [-version=V] [-n=N] SB DB CX PREFIX
//	    hold a resolver for the rows of CX under PREFIX (AppResolves) until N
//	    conflicts were answered; each conflict prints its rows and a line
//	    "RESOLVED <count>". Modes: merge (new value "merged:<a>+<b>" of the two
//	    sorted values, or the newer version when they are equal), local, remote,
//	    ancestor, delete.
//	sbextra [v23 flags] schema [-version=V] [-resolver] SB DB CX PREFIX
//	    EnforceSchema with that version and rule, then print the stored metadata
//	sbextra [v23 flags] invites [-n=N] SB DB
//	    print the first N syncgroup invites found in the neighborhood
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	v23 "v.io/v23"
	"v.io/v23/context"
	wire "v.io/v23/services/syncbase"
	"v.io/v23/syncbase"
	sbdisc "v.io/x/ref/services/syncbase/discovery"
	_ "v.io/x/ref/runtime/factories/generic"
)

var (
	mode     = flag.String("mode", "merge", "how conflicts are resolved")
	version  = flag.Int("version", 1, "schema version")
	count    = flag.Int("n", 1, "conflicts (or invites) to wait for")
	timeout  = flag.Duration("wait", 60*time.Second, "how long to wait")
	resolver = flag.Bool("resolver", false, "schema: include a resolver")
)

func id(s string) wire.Id {
	i, err := wire.ParseId(s)
	if err != nil {
		fail(err)
	}
	return i
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ERROR:", err)
	os.Exit(1)
}

func show(v syncbase.Value) string {
	if v.State != wire.ValueStateExists {
		return v.State.String()
	}
	var s string
	if err := v.Get(&s); err != nil {
		return "?" + err.Error()
	}
	return "Exists:" + s
}

type resolverImpl struct {
	done chan struct{}
	seen int
}

func (r *resolverImpl) OnConflict(ctx *context.T, c *syncbase.Conflict) syncbase.Resolution {
	res := syncbase.Resolution{ResultSet: map[string]syncbase.ResolvedRow{}}
	if c.WriteSet == nil {
		return res
	}
	keys := make([]string, 0, len(c.WriteSet.ByKey))
	for k := range c.WriteSet.ByKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row := c.WriteSet.ByKey[k]
		rowKey := k[strings.LastIndex(k, "\xfe")+1:]
		fmt.Printf("CONFLICT %s local=%s remote=%s ancestor=%s batches=%d\n", rowKey,
			show(row.LocalValue), show(row.RemoteValue), show(row.AncestorValue), len(c.Batches))
		out := syncbase.ResolvedRow{Key: row.Key}
		switch *mode {
		case "local":
			out.Result = &row.LocalValue
		case "remote":
			out.Result = &row.RemoteValue
		case "ancestor":
			out.Result = &row.AncestorValue
		case "delete":
			out.Result = nil
		default:
			var a, b string
			row.LocalValue.Get(&a)
			row.RemoteValue.Get(&b)
			switch {
			case row.LocalValue.State != wire.ValueStateExists || row.RemoteValue.State != wire.ValueStateExists:
				out.Result, _ = syncbase.NewValue(ctx, "resolved:"+rowKey)
			case a == b && row.RemoteValue.WriteTs.After(row.LocalValue.WriteTs):
				out.Result = &row.RemoteValue
			case a == b:
				out.Result = &row.LocalValue
			default:
				if b < a {
					a, b = b, a
				}
				out.Result, _ = syncbase.NewValue(ctx, "merged:"+a+"+"+b)
			}
		}
		res.ResultSet[row.Key] = out
	}
	r.seen++
	fmt.Printf("RESOLVED %d\n", r.seen)
	if r.seen == *count {
		close(r.done)
	}
	return res
}

func schema(cx wire.Id, prefix string, r syncbase.ConflictResolver) *syncbase.Schema {
	rt := wire.ResolverTypeAppResolves
	if r == nil {
		rt = wire.ResolverTypeLastWins
	}
	return &syncbase.Schema{
		Metadata: wire.SchemaMetadata{
			Version: int32(*version),
			Policy: wire.CrPolicy{Rules: []wire.CrRule{
				{CollectionId: cx, KeyPrefix: prefix, Resolver: rt}}},
		},
		Resolver: r,
	}
}

func main() {
	ctx, shutdown := v23.Init()
	defer shutdown()
	a := flag.Args()
	if len(a) < 3 {
		fail(fmt.Errorf("usage: sbextra resolve|schema|invites SB DB ..."))
	}
	sb := syncbase.NewService(a[1])
	switch a[0] {
	case "resolve":
		r := &resolverImpl{done: make(chan struct{})}
		db := sb.DatabaseForId(id(a[2]), schema(id(a[3]), a[4], r))
		if err := db.EnforceSchema(ctx); err != nil {
			fail(err)
		}
		fmt.Println("READY")
		select {
		case <-r.done:
		case <-time.After(*timeout):
			fail(fmt.Errorf("%d conflicts seen, %d expected", r.seen, *count))
		}
		db.Close()
	case "schema":
		var r syncbase.ConflictResolver
		if *resolver {
			r = &resolverImpl{done: make(chan struct{})}
		}
		db := sb.DatabaseForId(id(a[2]), schema(id(a[3]), a[4], r))
		if err := db.EnforceSchema(ctx); err != nil {
			fail(err)
		}
		md, err := wire.DatabaseClient(db.FullName()).GetSchemaMetadata(ctx)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%+v\n", md)
	case "invites":
		ch := make(chan sbdisc.Invite)
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if err := sbdisc.ListenForInvites(lctx, id(a[2]), ch); err != nil {
			fail(err)
		}
		fmt.Println("READY")
		deadline := time.After(*timeout)
		for n := 0; n < *count; n++ {
			select {
			case inv := <-ch:
				fmt.Printf("INVITE %s %s\n", inv.Syncgroup, strings.Join(inv.Addresses, " "))
			case <-deadline:
				fail(fmt.Errorf("%d invites seen, %d expected", n, *count))
			}
		}
	default:
		fail(fmt.Errorf("unknown command %q", a[0]))
	}
}
