// Command lockelect exercises etcd's Lock and Election gRPC services (v3lockpb, v3electionpb) against one
// endpoint: a contended lock handed over by Unlock and by a lease's expiry, a waiter that gives up (its key
// is deleted), a campaign that waits for the leader's resignation, Proclaim, Leader and Observe, and the
// services' errors. It prints one line per check ("name: result", with no ids or revisions, so the output of
// two servers can be compared) and exits non-zero on the first unexpected result.
// Built in GOPATH mode against Debian's golang-etcd-server-dev.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc/status"
)

func failf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "lockelect FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func must(what string, err error) {
	if err != nil {
		failf("%s: unexpected error: %v", what, err)
	}
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// errLine shows an error as the client sees it: gRPC code and message.
func errLine(err error) string {
	if err == nil {
		return "ok"
	}
	s, _ := status.FromError(err)
	return fmt.Sprintf("code=%s msg=%q", s.Code(), s.Message())
}

func grant(cli *clientv3.Client, ttl int64) clientv3.LeaseID {
	c, cancel := ctx()
	defer cancel()
	r, err := cli.Grant(c, ttl)
	must("grant", err)
	return r.ID
}

func exists(cli *clientv3.Client, key []byte) bool {
	c, cancel := ctx()
	defer cancel()
	r, err := cli.Get(c, string(key))
	must("get", err)
	return len(r.Kvs) == 1
}

type lockResult struct {
	resp *v3lockpb.LockResponse
	err  error
}

// lockAsync starts a Lock call and returns where its result arrives.
func lockAsync(c context.Context, lk v3lockpb.LockClient, name string, lease clientv3.LeaseID) chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		r, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(lease)})
		ch <- lockResult{r, err}
	}()
	return ch
}

// stillWaiting checks that nothing arrives on ch for d.
func stillWaiting(what string, ch chan lockResult, d time.Duration) {
	select {
	case r := <-ch:
		failf("%s: returned while it should wait: %v %v", what, r.resp, r.err)
	case <-time.After(d):
	}
}

func arrives(what string, ch chan lockResult, d time.Duration) *v3lockpb.LockResponse {
	select {
	case r := <-ch:
		must(what, r.err)
		return r.resp
	case <-time.After(d):
		failf("%s: still waiting after %v", what, d)
	}
	return nil
}

func testLock(cli *clientv3.Client, lk v3lockpb.LockClient, pfx string) {
	name := pfx + "lock"
	a, b, w := grant(cli, 30), grant(cli, 30), grant(cli, 30)
	c, cancel := ctx()
	defer cancel()
	ra, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(a)})
	must("lock a", err)
	if want := fmt.Sprintf("%s/%x", name, int64(a)); string(ra.Key) != want {
		failf("lock a: key %q, want %q", ra.Key, want)
	}
	fmt.Println("lock uncontended: ok")
	// The same lease again: the same key, held at once.
	again, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(a)})
	must("lock a again", err)
	fmt.Println("lock same lease again:", string(again.Key) == string(ra.Key))

	chB := lockAsync(c, lk, name, b)
	stillWaiting("lock b", chB, 700*time.Millisecond)
	// A waiter that gives up: its key goes away with it.
	wc, wcancel := context.WithCancel(context.Background())
	chW := lockAsync(wc, lk, name, w)
	wkey := []byte(fmt.Sprintf("%s/%x", name, int64(w)))
	for i := 0; i < 100 && !exists(cli, wkey); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("waiter key created:", exists(cli, wkey))
	wcancel()
	if r := <-chW; r.err == nil {
		failf("canceled lock returned %v", r.resp)
	}
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		gone = !exists(cli, wkey)
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("canceled waiter key deleted:", gone)

	ur, err := lk.Unlock(c, &v3lockpb.UnlockRequest{Key: ra.Key})
	must("unlock a", err)
	rb := arrives("lock b", chB, 5*time.Second)
	fmt.Println("lock handed over by unlock:", string(rb.Key) == fmt.Sprintf("%s/%x", name, int64(b)),
		rb.Header.Revision >= ur.Header.Revision)
	_, err = lk.Unlock(c, &v3lockpb.UnlockRequest{Key: rb.Key})
	must("unlock b", err)
}

