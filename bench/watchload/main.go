// Command watchload is the Watch load generator of bench/watch: "idle" opens many watchers and holds them
// (to measure the server's memory per watcher); "fanout" opens watchers on one prefix and measures how fast
// the server delivers each write to all of them. Built in GOPATH mode against Debian's
// golang-etcd-server-dev (clientv3 v3.4).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"google.golang.org/grpc/metadata"
)

func must(what string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "watchload: %s: %v\n", what, err)
		os.Exit(1)
	}
}

// open starts n watchers over `streams` streams (one context each) and waits until all are created.
// key(i) names watcher i's key; prefix watchers when prefix is set.
func open(cli *clientv3.Client, n, streams int, key func(int) string, prefix bool,
	onEvents func(int)) {
	var created sync.WaitGroup
	created.Add(n)
	for i := 0; i < n; i++ {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "watchload-stream", strconv.Itoa(i%streams))
		opts := []clientv3.OpOption{clientv3.WithCreatedNotify()}
		if prefix {
			opts = append(opts, clientv3.WithPrefix())
		}
		wch := cli.Watch(ctx, key(i), opts...)
		go func() {
			first := true
			for wr := range wch {
				if first && wr.Created {
					created.Done()
					first = false
				}
				if len(wr.Events) > 0 && onEvents != nil {
					onEvents(len(wr.Events))
				}
			}
		}()
	}
	created.Wait()
}

func main() {
	ep := flag.String("endpoint", "127.0.0.1:2379", "host:port of the server")
	mode := flag.String("mode", "idle", "idle or fanout")
	n := flag.Int("watchers", 10000, "watchers")
	streams := flag.Int("streams", 100, "streams they are spread over")
	puts := flag.Int("puts", 2000, "fanout: writes to the watched prefix")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*ep}, DialTimeout: 5 * time.Second,
		MaxCallRecvMsgSize: 64 << 20})
	must("connect", err)
	defer cli.Close()

	switch *mode {
	case "idle":
		start := time.Now()
		open(cli, *n, *streams, func(i int) string { return fmt.Sprintf("idle/%08d", i) }, false, nil)
		fmt.Printf("READY %d watchers in %.2fs\n", *n, time.Since(start).Seconds())
		bufio.NewReader(os.Stdin).ReadString('\n') // held until the caller has measured
	case "fanout":
		var got int64
		want := int64(*n) * int64(*puts)
		done := make(chan struct{})
		open(cli, *n, *streams, func(int) string { return "fan/" }, true, func(k int) {
			if atomic.AddInt64(&got, int64(k)) == want {
				close(done)
			}
		})
		start := time.Now()
		jobs := make(chan int, 64)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					_, err := cli.Put(context.Background(), fmt.Sprintf("fan/k%d", i%100), "0123456789abcdef")
					must("put", err)
				}
			}()
		}
		for i := 0; i < *puts; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		select {
		case <-done:
		case <-time.After(120 * time.Second):
			must("fanout", fmt.Errorf("%d of %d events after 120 s", atomic.LoadInt64(&got), want))
		}
		secs := time.Since(start).Seconds()
		fmt.Printf("FANOUT %d events in %.3fs = %.0f events/s\n", want, secs, float64(want)/secs)
	default:
		must("mode", fmt.Errorf("unknown mode %q", *mode))
	}
}
