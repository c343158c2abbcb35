// Command watchstress loads one server's Watch service: -watchers single-key watchers on one stream, -streams
// streams with one prefix watcher each, and a raw stream that watches every key but stops reading (a stalled
// client), while writers put small values to the watched keys and large ones under s/big/. It checks that
// every watcher of the live streams receives exactly its events, in revision order, while the stalled
// client is still stalled; then it reads the stalled stream and checks that it, too, got every event in
// order. Lines "PHASE <name>" on stdout let the caller sample the server's memory per phase. Built in GOPATH
// mode against Debian's golang-etcd-server-dev (clientv3 v3.4).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func failf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "watchstress FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func must(what string, err error) {
	if err != nil {
		failf("%s: %v", what, err)
	}
}

func phase(name string) {
	fmt.Printf("PHASE %s\n", name)
}

// log records, per key, the revisions written to it (from the put responses).
type log struct {
	mu   sync.Mutex
	revs map[string][]int64
}

func (l *log) add(key string, rev int64) {
	l.mu.Lock()
	l.revs[key] = append(l.revs[key], rev)
	l.mu.Unlock()
}

// collector gathers the revisions one watcher receives.
type collector struct {
	mu   sync.Mutex
	revs []int64
	keys []string
}

func (c *collector) run(wch clientv3.WatchChan) {
	for wr := range wch {
		if wr.Err() != nil {
			failf("watch error: %v", wr.Err())
		}
		c.mu.Lock()
		for _, e := range wr.Events {
			c.revs = append(c.revs, e.Kv.ModRevision)
			c.keys = append(c.keys, string(e.Kv.Key))
		}
		c.mu.Unlock()
	}
}

func (c *collector) snapshot() ([]int64, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.revs...), append([]string(nil), c.keys...)
}

func sortedInts(a []int64) []int64 {
	b := append([]int64(nil), a...)
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j] < b[j-1]; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
	return b
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitAll waits until every collector holds exactly the revisions want(i), in order.
func waitAll(what string, cs []*collector, want func(i int) []int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for i := 0; i < len(cs); i++ {
		w := want(i)
		for {
			got, _ := cs[i].snapshot()
			if equal(got, w) {
				break
			}
			if len(got) > len(w) || time.Now().After(deadline) {
				failf("%s watcher %d: got %d events %v..., want %d %v...", what, i, len(got), head(got), len(w), head(w))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func head(a []int64) []int64 {
	if len(a) > 5 {
		return a[:5]
	}
	return a
}

func main() {
	ep := flag.String("endpoint", "127.0.0.1:2379", "host:port of the server")
	nWatchers := flag.Int("watchers", 10000, "single-key watchers on one stream")
	nStreams := flag.Int("streams", 1000, "streams with one prefix watcher each")
	nSmall := flag.Int("small", 3000, "small puts to watched keys")
	nBig := flag.Int("big", 1500, "large puts under s/big/ (only the stalled client watches them)")
	bigSize := flag.Int("big-size", 64*1024, "size of a large value")
	flag.Parse()

	cfg := clientv3.Config{Endpoints: []string{*ep}, DialTimeout: 5 * time.Second}
	one, err := clientv3.New(cfg)
	must("connect", err)
	defer one.Close()
	many, err := clientv3.New(cfg)
	must("connect", err)
	defer many.Close()

	ctx := context.Background()
	g, err := one.Get(ctx, "s/")
	must("get", err)
	start := g.Header.Revision + 1

	// 1. many watchers on one stream (one context), and many streams (one context each)
	singles := make([]*collector, *nWatchers)
	for i := range singles {
		singles[i] = &collector{}
		go singles[i].run(one.Watch(ctx, fmt.Sprintf("s/one/%05d", i), clientv3.WithRev(start)))
	}
	multis := make([]*collector, *nStreams)
	for i := range multis {
		multis[i] = &collector{}
		sctx := metadata.AppendToOutgoingContext(ctx, "watchstress-stream", strconv.Itoa(i))
		go multis[i].run(many.Watch(sctx, fmt.Sprintf("s/multi/%03d/", i), clientv3.WithPrefix(), clientv3.WithRev(start)))
	}

	// 2. the stalled client: a raw stream watching every key under s/, never read until the end
	conn, err := grpc.Dial(*ep, grpc.WithInsecure(), grpc.WithBlock(), grpc.WithTimeout(5*time.Second),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	must("dial stalled client", err)
	defer conn.Close()
	stalled, err := pb.NewWatchClient(conn).Watch(ctx)
	must("stalled watch", err)
	must("stalled create", stalled.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
		CreateRequest: &pb.WatchCreateRequest{Key: []byte("s/"), RangeEnd: []byte("s0"), StartRevision: start}}}))
	phase("setup-done")

	// 3. writers
	l := &log{revs: map[string][]int64{}}
	var all []int64 // every revision written, for the stalled client
	var allMu sync.Mutex
	big := strings.Repeat("b", *bigSize)
	jobs := make(chan string, 256)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range jobs {
				val := "v"
				if strings.HasPrefix(key, "s/big/") {
					val = big
				}
				resp, err := one.Put(ctx, key, val)
				must("put "+key, err)
				l.add(key, resp.Header.Revision)
				allMu.Lock()
				all = append(all, resp.Header.Revision)
				allMu.Unlock()
			}
		}()
	}
	r := rand.New(rand.NewSource(1))
	for i, b := 0, 0; i < *nSmall || b < *nBig; {
		if b < *nBig && (i >= *nSmall || r.Intn(*nSmall+*nBig) < *nBig) {
			jobs <- fmt.Sprintf("s/big/%d", b%50)
			b++
		} else if r.Intn(2) == 0 {
			jobs <- fmt.Sprintf("s/one/%05d", r.Intn(*nWatchers))
			i++
		} else {
			jobs <- fmt.Sprintf("s/multi/%03d/k%d", r.Intn(*nStreams), r.Intn(3))
			i++
		}
	}
	close(jobs)
	wg.Wait()
	phase("writes-done")

	// 4. everyone but the stalled client has everything, in order
	waitAll("single", singles, func(i int) []int64 { return sortedInts(l.revs[fmt.Sprintf("s/one/%05d", i)]) }, 60*time.Second)
	waitAll("prefix", multis, func(i int) []int64 {
		var w []int64
		for k := 0; k < 3; k++ {
			w = append(w, l.revs[fmt.Sprintf("s/multi/%03d/k%d", i, k)]...)
		}
		return sortedInts(w)
	}, 60*time.Second)
	phase("live-verified")

	// 5. the stalled client reads now: every event, once, in order
	want := sortedInts(all)
	var got []int64
	deadline := time.Now().Add(120 * time.Second)
	for len(got) < len(want) {
		if time.Now().After(deadline) {
			failf("stalled client: %d of %d events", len(got), len(want))
		}
		resp, err := stalled.Recv()
		must("stalled recv", err)
		if resp.Canceled {
			failf("stalled client canceled: %v (compact %d)", resp.CancelReason, resp.CompactRevision)
		}
		for _, e := range resp.Events {
			got = append(got, e.Kv.ModRevision)
		}
	}
	if !equal(got, want) {
		failf("stalled client: events out of order or wrong: %d events", len(got))
	}
	phase("stalled-verified")
	fmt.Println("watchstress PASS")
}