func testLockExpiry(cli *clientv3.Client, lk v3lockpb.LockClient, pfx string) {
	name := pfx + "expiring"
	short, long := grant(cli, 2), grant(cli, 30)
	c, cancel := ctx()
	defer cancel()
	_, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(short)})
	must("lock short", err)
	start := time.Now()
	ch := lockAsync(c, lk, name, long)
	r := arrives("lock after expiry", ch, 10*time.Second)
	waited := time.Since(start)
	fmt.Println("lock taken over after the holder's lease expired:",
		string(r.Key) == fmt.Sprintf("%s/%x", name, int64(long)), waited > time.Second)
	_, err = lk.Unlock(c, &v3lockpb.UnlockRequest{Key: r.Key})
	must("unlock", err)
}

func testLockErrors(cli *clientv3.Client, lk v3lockpb.LockClient, pfx string) {
	c, cancel := ctx()
	defer cancel()
	_, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(pfx + "nolease"), Lease: 0x7eadbeef})
	fmt.Println("lock with an unknown lease:", errLine(err))
	_, err = lk.Unlock(c, &v3lockpb.UnlockRequest{})
	fmt.Println("unlock without a key:", errLine(err))
	// No lease: the server's session grants one of 60 s.
	r, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(pfx + "session")})
	must("lock without lease", err)
	g, err := cli.Get(c, string(r.Key))
	must("get session lock key", err)
	ttl, err := cli.TimeToLive(c, clientv3.LeaseID(g.Kvs[0].Lease))
	must("ttl", err)
	fmt.Println("lock without a lease gets a session lease of:", ttl.GrantedTTL)
	_, err = cli.Revoke(c, clientv3.LeaseID(g.Kvs[0].Lease))
	must("revoke", err)
}

type observed struct {
	value string
	err   error
}

