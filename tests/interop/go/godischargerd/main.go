// godischargerd: a discharger written against Go Vanadium v0.2.0, for the interop
// tests of v23py (built by .ci/go-programs.sh). It serves one object whose
// Discharge(caveat, impetus) method issues a discharge for a third-party caveat
// naming this principal's key when the caveat's conditions hold for the caller and
// its id is not listed in --revoked-file (one id per line, read on every request);
// the discharge expires after --discharge-expiry. It prints ENDPOINT=<name> once it
// serves, and runs until a signal.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	v23 "v.io/v23"
	"v.io/v23/context"
	"v.io/v23/rpc"
	"v.io/v23/security"
	"v.io/x/ref/lib/signals"
	_ "v.io/x/ref/runtime/factories/generic"
)

var (
	revokedFile = flag.String("revoked-file", "", "File of revoked third-party caveat ids, one per line.")
	expiry      = flag.Duration("discharge-expiry", time.Hour, "Lifetime of the discharges issued.")
)

type discharger struct{}

func revoked(id string) bool {
	if *revokedFile == "" {
		return false
	}
	f, err := os.Open(*revokedFile)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.TrimSpace(s.Text()) == id {
			return true
		}
	}
	return false
}

func (discharger) Discharge(ctx *context.T, call rpc.ServerCall, cav security.Caveat, _ security.DischargeImpetus) (security.Discharge, error) {
	tp := cav.ThirdPartyDetails()
	if tp == nil {
		return security.Discharge{}, fmt.Errorf("not a third-party caveat: %v", cav)
	}
	if err := tp.Dischargeable(ctx, call.Security()); err != nil {
		return security.Discharge{}, fmt.Errorf("third-party caveat %v cannot be discharged: %v", tp, err)
	}
	if revoked(tp.ID()) {
		return security.Discharge{}, fmt.Errorf("third-party caveat %v is revoked", tp.ID())
	}
	exp, err := security.NewExpiryCaveat(time.Now().Add(*expiry))
	if err != nil {
		return security.Discharge{}, err
	}
	return call.Security().LocalPrincipal().MintDischarge(cav, exp)
}

func main() {
	ctx, shutdown := v23.Init()
	defer shutdown()
	_, server, err := v23.WithNewServer(ctx, "", discharger{}, security.AllowEveryone())
	if err != nil {
		fmt.Fprintln(os.Stderr, "godischargerd:", err)
		os.Exit(1)
	}
	fmt.Printf("ENDPOINT=%s\n", server.Status().Endpoints[0].Name())
	os.Stdout.Sync()
	<-signals.ShutdownOnSignals(ctx)
}
