#!/usr/bin/env python3
"""Connection attacks on a running civicid serve, with TAP output.

  connections.py PORT MAX_CONNECTIONS IDLE_TIMEOUT REQUEST_DEADLINE

flood: 2,000 connections that never send a byte, each from its own loopback
  address (127.2.x.y; all of 127/8 is loopback), so no per-address limit
  stops them. While they are held, a normal client must get its answers
  quickly, and the server must hold no more than MAX_CONNECTIONS of them.
trickle: 300 connections (127.1.x.y) that send their request one byte a
  second and never finish it, one in six its body, the others their head:
  each byte resets libmicrohttpd's idle timeout, so only an overall deadline
  closes them. They must all be closed by REQUEST_DEADLINE (plus the check's
  one-second granularity and slack). A kept-alive connection that trickles
  its second request must outlive that (it is allowed IDLE_TIMEOUT more) and
  be closed by IDLE_TIMEOUT + REQUEST_DEADLINE; a head sent slowly but
  finished well within the deadline is answered.
"""
import errno
import resource
import select
import socket
import statistics
import sys
import time

HOST = "127.0.0.1"
PATH = "/.well-known/openid-configuration"
FLOOD = 2000
TRICKLE = 300
PROBES = 20
PROBE_MAX_S = 1.0  # any single answer slower than this fails
PROBE_MEDIAN_S = 0.1
SLACK_S = 3.0  # one-second deadline checks, ASan, a busy machine

n = 0
fails = 0


def ok(desc):
    global n
    n += 1
    print(f"ok {n} - {desc}", flush=True)


def bad(desc, detail=""):
    global n, fails
    n += 1
    fails += 1
    print(f"not ok {n} - {desc}", flush=True)
    for line in detail.splitlines():
        print(f"#   {line}", flush=True)


def check(desc, cond, detail=""):
    if cond:
        ok(desc)
    else:
        bad(desc, detail)


def diag(text):
    print(f"# {text}", flush=True)


def addr(net, i):
    """The i-th source address of 127.NET.0.0/16 (skipping .0 and .255)."""
    return f"127.{net}.{i // 250}.{i % 250 + 1}"