func testElection(cli *clientv3.Client, el v3electionpb.ElectionClient, pfx string) {
	name := []byte(pfx + "elect")
	c, cancel := ctx()
	defer cancel()
	_, err := el.Leader(c, &v3electionpb.LeaderRequest{Name: name})
	fmt.Println("leader without candidates:", errLine(err))

	oc, ocancel := context.WithCancel(context.Background())
	defer ocancel()
	obs, err := el.Observe(oc, &v3electionpb.LeaderRequest{Name: name})
	must("observe", err)
	seen := make(chan observed, 16)
	go func() {
		for {
			r, err := obs.Recv()
			if err != nil {
				seen <- observed{err: err}
				return
			}
			seen <- observed{value: string(r.Kv.Value)}
		}
	}()
	next := func(what string) string {
		select {
		case o := <-seen:
			if o.err != nil {
				failf("%s: observe ended: %v", what, o.err)
			}
			return o.value
		case <-time.After(5 * time.Second):
			failf("%s: nothing observed", what)
		}
		return ""
	}

	la, lb := grant(cli, 30), grant(cli, 30)
	ca, err := el.Campaign(c, &v3electionpb.CampaignRequest{Name: name, Lease: int64(la), Value: []byte("a")})
	must("campaign a", err)
	fmt.Println("campaign uncontended:", string(ca.Leader.Key) == fmt.Sprintf("%s/%x", name, int64(la)),
		ca.Leader.Rev == ca.Header.Revision, ca.Leader.Lease == int64(la), string(ca.Leader.Name) == string(name))
	fmt.Println("observed:", next("first leader"))
	lr, err := el.Leader(c, &v3electionpb.LeaderRequest{Name: name})
	must("leader", err)
	fmt.Println("leader:", string(lr.Kv.Value), lr.Kv.CreateRevision == ca.Leader.Rev)

	chB := make(chan *v3electionpb.CampaignResponse, 1)
	go func() {
		r, err := el.Campaign(c, &v3electionpb.CampaignRequest{Name: name, Lease: int64(lb), Value: []byte("b")})
		must("campaign b", err)
		chB <- r
	}()
	time.Sleep(500 * time.Millisecond)
	select {
	case r := <-chB:
		failf("campaign b returned while a leads: %v", r)
	default:
	}
	_, err = el.Proclaim(c, &v3electionpb.ProclaimRequest{Leader: ca.Leader, Value: []byte("a2")})
	must("proclaim a2", err)
	fmt.Println("observed after proclaim:", next("proclaimed"))
	notLeader := &v3electionpb.LeaderKey{Name: name, Key: []byte(fmt.Sprintf("%s/%x", name, int64(lb))),
		Rev: ca.Leader.Rev, Lease: int64(lb)}
	_, err = el.Proclaim(c, &v3electionpb.ProclaimRequest{Leader: notLeader, Value: []byte("x")})
	fmt.Println("proclaim by a waiting candidate:", errLine(err))
	_, err = el.Proclaim(c, &v3electionpb.ProclaimRequest{Value: []byte("x")})
	fmt.Println("proclaim without a leader key:", errLine(err))
	_, err = el.Resign(c, &v3electionpb.ResignRequest{})
	fmt.Println("resign without a leader key:", errLine(err))

	_, err = el.Resign(c, &v3electionpb.ResignRequest{Leader: ca.Leader})
	must("resign a", err)
	select {
	case rb := <-chB:
		fmt.Println("campaign won after resign:", string(rb.Leader.Key) == string(notLeader.Key),
			rb.Leader.Rev > ca.Leader.Rev)
		fmt.Println("observed after resign:", next("new leader"))
		// Resigning with a stale revision changes nothing.
		stale := *rb.Leader
		stale.Rev = ca.Leader.Rev
		_, err = el.Resign(c, &v3electionpb.ResignRequest{Leader: &stale})
		fmt.Println("resign with a stale revision:", errLine(err), exists(cli, rb.Leader.Key))
		_, err = el.Resign(c, &v3electionpb.ResignRequest{Leader: rb.Leader})
		must("resign b", err)
	case <-time.After(5 * time.Second):
		failf("campaign b did not win after a resigned")
	}
	_, err = el.Leader(c, &v3electionpb.LeaderRequest{Name: name})
	fmt.Println("leader after every resign:", errLine(err))

	// A campaign that gives up while waiting resigns: its key is deleted.
	lc, ld := grant(cli, 30), grant(cli, 30)
	_, err = el.Campaign(c, &v3electionpb.CampaignRequest{Name: name, Lease: int64(lc), Value: []byte("c")})
	must("campaign c", err)
	fmt.Println("observed:", next("leader c"))
	dc, dcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := el.Campaign(dc, &v3electionpb.CampaignRequest{Name: name, Lease: int64(ld), Value: []byte("d")})
		done <- err
	}()
	dkey := []byte(fmt.Sprintf("%s/%x", name, int64(ld)))
	for i := 0; i < 100 && !exists(cli, dkey); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	dcancel()
	if err := <-done; err == nil {
		failf("canceled campaign succeeded")
	}
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		gone = !exists(cli, dkey)
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("canceled campaign resigned:", gone)
	// The leader's lease is revoked: observers see nobody, then the next candidate.
	_, err = cli.Revoke(c, lc)
	must("revoke c", err)
	le := grant(cli, 30)
	_, err = el.Campaign(c, &v3electionpb.CampaignRequest{Name: name, Lease: int64(le), Value: []byte("e")})
	must("campaign e", err)
	fmt.Println("observed after the leader's lease was revoked:", next("leader e"))
	ocancel()
	select {
	case o := <-seen:
		fmt.Println("observe after the client canceled:", errLine(o.err))
	case <-time.After(5 * time.Second):
		failf("observe did not end")
	}
	_, err = cli.Revoke(c, le)
	must("revoke e", err)
}

// holdLock takes the lock name through the Lock service (waiting as long as it takes), prints its key,
// holds it for hold and unlocks: for tests that mix it with etcdctl's client-side mutex.
func holdLock(cli *clientv3.Client, lk v3lockpb.LockClient, name string, hold time.Duration) {
	lease := grant(cli, 30)
	r, err := lk.Lock(context.Background(), &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(lease)})
	must("lock", err)
	fmt.Printf("locked %s\n", r.Key)
	time.Sleep(hold)
	c, cancel := ctx()
	defer cancel()
	_, err = lk.Unlock(c, &v3lockpb.UnlockRequest{Key: r.Key})
	must("unlock", err)
	_, err = cli.Revoke(c, lease)
	must("revoke", err)
}

