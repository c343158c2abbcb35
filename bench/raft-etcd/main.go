// raft-etcd: the etcd side of bench/raft, the workloads of tests/bench/raft_bench.c on etcd 3.4's raft
// (RawNode + MemoryStorage) and WAL, printing rows in raft-bench's shape so the script can set them side
// by side. Our own driver code; etcd's packages are only used as a library.
//
// Build (GOPATH mode, Debian's golang-etcd-server-dev under /usr/share/gocode):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o raft-etcd ./bench/raft-etcd
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"go.etcd.io/etcd/raft"
	"go.etcd.io/etcd/raft/raftpb"
	"go.etcd.io/etcd/wal"
	"go.etcd.io/etcd/wal/walpb"
	"go.uber.org/zap"
)

// The same constants as raft_bench.c.
const (
	nMembers     = 3
	compactEvery = 65536
)

type member struct {
	rn       *raft.RawNode
	st       *raft.MemoryStorage
	cs       raftpb.ConfState // the membership the applied conf changes produced, for snapshots
	applied  uint64           // last committed index handed out and applied
	payloads uint64           // committed normal entries of the benchmark's payload size
}

type cluster struct {
	m       [nMembers + 1]*member // [id], 0 unused
	payload int
	readies uint64
	msgs    uint64
}

// One run of one case; a and b mean what they mean in raft_bench.c.
type result struct {
	entries         uint64
	cpu, wall, rate float64
	a, b            float64
}

func die(what string, err error) {
	fmt.Fprintf(os.Stderr, "raft-etcd: %s: %v\n", what, err)
	os.Exit(1)
}

// cpuNow reads CLOCK_PROCESS_CPUTIME_ID, the clock raft_bench.c uses: the CPU time of every thread of the
// process, so the Go runtime's own threads (GC workers, sysmon) are charged too.
func cpuNow() float64 {
	const clockProcessCPUTimeID = 2
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		die("clock_gettime", e)
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

func (c *cluster) deliver(ms []raftpb.Message) {
	for _, m := range ms {
		if m.To < 1 || m.To > nMembers {
			continue
		}
		if err := c.m[m.To].rn.Step(m); err != nil {
			die("step", err)
		}
	}
	c.msgs += uint64(len(ms))
}

// handleReady handles one Ready of member id in the order etcd's contract asks for (entries and hard state
// into storage, then messages, then committed entries, then Advance); false when it had none.
func (c *cluster) handleReady(id uint64) bool {
	mb := c.m[id]
	if !mb.rn.HasReady() {
		return false
	}
	rd := mb.rn.Ready()
	c.readies++
	if !raft.IsEmptySnap(rd.Snapshot) {
		die("ready", fmt.Errorf("member %d was sent a snapshot", id))
	}
	// MemoryStorage stands in for the durable log: etcd's raft reads its stable entries back from
	// Storage, so the append is part of the core's work here, as it is in any etcd raft user.
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := mb.st.SetHardState(rd.HardState); err != nil {
			die("set hard state", err)
		}
	}
	if err := mb.st.Append(rd.Entries); err != nil {
		die("append", err)
	}
	c.deliver(rd.Messages)
	for i := range rd.CommittedEntries {
		e := &rd.CommittedEntries[i]
		switch e.Type {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				die("conf change", err)
			}
			mb.cs = *mb.rn.ApplyConfChange(cc)
		case raftpb.EntryNormal:
			if len(e.Data) == c.payload {
				mb.payloads++
			}
		}
		mb.applied = e.Index
	}
	mb.rn.Advance(rd)
	return true
}

// settle runs every member's Readies until none has work (messages are delivered synchronously).
func (c *cluster) settle() {
	for busy := true; busy; {
		busy = false
		for id := uint64(1); id <= nMembers; id++ {
			for c.handleReady(id) {
				busy = true
			}
		}
	}
}

// compactAll snapshots and compacts every member's storage at the lowest applied index, so no follower
// needs a snapshot (what raft_bench.c does to our core).
func (c *cluster) compactAll() {
	low := ^uint64(0)
	for id := 1; id <= nMembers; id++ {
		if c.m[id].applied < low {
			low = c.m[id].applied
		}
	}
	for id := 1; id <= nMembers; id++ {
		mb := c.m[id]
		first, _ := mb.st.FirstIndex()
		if low < first {
			continue
		}
		if _, err := mb.st.CreateSnapshot(low, &mb.cs, nil); err != nil {
			die("create snapshot", err)
		}
		if err := mb.st.Compact(low); err != nil {
			die("compact", err)
		}
	}
}