def connect_from(src, port, blocking=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    if blocking:
        s.settimeout(10)
        s.connect((HOST, port))
        return s
    s.setblocking(False)
    rc = s.connect_ex((HOST, port))
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        raise OSError(rc, f"connect from {src}: {errno.errorcode.get(rc, rc)}")
    return s


def ready(s, events, timeout_ms=0):
    """True when s has one of events (poll: select() stops at fd 1023)."""
    p = select.poll()
    p.register(s, events)
    return bool(p.poll(timeout_ms))


def closed_by_peer(s):
    """True when the server closed s (EOF or reset); never blocks."""
    try:
        if not ready(s, select.POLLIN):
            return False
        return s.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return True
    except BlockingIOError:
        return False


def read_response(s, deadline):
    """Reads one HTTP response with a Content-Length; returns (status, body) or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        chunk = s.recv(65536)
        if not chunk:
            return None
        body += chunk
    return status, body


def request(port, keep_alive=False):
    return (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode()


def probe(port):
    """One normal request from 127.0.0.1: (seconds, status or an error text)."""
    t0 = time.monotonic()
    try:
        s = connect_from(HOST, port, blocking=True)
        try:
            s.sendall(request(port))
            r = read_response(s, t0 + 10)
        finally:
            s.close()
    except OSError as e:
        return time.monotonic() - t0, f"error: {e}"
    return time.monotonic() - t0, r[0] if r else "no answer within 10 s"


def flood(port, max_conns):
    socks = []
    try:
        for i in range(FLOOD):
            socks.append(connect_from(addr(2, i), port))
    except OSError as e:
        bad(f"{FLOOD} idle connections are opened", str(e))
        for s in socks:
            s.close()
        return
    # every handshake completes (the kernel does it, accepted or not)
    pending = list(socks)
    t_end = time.monotonic() + 10
    while pending and time.monotonic() < t_end:
        pending = [s for s in pending if not ready(s, select.POLLOUT)]
        if pending:
            time.sleep(0.1)
    check(f"{FLOOD} idle connections from {FLOOD} loopback addresses are connected",
          not pending, f"{len(pending)} not connected after 10 s")
    time.sleep(1)  # let the server take in what it will
    held = sum(1 for s in socks if not closed_by_peer(s))
    diag(f"idle connections still open: {held} of {FLOOD}")
    check(f"the server holds at most max_connections ({max_conns}) of them",
          held <= max_conns, f"{held} still open")

    times, errors = [], []
    for _ in range(PROBES):
        t, st = probe(port)
        times.append(t)
        if st != 200:
            errors.append(f"{st} after {t:.3f} s")
    diag(f"answers while {FLOOD} idle connections are held: median "
         f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    check(f"every one of {PROBES} normal requests is answered 200", not errors,
          "\n".join(errors))
    check(f"each within {PROBE_MAX_S:.1f} s", max(times) <= PROBE_MAX_S,
          " ".join(f"{t:.3f}" for t in times))
    check(f"the median within {PROBE_MEDIAN_S * 1000:.0f} ms",
          statistics.median(times) <= PROBE_MEDIAN_S,
          " ".join(f"{t:.3f}" for t in times))

    for s in socks:
        s.close()


def trickle(port, idle_timeout, deadline):
    t0 = time.monotonic()
    slow = []
    try:
        for i in range(TRICKLE):
            s = connect_from(addr(1, i), port, blocking=True)
            if i % 6 == 0:  # a whole head, then a body that never ends
                s.sendall(b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/x-www-form-urlencoded\r\n"
                          b"Content-Length: 60000\r\n\r\ngrant_type=")
            else:
                s.sendall(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
            s.setblocking(False)
            slow.append(s)
    except OSError as e:
        bad(f"{TRICKLE} trickling connections are opened", str(e))
        for s in slow:
            s.close()
        return
    ok(f"{TRICKLE} trickling connections opened in {time.monotonic() - t0:.1f} s")

    # a kept-alive connection: one answered request, then a trickled second head
    kept = connect_from("127.1.200.1", port, blocking=True)
    kept.sendall(request(port, keep_alive=True))
    r = read_response(kept, time.monotonic() + 10)
    check("a kept-alive connection gets its first answer", r is not None and r[0] == 200)
    kept.sendall(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
    kept.setblocking(False)
    kept_start = time.monotonic()

    # a head sent slowly but finished in about a third of the deadline
    honest = connect_from("127.1.201.1", port, blocking=True)
    honest_head = request(port)
    honest_step = deadline / 3 / len(honest_head)

    closed_at = {}
    kept_closed = None
    honest_next = 0
    honest_sent = 0
    honest_answer = None
    last_byte = 0.0
    end = t0 + deadline + idle_timeout + 2 * SLACK_S
    while time.monotonic() < end:
        now = time.monotonic()
        if honest_sent < len(honest_head) and now >= honest_next:
            honest.sendall(honest_head[honest_sent:honest_sent + 1])
            honest_sent += 1
            honest_next = now + honest_step
            if honest_sent == len(honest_head):
                honest_answer = read_response(honest, time.monotonic() + 10)
                honest.close()
        if now - last_byte >= 1.0:
            last_byte = now
            for i, s in enumerate(slow):
                if i in closed_at:
                    continue
                try:
                    s.send(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed_at[i] = now - t0
                except BlockingIOError:
                    pass
            if kept_closed is None:
                try:
                    kept.send(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    kept_closed = now - kept_start
        for i, s in enumerate(slow):
            if i not in closed_at and closed_by_peer(s):
                closed_at[i] = time.monotonic() - t0
        if kept_closed is None and closed_by_peer(kept):
            kept_closed = time.monotonic() - kept_start
        if len(closed_at) == TRICKLE and kept_closed is not None:
            break
        time.sleep(0.05)

    check("a head sent slowly over a third of the deadline is answered 200",
          honest_answer is not None and honest_answer[0] == 200,
          f"answer: {honest_answer[0] if honest_answer else None}")
    times = sorted(closed_at.values())
    if times:
        diag(f"trickling connections closed: {len(times)} of {TRICKLE}, "
             f"first after {times[0]:.1f} s, last after {times[-1]:.1f} s")
    else:
        diag(f"trickling connections closed: none of {TRICKLE}")
    check(f"all {TRICKLE} trickling connections are closed by the request deadline "
          f"({deadline} s + {SLACK_S:.0f} s)",
          len(times) == TRICKLE and times[-1] <= deadline + SLACK_S,
          f"{TRICKLE - len(times)} still open"
          + (f"; the last closed after {times[-1]:.1f} s" if times else ""))
    check(f"none before the deadline ({deadline} s)", not times or times[0] >= deadline - 1,
          f"the first closed after {times[0]:.1f} s" if times else "")
    diag("the kept-alive trickler was "
         + (f"closed {kept_closed:.1f} s after its second head began"
            if kept_closed is not None else "never closed"))
    check(f"a kept-alive trickler is allowed the idle timeout ({idle_timeout} s) on top",
          kept_closed is None or kept_closed >= idle_timeout + deadline - 1)
    check(f"and is closed by idle timeout + deadline ({idle_timeout + deadline} s "
          f"+ {SLACK_S:.0f} s)",
          kept_closed is not None and kept_closed <= idle_timeout + deadline + SLACK_S)
    for s in slow:
        s.close()
    kept.close()


def main():
    if len(sys.argv) != 5:
        print("usage: connections.py PORT MAX_CONNECTIONS IDLE_TIMEOUT REQUEST_DEADLINE",
              file=sys.stderr)
        return 2
    port, max_conns, idle_timeout, deadline = (int(a) for a in sys.argv[1:])
    need = FLOOD + TRICKLE + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print(f"Bail out! this test needs {need} open files (ulimit -Hn is {hard})")
            return 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    flood(port, max_conns)
    trickle(port, idle_timeout, deadline)
    print(f"1..{n}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