// holdLeadership campaigns through the Election service, prints when elected, leads for hold and resigns.
func holdLeadership(cli *clientv3.Client, el v3electionpb.ElectionClient, name, value string, hold time.Duration) {
	lease := grant(cli, 30)
	r, err := el.Campaign(context.Background(),
		&v3electionpb.CampaignRequest{Name: []byte(name), Lease: int64(lease), Value: []byte(value)})
	must("campaign", err)
	fmt.Printf("elected %s\n", r.Leader.Key)
	time.Sleep(hold)
	c, cancel := ctx()
	defer cancel()
	_, err = el.Resign(c, &v3electionpb.ResignRequest{Leader: r.Leader})
	must("resign", err)
	_, err = cli.Revoke(c, lease)
	must("revoke", err)
}

// expiredWaiter checks a waiter whose lease expires while it waits: once the holder unlocks, its Lock call
// ends with the line printed (etcd 3.4 answers "ok", a lock whose key is gone; 3.5 and ledgerkv refuse).
func expiredWaiter(cli *clientv3.Client, lk v3lockpb.LockClient, name string) {
	holder, short := grant(cli, 30), grant(cli, 2)
	c, cancel := ctx()
	defer cancel()
	r, err := lk.Lock(c, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(holder)})
	must("lock holder", err)
	ch := lockAsync(c, lk, name, short)
	key := []byte(fmt.Sprintf("%s/%x", name, int64(short)))
	stillWaiting("short-lived waiter", ch, 500*time.Millisecond)
	for i := 0; i < 100 && exists(cli, key); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println("waiter's key expired:", !exists(cli, key))
	_, err = lk.Unlock(c, &v3lockpb.UnlockRequest{Key: r.Key})
	must("unlock holder", err)
	select {
	case res := <-ch:
		fmt.Println("expired waiter's lock:", errLine(res.err))
	case <-time.After(5 * time.Second):
		failf("the expired waiter still waits after the unlock")
	}
	_, err = cli.Revoke(c, holder)
	must("revoke", err)
}

// observe prints each leader value Observe sends until the stream ends, then how it ended; with
// requireLeader the stream asks for a leader (clientv3's WithRequireLeader).
func observe(el v3electionpb.ElectionClient, name string, requireLeader bool) {
	c := context.Background()
	if requireLeader {
		c = clientv3.WithRequireLeader(c)
	}
	obs, err := el.Observe(c, &v3electionpb.LeaderRequest{Name: []byte(name)})
	must("observe", err)
	for {
		r, err := obs.Recv()
		if err != nil {
			fmt.Println("observe ended:", errLine(err))
			return
		}
		fmt.Println("observed", string(r.Kv.Value))
	}
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "client endpoint")
	prefix := flag.String("prefix", "lockelect/", "key prefix")
	mode := flag.String("mode", "all", "all (the checks), lock or campaign (one holder, see -name), "+
		"expired (a waiter whose lease expires) or observe")
	name := flag.String("name", "", "lock or election name (modes lock and campaign)")
	value := flag.String("value", "", "the campaign's value (mode campaign)")
	hold := flag.Duration("hold", time.Second, "how long the lock or leadership is held")
	requireLeader := flag.Bool("require-leader", false, "mode observe: the stream requires a leader")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	must("connect", err)
	defer cli.Close()
	lk := v3lockpb.NewLockClient(cli.ActiveConnection())
	el := v3electionpb.NewElectionClient(cli.ActiveConnection())
	switch *mode {
	case "lock":
		holdLock(cli, lk, *name, *hold)
		return
	case "campaign":
		holdLeadership(cli, el, *name, *value, *hold)
		return
	case "expired":
		expiredWaiter(cli, lk, *name)
		return
	case "observe":
		observe(el, *name, *requireLeader)
		return
	}
	testLockErrors(cli, lk, *prefix)
	testLock(cli, lk, *prefix)
	testLockExpiry(cli, lk, *prefix)
	testElection(cli, el, *prefix)
	fmt.Println(strings.Repeat("-", 3), "lockelect PASS")
}
