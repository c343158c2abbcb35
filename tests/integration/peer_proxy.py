"""Cutting a cluster member off without root: every member's peer traffic passes through a TCP proxy of ours,
and a member that is cut off has all its peer traffic held (accepted, never forwarded, never closed: to the
others it looks like dropped packets, not like a crash).

Each member listens on its own peer port but advertises a proxy port in front of it (etcd's
--listen-peer-urls / --initial-advertise-peer-urls split), so every peer connection arrives at the proxy of
the member it is dialed to. Who dialed it is found from /proc: the process that owns the other end of the
accepted connection (all members are our children). A connection is held while its dialer or its target is
cut off; new connections to or from a cut-off member are accepted and held the same way.

drop_held(member) ends every connection held for member, discarding the bytes held: what a lossy link would
have lost (the members dial again; what they send next is held as before).

mute(member) holds only what member sends (one way): the bytes it writes on every peer connection, whichever
side dialed; what the others send it still arrives.

With a delay (ProxiedCluster(delay_ms=...)), every chunk read is written on delay_ms later, in order: an
added one-way latency on every peer link (bench/causal), without tc/netem or root.

Not like a real drop: the proxy's kernel acknowledges what the held member sends, so its TCP keepalive and
TCP_USER_TIMEOUT never fire; a held connection breaks only when its process dies. For the first seconds after
the cut (elections, failover) both look the same to the members: silence.
"""
import os
import queue
import socket
import struct
import threading
import time

from cluster import Cluster

HOLD_POLL = 0.005  # seconds between checks while a connection is held


def _owner_inode(local_port, remote_port):
    """The socket inode of the loopback connection 127.0.0.1:local_port -> 127.0.0.1:remote_port, or None."""
    want_local = "0100007F:%04X" % local_port
    want_remote = "0100007F:%04X" % remote_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_remote:
                return fields[9]
    return None


def _pid_has_socket(pid, inode):
    target = "socket:[%s]" % inode
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


class _Pipe:
    """One proxied connection: a thread per direction, each holding its bytes while the pair is cut."""

    def __init__(self, proxy, client, dialer):
        self.proxy, self.client, self.dialer = proxy, client, dialer
        self.server = None

    def held(self, sender=None):
        """True while this connection is cut off, or while sender (the member writing in the direction asked
        about; None: the connection as a whole) is muted."""
        cut = self.proxy.cluster.cut_names
        if self.proxy.member.name in cut or (self.dialer is not None and self.dialer.name in cut):
            return True
        return sender is not None and sender.name in self.proxy.cluster.muted_names

    def _wait(self, sender=None):
        while self.held(sender) and not self.proxy.closing:
            time.sleep(HOLD_POLL)

    def _pump(self, src, dst, sender):
        delay = self.proxy.cluster.delay_s
        later = queue.Queue() if delay else None
        if later:
            writer = threading.Thread(target=self._deliver, args=(later, dst), daemon=True)
            writer.start()
        try:
            while True:
                self._wait(sender)
                data = src.recv(65536)
                if not data:
                    break
                self._wait(sender)
                self.proxy.cluster.carried(len(data))
                if later:
                    later.put((time.monotonic() + delay, data))
                else:
                    dst.sendall(data)
        except OSError:
            pass
        if later:
            later.put((0, b""))  # what was read before the end still arrives, then the end
            writer.join()
        for s in (src, dst):  # one side ended: end both, as a direct connection would
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _deliver(later, dst):
        """Writes each chunk queued by _pump at its due time, in order (a FIFO: every chunk has the same
        delay, so due times never decrease)."""
        while True:
            due, data = later.get()
            if not data:
                return
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                dst.sendall(data)
            except OSError:
                return

    def drop(self):
        """Ends the connection, unread bytes discarded (a reset); run's pumps then end."""
        for s in (self.client, self.server):
            if s is not None:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def run(self):
        with self.proxy.lock:
            self.proxy.pipes.add(self)
        try:
            self._run()
        finally:
            with self.proxy.lock:
                self.proxy.pipes.discard(self)

    def _run(self):
        try:
            self._wait()  # a connection to or from a cut-off member is not even passed on
            self.server = socket.create_connection(("127.0.0.1", self.proxy.member.peer_port), timeout=5)
            self.server.settimeout(None)
            self.server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.client.close()
            return
        back = threading.Thread(target=self._pump, args=(self.server, self.client, self.proxy.member), daemon=True)
        back.start()
        self._pump(self.client, self.server, self.dialer)
        back.join()
        self.client.close()
        self.server.close()


class PeerProxy:
    """The proxy in front of one member's peer port; port is what the member advertises."""

    def __init__(self, cluster, member):
        self.cluster, self.member = cluster, member
        self.closing = False
        self.lock = threading.Lock()
        self.pipes = set()  # the connections open
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _dialer(self, conn):
        """The member whose process dialed conn (None if it cannot be told, e.g. it already closed)."""
        peer_port = conn.getpeername()[1]
        for _ in range(3):
            inode = _owner_inode(peer_port, self.port)
            if inode:
                for m in self.cluster.members:
                    if m.alive() and _pid_has_socket(m.proc.pid, inode):
                        return m
            time.sleep(0.001)
        return None

    def _accept(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pipe = _Pipe(self, conn, self._dialer(conn))
            threading.Thread(target=pipe.run, daemon=True).start()

    def close(self):
        self.closing = True
        self.sock.close()


class ProxiedCluster(Cluster):
    """A Cluster whose members advertise proxy ports; cut_off(member) silences it, mute(member) silences only
    what it sends, heal(member) undoes both; delay_ms delays every chunk on every peer link."""

    def __init__(self, *args, delay_ms=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay_s = delay_ms / 1000.0  # added to every chunk on every peer link, each way
        self.carried_bytes = 0  # bytes the proxies passed on, all links, both ways
        self._carried_lock = threading.Lock()
        self.proxies = {}
        self.cut_names = set()
        self.muted_names = set()

    def _new_members(self):
        self._close_proxies()
        super()._new_members()
        self.proxies = {m.name: PeerProxy(self, m) for m in self.members}

    def advertised(self, member):
        return "http://127.0.0.1:%d" % self.proxies[member.name].port

    def flags(self, member):
        f = super().flags(member)
        f[f.index("--initial-advertise-peer-urls") + 1] = self.advertised(member)
        f[f.index("--initial-cluster") + 1] = ",".join("%s=%s" % (m.name, self.advertised(m)) for m in self.members)
        return f

    def carried(self, n):
        with self._carried_lock:
            self.carried_bytes += n

    def cut_off(self, member):
        """Holds every peer connection to or from member from now on."""
        self.cut_names.add(member.name)

    def mute(self, member):
        """Holds what member sends to its peers from now on (one way): it still receives theirs."""
        self.muted_names.add(member.name)

    def drop_held(self, member):
        """Ends every connection held because member is cut off, discarding what was held."""
        for p in self.proxies.values():
            with p.lock:
                pipes = [pipe for pipe in p.pipes if pipe.held()]
            for pipe in pipes:
                pipe.drop()

    def heal(self, member):
        """Undoes cut_off and mute: held bytes flow again, in order."""
        self.cut_names.discard(member.name)
        self.muted_names.discard(member.name)

    def _close_proxies(self):
        for p in self.proxies.values():
            p.close()
        self.proxies = {}

    def close(self):
        self.cut_names.clear()
        self.muted_names.clear()
        try:
            super().close()
        finally:
            self._close_proxies()