// newCluster starts three members with the settings raft_bench.c gives ours (lkv_raft_config_default:
// election 10, heartbeat 1, pre-vote and check-quorum on, 1 MiB per message, 256 messages in flight, no
// uncommitted-size limit) and makes member 1 leader.
func newCluster(payload int) *cluster {
	c := &cluster{payload: payload}
	quiet := &raft.DefaultLogger{Logger: log.New(ioutil.Discard, "", 0)}
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= nMembers; id++ {
		st := raft.NewMemoryStorage()
		rn, err := raft.NewRawNode(&raft.Config{
			ID:              id,
			ElectionTick:    10,
			HeartbeatTick:   1,
			Storage:         st,
			MaxSizePerMsg:   1 << 20,
			MaxInflightMsgs: 256,
			CheckQuorum:     true,
			PreVote:         true,
			Logger:          quiet,
		})
		if err != nil {
			die("new raw node", err)
		}
		if err := rn.Bootstrap(peers); err != nil {
			die("bootstrap", err)
		}
		c.m[id] = &member{rn: rn, st: st}
	}
	c.settle()
	if err := c.m[1].rn.Campaign(); err != nil {
		die("campaign", err)
	}
	c.settle()
	if s := c.m[1].rn.BasicStatus(); s.RaftState != raft.StateLeader {
		die("campaign", fmt.Errorf("member 1 did not become leader (%v)", s.RaftState))
	}
	return c
}

// runCore is one run: rounds of `batch` proposals until `seconds` of CPU time passed.
// With oneProp the batch goes to the leader as one MsgProp carrying every entry (etcd 3.4 then sends one
// MsgApp per follower for it); otherwise as `batch` Propose calls, the API raft_bench.c uses on our core
// (etcd 3.4's leader broadcasts a MsgApp for each).
func runCore(batch, payload int, seconds float64, oneProp bool) result {
	c := newCluster(payload)
	data := bytes.Repeat([]byte{'x'}, payload)
	leader := c.m[1].rn
	prop := raftpb.Message{Type: raftpb.MsgProp, From: 1, Entries: make([]raftpb.Entry, batch)}
	var proposed, rounds uint64
	nextCompact := uint64(compactEvery)
	// As in raft_bench.c: the process CPU clock is a system call, read about every 1024 entries.
	checkEvery := uint64(1)
	if batch < 1024 {
		checkEvery = uint64(1024 / batch)
	}
	cpu0, wall0 := cpuNow(), time.Now()
	cpu1 := cpu0
	for {
		if oneProp {
			// raft appends (copies) the entries it is handed, so the slice is refilled each round.
			for i := range prop.Entries {
				prop.Entries[i] = raftpb.Entry{Data: data}
			}
			if err := leader.Step(prop); err != nil {
				die("propose", err)
			}
		} else {
			for i := 0; i < batch; i++ {
				if err := leader.Propose(data); err != nil {
					die("propose", err)
				}
			}
		}
		proposed += uint64(batch)
		c.settle()
		rounds++
		if c.m[1].applied >= nextCompact {
			c.compactAll()
			nextCompact = c.m[1].applied + compactEvery
		}
		if rounds%checkEvery == 0 {
			cpu1 = cpuNow()
			if cpu1-cpu0 >= seconds {
				break
			}
		}
	}
	wall := time.Since(wall0).Seconds()
	committed := c.m[1].payloads
	if committed != proposed {
		die("core", fmt.Errorf("%d proposed but %d committed", proposed, committed))
	}
	// The followers learn the last commit index from the next message; they must have applied the rest.
	for id := 2; id <= nMembers; id++ {
		if c.m[id].payloads+uint64(batch) < committed {
			die("core", fmt.Errorf("follower %d applied %d of %d", id, c.m[id].payloads, committed))
		}
	}
	cpu := cpu1 - cpu0
	return result{committed, cpu, wall, float64(committed) / cpu,
		float64(c.readies) / float64(rounds), float64(c.msgs) / float64(rounds)}
}

