// Command kubewatch replays kube-apiserver's use of etcd's Watch with clientv3 against one endpoint: a
// prefix watch from start_revision = rev+1 with prev_kv and progress notifications, RequestProgress on the
// watch's stream, several watchers on one stream and their cancellation, a compacted start revision
// (ErrCompacted), and fragmented responses. Exits non-zero with a message on the first unexpected result.
// The server must run with a short --experimental-watch-progress-notify-interval (-progress, below) and
// --max-request-bytes 1048576 (fragment limit 1.5 MiB). Built in GOPATH mode against Debian's
// golang-etcd-server-dev (clientv3 v3.4).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

type checker struct {
	cli      *clientv3.Client
	prefix   string
	progress time.Duration
}

func failf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kubewatch FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func must(what string, err error) {
	if err != nil {
		failf("%s: unexpected error: %v", what, err)
	}
}

func (c *checker) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

func (c *checker) put(key, val string) int64 {
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.cli.Put(ctx, key, val)
	must("put "+key, err)
	return resp.Header.Revision
}

func (c *checker) del(key string, opts ...clientv3.OpOption) int64 {
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.cli.Delete(ctx, key, opts...)
	must("delete "+key, err)
	return resp.Header.Revision
}

// next returns the next response on wch within d, failing on timeout or a closed channel.
func next(what string, wch clientv3.WatchChan, d time.Duration) clientv3.WatchResponse {
	select {
	case wr, ok := <-wch:
		if !ok {
			failf("%s: watch channel closed", what)
		}
		return wr
	case <-time.After(d):
		failf("%s: nothing within %v", what, d)
	}
	panic("unreachable")
}

// events collects n events (skipping progress notifications) from wch.
func events(what string, wch clientv3.WatchChan, n int) []*clientv3.Event {
	var evs []*clientv3.Event
	for len(evs) < n {
		wr := next(what, wch, 10*time.Second)
		must(what, wr.Err())
		evs = append(evs, wr.Events...)
	}
	if len(evs) != n {
		failf("%s: %d events, want %d", what, len(evs), n)
	}
	return evs
}

type want struct {
	typ  mvccpb.Event_EventType
	key  string
	val  string
	rev  int64
	prev string // "" = no prev_kv
}

func expect(what string, evs []*clientv3.Event, ws []want) {
	for i, w := range ws {
		e := evs[i]
		if e.Type != w.typ || string(e.Kv.Key) != w.key || string(e.Kv.Value) != w.val || e.Kv.ModRevision != w.rev {
			failf("%s: event %d is %v %q=%q@%d, want %v %q=%q@%d", what, i, e.Type, e.Kv.Key, e.Kv.Value,
				e.Kv.ModRevision, w.typ, w.key, w.val, w.rev)
		}
		got := ""
		if e.PrevKv != nil {
			got = string(e.PrevKv.Value)
		}
		if got != w.prev {
			failf("%s: event %d prev_kv %q, want %q", what, i, got, w.prev)
		}
	}
}

// cacher is kube's watch cache: a prefix watch from the revision of its initial list, with prev_kv and
// progress notifications, then RequestProgress to learn that the cache is fresh.
func (c *checker) cacher() {
	p := c.prefix + "pods/"
	rev := c.put(p+"a", "1")
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	defer cancel()
	wch := c.cli.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV(),
		clientv3.WithProgressNotify())
	r1 := c.put(p+"b", "1")
	r2 := c.put(p+"a", "2")
	r3 := c.del(p + "b")
	expect("cacher", events("cacher", wch, 3), []want{
		{mvccpb.PUT, p + "b", "1", r1, ""},
		{mvccpb.PUT, p + "a", "2", r2, "1"},
		{mvccpb.DELETE, p + "b", "", r3, "1"},
	})
	// periodic progress notification: no events, the revision it is synced to
	deadline := time.Now().Add(10 * c.progress)
	for {
		wr := next("progress notify", wch, 10*c.progress+5*time.Second)
		if wr.IsProgressNotify() {
			if wr.Header.Revision < r3 {
				failf("progress notify at %d, before the last event %d", wr.Header.Revision, r3)
			}
			break
		}
		if time.Now().After(deadline) {
			failf("no progress notification within %v", 10*c.progress)
		}
	}
	// RequestProgress on the same stream: answered with watch id -1, broadcast to every watcher
	r4 := c.put(c.prefix+"other", "x")
	must("RequestProgress", c.cli.RequestProgress(ctx))
	for {
		wr := next("requested progress", wch, 10*time.Second)
		must("requested progress", wr.Err())
		if wr.IsProgressNotify() && wr.Header.Revision >= r4 {
			break
		}
		if len(wr.Events) > 0 {
			failf("requested progress: unexpected events %v", wr.Events)
		}
	}
}

