// authclient: Go clientv3 (etcd 3.4) with Username/Password against a server with auth on (users and roles
// as test_auth_enabled.py's SETUP makes them): bob's puts, gets, txn, watch and lease within app/, the
// permission errors outside it by identity (rpctypes), a wrong password refused at dial, and a token that
// expired (a short --auth-token-ttl) renewed by the client without the caller seeing it. Prints
// "authclient PASS" on success; exits 1 with the error otherwise.
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
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "authclient FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func dial(ep, user, password string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Username: user,
		Password: password})
}

func get(ctx context.Context, cli *clientv3.Client, key string) string {
	r, err := cli.Get(ctx, key)
	if err != nil {
		fail("get %s: %v", key, err)
	}
	if len(r.Kvs) != 1 {
		fail("get %s: %d keys", key, len(r.Kvs))
	}
	return string(r.Kvs[0].Value)
}

func main() {
	ep := flag.String("endpoint", "", "host:port")
	ttlWait := flag.Duration("ttl-wait", 0, "how long to stay idle so that the token expires")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := dial(*ep, "bob", "wrong"); err != rpctypes.ErrAuthFailed {
		fail("a wrong password: want ErrAuthFailed, got %v", err)
	}
	cli, err := dial(*ep, "bob", "bpw")
	if err != nil {
		fail("dial: %v", err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "app/go", "1"); err != nil {
		fail("put: %v", err)
	}
	if v := get(ctx, cli, "app/go"); v != "1" {
		fail("get app/go: %q", v)
	}
	if _, err := cli.Put(ctx, "other", "x"); err != rpctypes.ErrPermissionDenied {
		fail("put other: want ErrPermissionDenied, got %v", err)
	}
	if _, err := cli.Get(ctx, "other"); err != rpctypes.ErrPermissionDenied {
		fail("get other: want ErrPermissionDenied, got %v", err)
	}
	t, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("app/go"), "=", "1")).
		Then(clientv3.OpPut("app/go2", "2")).Commit()
	if err != nil || !t.Succeeded {
		fail("txn: %v %v", t, err)
	}
	if _, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("other"), "=", "1")).Commit(); err != rpctypes.ErrPermissionDenied {
		fail("txn comparing other: want ErrPermissionDenied, got %v", err)
	}

	wctx, wcancel := context.WithCancel(ctx)
	wch := cli.Watch(wctx, "app/", clientv3.WithPrefix())
	denied := cli.Watch(wctx, "other")
	if _, err := cli.Put(ctx, "app/w", "3"); err != nil {
		fail("put app/w: %v", err)
	}
	select {
	case r := <-wch:
		if r.Err() != nil || len(r.Events) != 1 || string(r.Events[0].Kv.Key) != "app/w" {
			fail("watch app/: %v %v", r.Events, r.Err())
		}
	case <-time.After(10 * time.Second):
		fail("watch app/: no event")
	}
	select {
	case r := <-denied:
		// clientv3 hands the cancel reason back wrapped: the server's words are what is compared
		if !r.Canceled || r.Err() == nil || !strings.Contains(r.Err().Error(), "etcdserver: permission denied") {
			fail("watch other: want canceled for permission denied, got %v %v", r.Canceled, r.Err())
		}
	case <-time.After(10 * time.Second):
		fail("watch other: not canceled")
	}
	wcancel()

	l, err := cli.Grant(ctx, 60)
	if err != nil {
		fail("grant: %v", err)
	}
	if _, err := cli.Put(ctx, "app/l", "v", clientv3.WithLease(l.ID)); err != nil {
		fail("put with lease: %v", err)
	}
	if _, err := cli.Revoke(ctx, l.ID); err != nil {
		fail("revoke: %v", err)
	}

	if *ttlWait > 0 { // the token expires; the client authenticates again on "invalid auth token"
		time.Sleep(*ttlWait)
		if v := get(ctx, cli, "app/go"); v != "1" {
			fail("get after the token expired: %q", v)
		}
	}
	fmt.Println("authclient PASS")
}
