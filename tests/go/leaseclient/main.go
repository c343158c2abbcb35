// Command leaseclient exercises the Lease API with clientv3 (etcd 3.4) against one endpoint and exits non-zero
// with a message on the first unexpected result: grants, puts with a lease, TimeToLive with keys, Leases,
// KeepAliveOnce, a KeepAlive stream holding a lease past its TTL, expiry deleting the lease's keys,
// Revoke, a concurrency.Session, and etcd's errors for unknown or duplicate leases, recognised by identity.
// Built in GOPATH mode against Debian's golang-etcd-server-dev.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
)

func failf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "leaseclient FAIL: "+format+"\n", args...)
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

func count(cli *clientv3.Client, key string, opts ...clientv3.OpOption) int64 {
	c, cancel := ctx()
	defer cancel()
	resp, err := cli.Get(c, key, append(opts, clientv3.WithCountOnly())...)
	must("get "+key, err)
	return resp.Count
}

// waitGone polls until no key with the prefix is left; the lease's expiry must delete them.
func waitGone(cli *clientv3.Client, prefix string, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		if count(cli, prefix, clientv3.WithPrefix()) == 0 {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	failf("keys under %s still present %v after the lease's TTL", prefix, limit)
	return 0
}

func basics(cli *clientv3.Client, prefix string) {
	c, cancel := ctx()
	defer cancel()
	g, err := cli.Grant(c, 30)
	must("grant", err)
	if g.TTL != 30 || g.ID == 0 {
		failf("grant: got id %x ttl %d", g.ID, g.TTL)
	}
	for _, k := range []string{"b", "a"} {
		_, err = cli.Put(c, prefix+k, "v", clientv3.WithLease(g.ID))
		must("put with lease", err)
	}
	ttl, err := cli.TimeToLive(c, g.ID, clientv3.WithAttachedKeys())
	must("timetolive", err)
	keys := []string{}
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	if ttl.GrantedTTL != 30 || ttl.TTL < 28 || ttl.TTL > 30 || len(keys) != 2 || keys[0] != prefix+"a" {
		failf("timetolive: %+v keys %v", ttl, keys)
	}
	ls, err := cli.Leases(c)
	must("leases", err)
	found := false
	for _, l := range ls.Leases {
		found = found || l.ID == g.ID
	}
	if !found {
		failf("leases: %x not listed in %+v", g.ID, ls.Leases)
	}
	ka, err := cli.KeepAliveOnce(c, g.ID)
	must("keepaliveonce", err)
	if ka.TTL != 30 || ka.ID != g.ID {
		failf("keepaliveonce: %+v", ka)
	}
	_, err = cli.Revoke(c, g.ID)
	must("revoke", err)
	if n := count(cli, prefix, clientv3.WithPrefix()); n != 0 {
		failf("revoke left %d keys", n)
	}
	ttl, err = cli.TimeToLive(c, g.ID)
	must("timetolive after revoke", err)
	if ttl.TTL != -1 {
		failf("timetolive of a revoked lease: TTL %d, want -1", ttl.TTL)
	}
}

func errorsByIdentity(cli *clientv3.Client, prefix string) {
	c, cancel := ctx()
	defer cancel()
	if _, err := cli.Revoke(c, 0x7777); err != rpctypes.ErrLeaseNotFound {
		failf("revoke unknown: %v, want ErrLeaseNotFound", err)
	}
	if _, err := cli.KeepAliveOnce(c, 0x7777); err != rpctypes.ErrLeaseNotFound {
		failf("keepaliveonce unknown: %v, want ErrLeaseNotFound", err)
	}
	if _, err := cli.Put(c, prefix+"x", "v", clientv3.WithLease(0x7777)); err != rpctypes.ErrLeaseNotFound {
		failf("put with unknown lease: %v, want ErrLeaseNotFound", err)
	}
	if _, err := cli.Grant(c, 9000000001); err != rpctypes.ErrLeaseTTLTooLarge {
		failf("grant too large: %v, want ErrLeaseTTLTooLarge", err)
	}
	raw := pb.NewLeaseClient(cli.ActiveConnection())
	_, err := raw.LeaseGrant(c, &pb.LeaseGrantRequest{ID: 0x7778, TTL: 10})
	must("grant with id", err)
	_, err = raw.LeaseGrant(c, &pb.LeaseGrantRequest{ID: 0x7778, TTL: 10})
	if rpctypes.Error(err) != rpctypes.ErrLeaseExist {
		failf("grant existing id: %v, want ErrLeaseExist", err)
	}
	_, err = cli.Revoke(c, 0x7778)
	must("revoke 0x7778", err)
}

func expiry(cli *clientv3.Client, prefix string) {
	c, cancel := ctx()
	defer cancel()
	g, err := cli.Grant(c, 2)
	must("grant 2s", err)
	for i := 0; i < 5; i++ {
		_, err = cli.Put(c, fmt.Sprintf("%sexp/%d", prefix, i), "v", clientv3.WithLease(g.ID))
		must("put", err)
	}
	took := waitGone(cli, prefix+"exp/", 6*time.Second)
	if took < time.Second {
		failf("keys of a 2s lease gone after %v", took)
	}
}

func keepAlive(cli *clientv3.Client, prefix string) {
	c, cancel := ctx()
	defer cancel()
	g, err := cli.Grant(c, 2)
	must("grant", err)
	_, err = cli.Put(c, prefix+"ka", "v", clientv3.WithLease(g.ID))
	must("put", err)
	kctx, kcancel := context.WithCancel(context.Background())
	ch, err := cli.KeepAlive(kctx, g.ID)
	must("keepalive", err)
	deadline := time.After(5 * time.Second)
	n := 0
loop:
	for {
		select {
		case resp, ok := <-ch:
			if !ok {
				failf("keepalive channel closed after %d responses", n)
			}
			if resp.TTL != 2 {
				failf("keepalive response %+v", resp)
			}
			n++
		case <-deadline:
			break loop
		}
	}
	if count(cli, prefix+"ka") != 1 {
		failf("key of a kept-alive lease vanished")
	}
	kcancel()
	waitGone(cli, prefix+"ka", 6*time.Second)
}

func session(cli *clientv3.Client, prefix string) {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(2))
	must("session", err)
	c, cancel := ctx()
	defer cancel()
	_, err = cli.Put(c, prefix+"sess", "v", clientv3.WithLease(s.Lease()))
	must("put in session", err)
	time.Sleep(3 * time.Second) // the session keeps its lease alive
	if count(cli, prefix+"sess") != 1 {
		failf("session key vanished while the session was open")
	}
	must("session close", s.Close()) // revokes
	if count(cli, prefix+"sess") != 0 {
		failf("session key left after close")
	}
}

func main() {
	ep := flag.String("endpoint", "127.0.0.1:2379", "host:port of the server")
	prefix := flag.String("prefix", "/leases/", "key prefix to work under (must be unused)")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*ep}, DialTimeout: 5 * time.Second})
	must("connect", err)
	defer cli.Close()
	basics(cli, *prefix)
	errorsByIdentity(cli, *prefix)
	// These three mostly wait for TTLs to pass, on leases and keys of their own: they run side by side.
	var wg sync.WaitGroup
	for _, check := range []func(*clientv3.Client, string){expiry, keepAlive, session} {
		wg.Add(1)
		go func(check func(*clientv3.Client, string)) {
			defer wg.Done()
			check(cli, *prefix)
		}(check)
	}
	wg.Wait()
	fmt.Println("leaseclient PASS")
}
