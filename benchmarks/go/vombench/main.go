// Command vombench times Go Vanadium's VOM (v.io v0.2.0) on the values that
// benchmarks/vom_bench.py times in v23py, so that the script can print both in one run.
// It writes one JSON object per line: {"name", "value", "unit"} for each figure (CPU time
// of this process, like the Python side) and {"name", "hex"} with the bytes each value
// encodes to, which the script compares with its own.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"syscall"
	"time"

	"v.io/v23/vdl"
	"v.io/v23/vom"
)

// SmallStruct is the benchmark's struct, named as the Python side names it.  Its codec
// methods use the vdl.Encoder/Decoder interfaces directly, as the Go code generated for
// VDL types does; without them Go would take its slower reflection path.
type SmallStruct struct {
	A int32
	B string
	C bool
}

func (SmallStruct) VDLReflect(struct {
	Name string `vdl:"v23py/bench.SmallStruct"`
}) {
}

var smallType *vdl.Type

func (x SmallStruct) VDLIsZero() bool { return x == SmallStruct{} }

func (x SmallStruct) VDLWrite(enc vdl.Encoder) error {
	if err := enc.StartValue(smallType); err != nil {
		return err
	}
	if x.A != 0 {
		if err := enc.NextFieldValueInt(0, vdl.Int32Type, int64(x.A)); err != nil {
			return err
		}
	}
	if x.B != "" {
		if err := enc.NextFieldValueString(1, vdl.StringType, x.B); err != nil {
			return err
		}
	}
	if x.C {
		if err := enc.NextFieldValueBool(2, vdl.BoolType, x.C); err != nil {
			return err
		}
	}
	if err := enc.NextField(-1); err != nil {
		return err
	}
	return enc.FinishValue()
}

func (x *SmallStruct) VDLRead(dec vdl.Decoder) error {
	*x = SmallStruct{}
	if err := dec.StartValue(smallType); err != nil {
		return err
	}
	wire := dec.Type()
	for {
		i, err := dec.NextField()
		if err != nil {
			return err
		}
		if i < 0 {
			return dec.FinishValue()
		}
		if wire != smallType { // a compatible type sent by another program: match by name
			if i = smallType.FieldIndexByName(wire.Field(i).Name); i < 0 {
				if err := dec.SkipValue(); err != nil {
					return err
				}
				continue
			}
		}
		switch i {
		case 0:
			v, err := dec.ReadValueInt(32)
			if err != nil {
				return err
			}
			x.A = int32(v)
		case 1:
			if x.B, err = dec.ReadValueString(); err != nil {
				return err
			}
		case 2:
			if x.C, err = dec.ReadValueBool(); err != nil {
				return err
			}
		}
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perOp runs body(n) with n doubling until it takes minTime of CPU; seconds per op.
// prepare(n), untimed, sets up what body(n) consumes.
func perOp(minTime time.Duration, prepare func(n int), body func(n int)) float64 {
	for n := 1; ; n *= 2 {
		if prepare != nil {
			prepare(n)
		}
		t0 := cpu()
		body(n)
		if dt := cpu() - t0; dt >= minTime {
			return dt.Seconds() / float64(n)
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "vombench:", err)
		os.Exit(1)
	}
}

func main() {
	minTime := flag.Duration("min-time", 500*time.Millisecond, "CPU time per figure")
	flag.Parse()
	smallType = vdl.TypeOf((*SmallStruct)(nil)).Elem()
	out := json.NewEncoder(os.Stdout)
	emit := func(name string, v float64, unit string) {
		must(out.Encode(map[string]interface{}{"name": name, "value": v, "unit": unit}))
	}
	show := func(name string, b []byte) {
		must(out.Encode(map[string]interface{}{"name": name, "hex": hex.EncodeToString(b)}))
	}
	small := SmallStruct{A: 123, B: "hello", C: true}

	// Steady state on one stream: the type was sent with the first value.
	var buf bytes.Buffer
	enc := vom.NewEncoder(&buf)
	must(enc.Encode(small))
	emit("small struct encode (types sent)", 1e9*perOp(*minTime, nil, func(n int) {
		for i := 0; i < n; i++ {
			buf.Reset()
			must(enc.Encode(small))
		}
	}), "ns")
	var stream []byte
	emit("small struct decode (types sent)", 1e9*perOp(*minTime, func(n int) {
		var b bytes.Buffer
		e := vom.NewEncoder(&b)
		for i := 0; i <= n; i++ {
			must(e.Encode(small))
		}
		stream = b.Bytes()
	}, func(n int) {
		dec := vom.NewDecoder(bytes.NewReader(stream))
		var x SmallStruct
		must(dec.Decode(&x)) // the type message and the first value
		for i := 0; i < n; i++ {
			must(dec.Decode(&x))
		}
	}), "ns")
	one, err := vom.Encode(small)
	must(err)
	show("small struct", one)
	emit("small struct encode one-shot", 1e9*perOp(*minTime, nil, func(n int) {
		for i := 0; i < n; i++ {
			_, err := vom.Encode(small)
			must(err)
		}
	}), "ns")
	emit("small struct decode one-shot", 1e9*perOp(*minTime, nil, func(n int) {
		for i := 0; i < n; i++ {
			var x SmallStruct
			must(vom.Decode(one, &x))
		}
	}), "ns")

	blob := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(blob)
	t := perOp(*minTime, nil, func(n int) {
		for i := 0; i < n; i++ {
			_, err := vom.Encode(blob)
			must(err)
		}
	})
	emit("[]byte 1 MiB encode", float64(len(blob))/t/1e6, "MB/s")
	blobMsg, err := vom.Encode(blob)
	must(err)
	t = perOp(*minTime, nil, func(n int) {
		for i := 0; i < n; i++ {
			var x []byte
			must(vom.Decode(blobMsg, &x))
		}
	})
	emit("[]byte 1 MiB decode", float64(len(blob))/t/1e6, "MB/s")

	lists := []struct {
		name string
		strs []string
	}{{"[]string x10000", make([]string, 10000)}, {"[]string x10000 mixed lengths", make([]string, 10000)}}
	for i := range lists[0].strs {
		lists[0].strs[i] = fmt.Sprintf("s%05d", i)
		lists[1].strs[i] = fmt.Sprintf("k%d", mixed(i))
	}
	for _, l := range lists {
		strs := l.strs
		msg, err := vom.Encode(strs)
		must(err)
		show(l.name, msg)
		size := float64(len(msg))
		t := perOp(*minTime, nil, func(n int) {
			for i := 0; i < n; i++ {
				_, err := vom.Encode(strs)
				must(err)
			}
		})
		emit(l.name+" encode", size/t/1e6, "MB/s")
		t = perOp(*minTime, nil, func(n int) {
			for i := 0; i < n; i++ {
				var x []string
				must(vom.Decode(msg, &x))
			}
		})
		emit(l.name+" decode", size/t/1e6, "MB/s")
	}
}

// mixed is the i-th number of the mixed-length list: 1 to 12 digits, the same on both
// sides (a small linear congruential generator, not Go's or Python's random).
func mixed(i int) uint64 {
	x := uint64(i)*6364136223846793005 + 1442695040888963407
	x ^= x >> 33
	digits := 1 + x%12
	p := uint64(1)
	for d := uint64(0); d < digits; d++ {
		p *= 10
	}
	return (x >> 7) % p
}
