"""The live web view (--enable-web-view, docs/web-view.md) in Debian's headless Chromium.

Chromium is driven through the DevTools protocol over --remote-debugging-pipe (JSON messages ending in a
NUL byte on fds 3 and 4; no websocket library needed). The page shows the keys under a prefix, a put
changes them on screen through the server-sent events (/ui/events, a Watch through the gateway's call
path), the member list names the leader, the ledger's head is shown, and a receipt fetched in the page
verifies there (SHA-256 Merkle path, Ed25519 signature when the browser's WebCrypto has it) while a
tampered signature does not. Without the flag /ui/ is 404; --host-whitelist guards it.
"""
import base64
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import lkvtest
from test_gateway import post

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(scripts/deps.sh --test installs it)")


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Browser:
    """A headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, url):
        self.profile = tempfile.mkdtemp(prefix="lkvtest-chromium-")
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()

        def fds():  # the protocol's fixed descriptors: 3 = commands in, 4 = answers out
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)  # pass_fds would close 3 and 4 after fds()
        os.close(to_child)
        os.close(from_child)
        self._buf = b""
        self._id = 0
        self.session = None
        try:
            target = self.call("Target.createTarget", {"url": url})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        except BaseException:
            self.close()  # no browser or profile left behind
            raise

    def call(self, method, params=None):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._r, 65536)
                assert chunk, "chromium closed the DevTools pipe"
                self._buf += chunk
            line, self._buf = self._buf.split(b"\0", 1)
            answer = json.loads(line)
            if answer.get("id") == self._id:
                assert "error" not in answer, answer
                return answer["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def wait(self, expr, want, timeout=10.0):
        """Polls expr in the page until it equals want; returns the last value otherwise (the assert shows it)."""
        deadline = time.monotonic() + timeout
        while True:  # the page may still be loading: an exception is "not yet"
            value = self.eval("(() => { try { return (%s); } catch (e) { return null; } })()" % expr)
            if value == want or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


def cell(key, col):
    return "(document.getElementById(%s) || {cells: [{}, {}, {}]}).cells[%d].textContent" % (
        json.dumps("key-" + key), col)


@pytest.fixture(scope="module")
def server():
    with lkvtest.Factory() as f:
        yield f.start("ledgerkv", args=["--enable-web-view", "--host-whitelist", "127.0.0.1"])


def put(srv, key, value):
    status, _, body = post(srv, "/v3/kv/put", {"key": b64(key), "value": b64(value)})
    assert status == 200, body
    return int(json.loads(body)["header"]["revision"])


def test_page_shows_keys_and_updates_live(server):
    put(server, "web/a", "one")
    put(server, "other/x", "hidden")
    browser = Browser(server.url + "/ui/?prefix=web/")
    try:
        assert browser.wait(cell("web/a", 1), "one") == "one"
        assert browser.wait("document.getElementById('live').textContent", "live") == "live"
        assert browser.eval("document.getElementById('key-other/x') === null")
        put(server, "web/a", "two")  # the same row changes on screen
        put(server, "web/b", "new")  # and a new key appears
        assert browser.wait(cell("web/a", 1), "two") == "two"
        assert browser.wait(cell("web/b", 1), "new") == "new"
        assert browser.eval(cell("web/a", 3)) == "2"  # version
        status, _, _ = post(server, "/v3/kv/deleterange", {"key": b64("web/b")})
        assert status == 200
        assert browser.wait("document.getElementById('key-web/b') === null", True)
        assert int(browser.eval("document.getElementById('updates').textContent")) >= 3
        # the member list names this member as the leader; the ledger's signed head is shown
        assert browser.wait("document.querySelectorAll('#members tr').length", 1) == 1
        assert browser.wait("document.querySelector('#members tr').cells[3].textContent", "leader") == "leader"
        assert browser.wait("document.getElementById('ledger').textContent.startsWith('size ')", True)
    finally:
        browser.close()


def test_receipt_checked_in_the_page(server):
    rev = put(server, "web/receipt", "signed")
    browser = Browser(server.url + "/ui/?prefix=web/&receipt=%d" % rev)
    try:
        result = browser.wait("document.getElementById('verdict').dataset.result || ''", "verified")
        verdict = browser.eval("document.getElementById('verdict').textContent")
        assert result == "verified", verdict
        assert "the entry is in the signed tree" in verdict
        assert "a member's key" in verdict
        # Chromium's WebCrypto has Ed25519: the signature is checked, not skipped
        assert "valid Ed25519" in verdict
        # the same head with one bit of its signature flipped is refused, and a wrong proof misses the root
        tampered = browser.eval("""(async () => {
            const r = await post('/ui/api/ledger/receipt', {revision: '%d'});
            const s = unb64(r.head.signature); s[0] ^= 1;
            const bad = Object.assign({}, r.head, {signature: b64(s)});
            const leaf = await sha256(new Uint8Array([1]));
            const root = await rootFromProof(BigInt(r.leaf_index || 0), BigInt(r.head.tree_size), leaf,
                                             (r.proof || []).map(unb64));
            return [await checkSignature(r.head), await checkSignature(bad),
                    root !== null && equal(root, unb64(r.head.root))];
        })()""" % rev)
        assert tampered == [True, False, False]
    finally:
        browser.close()


def test_events_and_guards(server):
    # the events are a Watch as server-sent events, from the revision asked for
    rev = put(server, "web/sse", "x")

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/ui/events?prefix=web%%2Fsse&start_revision=%d" % rev)
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    created = json.loads(r.readline().decode().removeprefix("data: "))
    assert created["created"] is True
    assert r.readline() == b"\n"
    event = json.loads(r.readline().decode().removeprefix("data: "))
    assert base64.b64decode(event["events"][0]["kv"]["value"]) == b"x"
    conn.close()
    assert post(server, "/ui/events?prefix=%zz", method="GET")[0] == 400
    assert post(server, "/ui/", method="POST")[0] == 405
    assert post(server, "/ui/events", method="HEAD")[0] == 405
    assert post(server, "/ui/", method="HEAD")[0] == 200
    assert post(server, "/ui/api/ledger/receipt", method="GET")[0] == 405
    assert post(server, "/ui/nothing", method="GET")[0] == 404
    # the gateway's DNS-rebinding guard covers the page
    assert post(server, "/ui/", method="GET", headers={"Host": "evil.example:80"})[0] == 421
    assert post(server, "/ui/events", method="GET", headers={"Host": "evil.example:80"})[0] == 421
    # and its CORS headers (--cors, default *) are on the page's answers, as on the gateway's
    status, headers, _ = post(server, "/ui/", method="GET", headers={"Origin": "http://o.example"})
    assert status == 200 and headers["access-control-allow-origin"] == "*", headers


def test_off_by_default():
    with lkvtest.Factory() as f:
        srv = f.start("ledgerkv")
        assert post(srv, "/ui/", method="GET")[0] == 404
        assert post(srv, "/ui/events", method="GET")[0] == 404


def test_sign_in_with_auth_on():
    """With auth on, the page without a token is refused like any client; signed in as a user who may read
    web/, it shows those keys and their changes (the events carry the token too)."""
    with lkvtest.Factory() as f:
        srv = f.start("ledgerkv", args=["--enable-web-view", "--bcrypt-cost", "4"])
        root = ["--user", "root:rootpw"]
        for step in (["user", "add", "root", "--new-user-password", "rootpw"], ["role", "add", "viewer"],
                     ["role", "grant-permission", "viewer", "read", "web/", "--prefix"],
                     ["user", "add", "eve", "--new-user-password", "evepw"], ["user", "grant-role", "eve", "viewer"],
                     ["auth", "enable"], root + ["put", "web/a", "one"]):
            lkvtest.etcdctl(srv, *step)
        browser = Browser(srv.url + "/ui/?prefix=web/")
        try:
            live = "document.getElementById('live').textContent"
            assert browser.wait(live + ".startsWith('refused: ')", True), browser.eval(live)
            assert "user name is empty" in browser.eval(live)
            browser.eval("document.getElementById('user').value = 'eve'; "
                         "document.getElementById('pw').value = 'evepw'; "
                         "document.getElementById('af').requestSubmit(); true")
            assert browser.wait("document.getElementById('who').textContent", "signed in as eve") == "signed in as eve"
            assert browser.wait(cell("web/a", 1), "one") == "one"
            assert browser.wait(live, "live") == "live"
            lkvtest.etcdctl(srv, *root, "put", "web/a", "two")
            assert browser.wait(cell("web/a", 1), "two") == "two"
            assert browser.eval("document.getElementById('pw').value") == ""  # the password is not kept
        finally:
            browser.close()