// streams: several watchers on one stream (one context), one canceled while the others go on.
func (c *checker) streams() {
	p := c.prefix + "nodes/"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	w1 := c.cli.Watch(ctx, p+"n1")
	w2 := c.cli.Watch(cctx, p+"n2")
	w3 := c.cli.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithFilterDelete())
	time.Sleep(200 * time.Millisecond) // clientv3 has no "created" wait for default watches
	r1 := c.put(p+"n1", "a")
	r2 := c.put(p+"n2", "b")
	expect("n1", events("n1", w1, 1), []want{{mvccpb.PUT, p + "n1", "a", r1, ""}})
	expect("n2", events("n2", w2, 1), []want{{mvccpb.PUT, p + "n2", "b", r2, ""}})
	ccancel()
	for range w2 { // closed once the cancel is through
	}
	c.del(p + "n1")
	r4 := c.put(p+"n2", "c")
	expect("prefix", events("prefix", w3, 3), []want{
		{mvccpb.PUT, p + "n1", "a", r1, ""},
		{mvccpb.PUT, p + "n2", "b", r2, ""},
		{mvccpb.PUT, p + "n2", "c", r4, ""},
	})
}

// compacted: a watch from a compacted revision fails with ErrCompacted and reports the compact revision.
func (c *checker) compacted() {
	p := c.prefix + "compact/"
	first := c.put(p+"k", "1")
	c.put(p+"k", "2")
	last := c.put(p+"k", "3")
	ctx, cancel := c.ctx()
	defer cancel()
	_, err := c.cli.Compact(ctx, last)
	must("compact", err)
	wch := c.cli.Watch(ctx, p+"k", clientv3.WithRev(first))
	wr := next("compacted watch", wch, 10*time.Second)
	if wr.Err() != rpctypes.ErrCompacted || wr.CompactRevision != last || !wr.Canceled {
		failf("compacted watch: err %v compact %d canceled %v, want ErrCompacted at %d", wr.Err(),
			wr.CompactRevision, wr.Canceled, last)
	}
	// the compact revision itself is still watchable
	wch = c.cli.Watch(ctx, p+"k", clientv3.WithRev(last))
	expect("at compact revision", events("at compact revision", wch, 1), []want{{mvccpb.PUT, p + "k", "3", last, ""}})
}

// fragment: one revision (a prefix delete with prev_kv) larger than the fragment limit arrives whole.
func (c *checker) fragment() {
	p := c.prefix + "big/"
	val := strings.Repeat("v", 200*1024)
	for i := 0; i < 10; i++ {
		c.put(fmt.Sprintf("%s%02d", p, i), val)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	wf := c.cli.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithFragment())
	wn := c.cli.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithPrevKV())
	time.Sleep(200 * time.Millisecond)
	rev := c.del(p, clientv3.WithPrefix())
	for _, wch := range []clientv3.WatchChan{wf, wn} {
		wr := next("fragmented", wch, 10*time.Second)
		must("fragmented", wr.Err())
		if len(wr.Events) != 10 {
			failf("fragmented: %d events in one response, want 10", len(wr.Events))
		}
		for _, e := range wr.Events {
			if e.Type != mvccpb.DELETE || e.Kv.ModRevision != rev || e.PrevKv == nil || len(e.PrevKv.Value) != len(val) {
				failf("fragmented: bad event %v@%d", e.Type, e.Kv.ModRevision)
			}
		}
	}
}

func main() {
	ep := flag.String("endpoint", "127.0.0.1:2379", "host:port of the server")
	prefix := flag.String("prefix", "/registry/", "key prefix to work under (must be unused)")
	progress := flag.Duration("progress", 300*time.Millisecond, "the server's progress notify interval")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*ep}, DialTimeout: 5 * time.Second})
	must("connect", err)
	defer cli.Close()
	c := &checker{cli: cli, prefix: *prefix, progress: *progress}
	c.cacher()
	c.streams()
	c.compacted()
	c.fragment()
	fmt.Println("kubewatch PASS")
}
