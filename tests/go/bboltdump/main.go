// bboltdump: opens a bbolt file read-only with the real bbolt, runs tx.Check and prints every bucket's
// keys and values (hex), so that tests can check files written by ledgerkv's bbolt writer.
package main

import (
	"encoding/hex"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// dump prints the bucket b at path, then its nested buckets, depth first.
func dump(path string, b *bolt.Bucket) error {
	fmt.Printf("bucket %s\n", path)
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return dump(path+"/"+hex.EncodeToString(k), b.Bucket(k))
		}
		fmt.Printf("kv %s %s %s\n", path, hex.EncodeToString(k), hex.EncodeToString(v))
		return nil
	})
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bboltdump FILE")
		os.Exit(2)
	}
	db, err := bolt.Open(os.Args[1], 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		nerr := 0
		for e := range tx.Check() {
			fmt.Fprintln(os.Stderr, "check:", e)
			nerr++
		}
		if nerr > 0 {
			return fmt.Errorf("%d check errors", nerr)
		}
		fmt.Printf("size %d\n", tx.Size())
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return dump(hex.EncodeToString(name), b)
		})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "view:", err)
		os.Exit(1)
	}
}