// runWal appends batches of `batch` entries with the hard state, one Save (one fdatasync) each, for
// `seconds` of wall time, then reopens the log and checks that ReadAll finds every entry.
func runWal(dir string, batch, payload int, seconds float64) result {
	path := filepath.Join(dir, fmt.Sprintf("raft-etcd-wal-%d", batch))
	os.RemoveAll(path) // a leftover of an interrupted run
	lg := zap.NewNop()
	w, err := wal.Create(lg, path, nil)
	if err != nil {
		die("wal create", err)
	}
	data := bytes.Repeat([]byte{'x'}, payload)
	es := make([]raftpb.Entry, batch)
	hs := raftpb.HardState{Term: 1, Vote: 1}
	next, saves := uint64(1), uint64(0)
	cpu0, wall0 := cpuNow(), time.Now()
	var wall float64
	for {
		for i := range es {
			es[i] = raftpb.Entry{Term: 1, Index: next + uint64(i), Type: raftpb.EntryNormal, Data: data}
		}
		next += uint64(batch)
		hs.Commit = next - 1
		if err := w.Save(hs, es); err != nil {
			die("wal save", err)
		}
		saves++
		if wall = time.Since(wall0).Seconds(); wall >= seconds {
			break
		}
	}
	cpu := cpuNow() - cpu0
	appended := next - 1
	if err := w.Close(); err != nil {
		die("wal close", err)
	}

	t0 := time.Now()
	w, err = wal.Open(lg, path, walpb.Snapshot{})
	if err != nil {
		die("wal open", err)
	}
	_, st, ents, err := w.ReadAll()
	if err != nil {
		die("wal read", err)
	}
	recovery := time.Since(t0).Seconds()
	if uint64(len(ents)) != appended || st.Commit != appended {
		die("wal", fmt.Errorf("recovered %d entries (commit %d), %d were saved", len(ents), st.Commit, appended))
	}
	w.Close()
	os.RemoveAll(path)
	return result{appended, cpu, wall, float64(appended) / wall, float64(saves) / wall, recovery}
}

// printRow prints a case's row in raft_bench.c's shape: the run with the median rate, and the range.
func printRow(part string, batch, payload int, runs []result) {
	sort.Slice(runs, func(i, j int) bool { return runs[i].rate < runs[j].rate })
	m := runs[len(runs)/2]
	lo, hi := runs[0].rate, runs[len(runs)-1].rate
	if part == "core" {
		fmt.Printf("| core | %d | %d | **%.0f** | %.0f – %.0f | %d | %.2f | %.2f | %.1f | %.1f |\n",
			batch, payload, m.rate, lo, hi, m.entries, m.cpu, m.wall, m.a, m.b)
	} else {
		fmt.Printf("| log | %d | %d | **%.0f** | %.0f – %.0f | %d | %.2f | %.2f | %.0f | %.2f |\n",
			batch, payload, m.rate, lo, hi, m.entries, m.cpu, m.wall, m.a, m.b)
	}
}

func main() {
	seconds := flag.Float64("seconds", 1, "CPU seconds per core run, wall seconds per log run")
	rounds := flag.Int("rounds", 3, "runs per case (cases interleaved)")
	payload := flag.Int("payload", 128, "bytes per entry")
	batchList := flag.String("batches", "1,16,256", "proposal batch sizes")
	walDir := flag.String("wal-dir", "", "also measure etcd's WAL in a subdirectory of this directory")
	oneProp := flag.Bool("one-prop", false, "core: propose each batch as one MsgProp (default: one Propose per entry)")
	noCore := flag.Bool("no-core", false, "skip the core cases (the log cases need --wal-dir)")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the whole run here")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: raft-etcd [--seconds S] [--rounds N] [--payload BYTES] [--batches B,B,...] [--wal-dir DIR]\n"+
			"  raft_bench.c's workloads on etcd 3.4's raft (RawNode + MemoryStorage) and WAL; rows in raft-bench's shape\n"+
			"  GOMAXPROCS (environment) sets the Go runtime's parallelism; it is printed on stderr\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 || *seconds <= 0 || *payload <= 0 || *rounds < 1 || *rounds > 99 {
		flag.Usage()
		os.Exit(2)
	}
	var batches []int
	for _, s := range strings.Split(*batchList, ",") {
		b, err := strconv.Atoi(s)
		if err != nil || b <= 0 {
			flag.Usage()
			os.Exit(2)
		}
		batches = append(batches, b)
	}
	fmt.Fprintf(os.Stderr, "raft-etcd: %s, GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			die("cpuprofile", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			die("cpuprofile", err)
		}
		defer pprof.StopCPUProfile()
	}

	core := make([][]result, len(batches))
	logs := make([][]result, len(batches))
	for r := 0; r < *rounds; r++ {
		for i, b := range batches {
			if !*noCore {
				core[i] = append(core[i], runCore(b, *payload, *seconds, *oneProp))
			}
		}
		for i, b := range batches {
			if *walDir != "" {
				logs[i] = append(logs[i], runWal(*walDir, b, *payload, *seconds))
			}
		}
	}
	if !*noCore {
		fmt.Printf("| part | batch | payload (B) | entries / CPU-s | range | entries | CPU (s) | wall (s) | readies / round | msgs / round |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for i, b := range batches {
			printRow("core", b, *payload, core[i])
		}
	}
	if *walDir != "" {
		if !*noCore {
			fmt.Println()
		}
		fmt.Printf("| part | batch | payload (B) | entries / s | range | entries | CPU (s) | wall (s) | flushes / s | reopen (s) |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for i, b := range batches {
			printRow("log", b, *payload, logs[i])
		}
	}
}
