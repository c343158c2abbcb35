// Command kubeclient replays kube-apiserver's etcd access pattern with clientv3 against one endpoint and
// exits non-zero with a message on the first unexpected result. Built in GOPATH mode against Debian's
// golang-etcd-server-dev (go.etcd.io/etcd/clientv3, v3.4).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/coreos/go-semver/semver"
	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

const listItems = 25
const pageSize = 10

type checker struct {
	cli    *clientv3.Client
	ep     string
	prefix string
}

func (c *checker) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

func failf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kubeclient FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func must(what string, err error) {
	if err != nil {
		failf("%s: unexpected error: %v", what, err)
	}
}

// create is kube's GuaranteedUpdate/Create: put only if the key does not exist, else read it back.
func (c *checker) create(key, val string) *clientv3.TxnResponse {
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val)).Else(clientv3.OpGet(key)).Commit()
	must("create "+key, err)
	return resp
}

func (c *checker) update(key, val string, rev int64) *clientv3.TxnResponse {
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, val)).Else(clientv3.OpGet(key)).Commit()
	must("update "+key, err)
	return resp
}

func (c *checker) remove(key string, rev int64) *clientv3.TxnResponse {
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).Else(clientv3.OpGet(key)).Commit()
	must("delete "+key, err)
	return resp
}

func (c *checker) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	return c.cli.Get(ctx, key, opts...)
}

func expectCurrent(what string, resp *clientv3.TxnResponse, val string, modRev int64) {
	if resp.Succeeded {
		failf("%s: txn succeeded, want a conflict", what)
	}
	rr := resp.Responses[0].GetResponseRange()
	if rr == nil || len(rr.Kvs) != 1 {
		failf("%s: else branch did not return the current object: %v", what, resp.Responses)
	}
	if string(rr.Kvs[0].Value) != val || rr.Kvs[0].ModRevision != modRev {
		failf("%s: current object is %q@%d, want %q@%d", what, rr.Kvs[0].Value,
			rr.Kvs[0].ModRevision, val, modRev)
	}
}

// crud checks create, conflicting create, update, conflicting update and guarded delete of one object.
func (c *checker) crud() {
	key := c.prefix + "pods/default/pod-0"
	resp := c.create(key, "v1")
	if !resp.Succeeded || resp.Responses[0].GetResponsePut() == nil {
		failf("create: not succeeded: %v", resp)
	}
	rev1 := resp.Header.Revision
	got, err := c.get(key)
	must("get after create", err)
	if len(got.Kvs) != 1 || got.Kvs[0].CreateRevision != rev1 || got.Kvs[0].ModRevision != rev1 ||
		got.Kvs[0].Version != 1 || string(got.Kvs[0].Value) != "v1" {
		failf("get after create: %v, want v1 created at %d", got.Kvs, rev1)
	}
	expectCurrent("second create", c.create(key, "other"), "v1", rev1)

	resp = c.update(key, "v2", rev1)
	if !resp.Succeeded || resp.Header.Revision <= rev1 {
		failf("update: %v (rev1 %d)", resp, rev1)
	}
	rev2 := resp.Header.Revision
	expectCurrent("stale update", c.update(key, "v3", rev1), "v2", rev2)
	expectCurrent("stale delete", c.remove(key, rev1), "v2", rev2)

	resp = c.remove(key, rev2)
	if !resp.Succeeded {
		failf("delete: not succeeded: %v", resp)
	}
	dr := resp.Responses[0].GetResponseDeleteRange()
	if dr == nil || dr.Deleted != 1 || len(dr.PrevKvs) != 1 || string(dr.PrevKvs[0].Value) != "v2" {
		failf("delete: response %v", resp.Responses)
	}
	got, err = c.get(key)
	must("get after delete", err)
	if len(got.Kvs) != 0 || got.Count != 0 {
		failf("get after delete: %v", got.Kvs)
	}
}

type item struct {
	key, val string
	modRev   int64
}

