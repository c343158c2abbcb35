// tlsclient: Go clientv3 (etcd 3.4) over TLS with a tls.Config as kube-apiserver builds one (a CA pool and
// a client certificate): a put, a get of it, and a watch that sees a second put. Prints
// "tlsclient PASS" on success; exits 1 with the error otherwise (the test uses that to check refusals).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlsclient FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func tlsConfig(cacert, cert, key string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cacert != "" {
		pem, err := ioutil.ReadFile(cacert)
		if err != nil {
			fail("read %s: %v", cacert, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", cacert)
		}
		cfg.RootCAs = pool
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			fail("load %s: %v", cert, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

func main() {
	ep := flag.String("endpoint", "", "https://host:port")
	cacert := flag.String("cacert", "", "CA bundle that signed the server's certificate")
	cert := flag.String("cert", "", "client certificate")
	key := flag.String("key", "", "client key")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of the whole run")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*ep}, DialTimeout: *timeout,
		TLS: tlsConfig(*cacert, *cert, *key)})
	if err != nil {
		fail("dial: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	put, err := cli.Put(ctx, "/tls/a", "1")
	if err != nil {
		fail("put: %v", err)
	}
	get, err := cli.Get(ctx, "/tls/a")
	if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "1" {
		fail("get: %v %v", get, err)
	}
	wch := cli.Watch(ctx, "/tls/", clientv3.WithPrefix(), clientv3.WithRev(put.Header.Revision+1))
	if _, err := cli.Put(ctx, "/tls/b", "2"); err != nil {
		fail("second put: %v", err)
	}
	select {
	case wr := <-wch:
		if wr.Err() != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Key) != "/tls/b" {
			fail("watch: %+v %v", wr, wr.Err())
		}
	case <-ctx.Done():
		fail("watch: no event")
	}
	fmt.Println("tlsclient PASS")
}