// list checks paginated lists at a fixed revision while the prefix changes under them.
func (c *checker) list() []item {
	lp := c.prefix + "list/"
	var want []item
	for i := 0; i < listItems; i++ {
		k := fmt.Sprintf("%sitem-%03d", lp, i)
		resp := c.create(k, "val-"+strconv.Itoa(i))
		if !resp.Succeeded {
			failf("create %s failed", k)
		}
		want = append(want, item{k, "val-" + strconv.Itoa(i), resp.Header.Revision})
	}
	end := clientv3.GetPrefixRangeEnd(lp)
	first, err := c.get(lp, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
	must("list page 1", err)
	if !first.More || first.Count != listItems || len(first.Kvs) != pageSize {
		failf("list page 1: more=%v count=%d kvs=%d, want true %d %d", first.More, first.Count,
			len(first.Kvs), listItems, pageSize)
	}
	snap := first.Header.Revision
	// writes after the first page must not show through the later pages
	for i := 0; i < 5; i++ {
		c.update(want[i*5].key, "changed", want[i*5].modRev)
	}
	ctx, cancel := c.ctx()
	_, err = c.cli.Delete(ctx, want[pageSize+1].key)
	cancel()
	must("delete during list", err)
	c.create(lp+"item-100", "new")

	var seen []*mvccpb.KeyValue
	seen = append(seen, first.Kvs...)
	remaining := int64(listItems - pageSize)
	for page := 2; ; page++ {
		next := string(seen[len(seen)-1].Key) + "\x00"
		resp, err := c.get(next, clientv3.WithRange(end), clientv3.WithLimit(pageSize),
			clientv3.WithRev(snap))
		must(fmt.Sprintf("list page %d", page), err)
		if resp.Count != remaining {
			failf("list page %d: count=%d, want %d", page, resp.Count, remaining)
		}
		seen = append(seen, resp.Kvs...)
		remaining -= int64(len(resp.Kvs))
		if !resp.More {
			break
		}
		if page > listItems {
			failf("list: more=true forever")
		}
	}
	if len(seen) != listItems {
		failf("list: %d items over all pages, want %d", len(seen), listItems)
	}
	for i, kv := range seen {
		if string(kv.Key) != want[i].key || string(kv.Value) != want[i].val ||
			kv.ModRevision != want[i].modRev {
			failf("list item %d: %s=%q@%d, want %s=%q@%d", i, kv.Key, kv.Value, kv.ModRevision,
				want[i].key, want[i].val, want[i].modRev)
		}
	}

	cnt, err := c.get(lp, clientv3.WithPrefix(), clientv3.WithCountOnly())
	must("count only", err)
	if cnt.Count != listItems || len(cnt.Kvs) != 0 {
		failf("count only: count=%d kvs=%d, want %d 0", cnt.Count, len(cnt.Kvs), listItems)
	}
	keys, err := c.get(lp, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	must("keys only", err)
	if len(keys.Kvs) != listItems || keys.Count != listItems {
		failf("keys only: %d kvs count %d, want %d", len(keys.Kvs), keys.Count, listItems)
	}
	for i := 1; i < len(keys.Kvs); i++ {
		if len(keys.Kvs[i].Value) != 0 || bytes.Compare(keys.Kvs[i-1].Key, keys.Kvs[i].Key) >= 0 {
			failf("keys only: item %d has a value or is out of order", i)
		}
	}
	return want
}

// compactOnce is kube's compactor step: bump compact_rev_key's version guarded by the version seen
// last time, then compact. It returns whether this client won and the key's version afterwards.
func (c *checker) compactOnce(t, rev int64) (bool, int64) {
	key := c.prefix + "compact_rev_key"
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(key), "=", t)).
		Then(clientv3.OpPut(key, strconv.FormatInt(rev, 10))).Else(clientv3.OpGet(key)).Commit()
	must("compact txn", err)
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) != 1 {
			failf("compact txn: lost without returning %s", key)
		}
		return false, kvs[0].Version
	}
	_, err = c.cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	must(fmt.Sprintf("compact %d", rev), err)
	return true, t + 1
}

func (c *checker) compaction(items []item) {
	st, err := c.get(c.prefix)
	must("revision before compaction", err)
	won, t := c.compactOnce(0, st.Header.Revision-3)
	if !won || t != 1 {
		failf("first compaction: won=%v t=%d", won, t)
	}
	won, t = c.compactOnce(1, st.Header.Revision)
	if !won || t != 2 {
		failf("second compaction: won=%v t=%d", won, t)
	}
	won, t = c.compactOnce(1, st.Header.Revision)
	if won || t != 2 {
		failf("stale compaction: won=%v t=%d, want lost with version 2", won, t)
	}
	_, err = c.get(items[0].key, clientv3.WithRev(items[0].modRev))
	if err != rpctypes.ErrCompacted {
		failf("get at compacted revision %d: err=%v, want rpctypes.ErrCompacted", items[0].modRev, err)
	}
	_, err = c.get(items[0].key, clientv3.WithRev(st.Header.Revision+1000))
	if err != rpctypes.ErrFutureRev {
		failf("get at future revision: err=%v, want rpctypes.ErrFutureRev", err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	_, err = c.cli.Compact(ctx, items[0].modRev)
	if err != rpctypes.ErrCompacted {
		failf("compact an old revision: err=%v, want rpctypes.ErrCompacted", err)
	}
	got, err := c.get(items[1].key, clientv3.WithRev(st.Header.Revision))
	must("get at the compaction revision", err)
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != items[1].val {
		failf("get at the compaction revision: %v", got.Kvs)
	}
}

func (c *checker) cluster() {
	ctx, cancel := c.ctx()
	defer cancel()
	st, err := c.cli.Status(ctx, c.ep)
	must("status", err)
	if _, err := semver.NewVersion(st.Version); err != nil {
		failf("status version %q is not a semver: %v", st.Version, err)
	}
	if st.Leader == 0 || st.Leader != st.Header.MemberId {
		failf("status leader %x, member %x", st.Leader, st.Header.MemberId)
	}
	ml, err := c.cli.MemberList(ctx)
	must("member list", err)
	if len(ml.Members) != 1 || ml.Members[0].ID != st.Header.MemberId {
		failf("member list: %v", ml.Members)
	}
	_, err = c.cli.Put(ctx, c.prefix+"leased", "v", clientv3.WithLease(0x1234))
	if err != rpctypes.ErrLeaseNotFound {
		failf("put with unknown lease: err=%v, want rpctypes.ErrLeaseNotFound", err)
	}
}

func main() {
	ep := flag.String("endpoint", "127.0.0.1:2379", "host:port of the server")
	prefix := flag.String("prefix", "/registry/", "key prefix to work under (must be unused)")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*ep}, DialTimeout: 5 * time.Second})
	must("connect", err)
	defer cli.Close()
	c := &checker{cli: cli, ep: *ep, prefix: *prefix}
	c.cluster()
	c.crud()
	items := c.list()
	c.compaction(items)
	fmt.Println("kubeclient PASS")
}
