#!/usr/bin/env python3
"""TCP proxy that injects faults into an etcd (gRPC over h2c) connection, for tests.

Usage:
  Tests/Servers/fault-proxy.py --listen-port P --upstream HOST:PORT
                         [--corrupt-data-after N] [--stall-after N] [--ready-file F]

  --listen-port P          port to listen on, on 127.0.0.1 (0 = pick a free one)
  --upstream HOST:PORT     the plaintext etcd client endpoint to forward to
  --corrupt-data-after N   per connection: once more than N bytes of HTTP/2 DATA
                           payload have gone server->client, xor 0xFF ONE byte in the
                           middle of the next DATA frame of at least 1000 bytes (a byte
                           inside a gRPC message body, away from the message's
                           protobuf header), once. The gRPC stream stays well-formed;
                           only the snapshot data no longer matches etcd's SHA-256 trailer.
  --stall-after N          per connection: after N bytes in total have been forwarded
                           server->client, forward nothing more in that direction
                           (the data is read and held), then write --ready-file. When
                           the upstream connection then closes (e.g. the test kills
                           etcd), the client connection is reset (RST, no FIN).
  --ready-file F           written (atomically) when a connection stalls; content: the
                           number of bytes forwarded server->client on it.

Without a fault option it is a plain byte-for-byte proxy. The client->server
direction is always forwarded untouched. On startup it prints `PORT <n>` on stdout
(one line, flushed); log lines go to stderr. SIGTERM or SIGINT stop it (exit 0).

How the server->client direction is read (only with --corrupt-data-after): an h2c
server sends HTTP/2 frames from the first byte (no preface): a 9-byte header
(24-bit length, 8-bit type, 8-bit flags, 1 reserved bit + 31-bit stream id) then
the payload. DATA frames (type 0) may be padded (flag 0x8: first payload byte is
the pad length). Their data carries gRPC messages: 1 byte compressed flag, 4 bytes
big-endian length, then the protobuf message. Whole frames are buffered and then
forwarded, so frame boundaries are kept.

Python standard library only (asyncio).
"""
import argparse
import asyncio
import os
import signal
import socket
import struct
import sys

FRAME_HEADER = 9
TYPE_DATA = 0
FLAG_PADDED = 0x8
MAX_SANE_FRAME = 1 << 24  # HTTP/2's limit for SETTINGS_MAX_FRAME_SIZE is 2^24-1
MIN_CORRUPT_FRAME = 1000
# Keep the flipped byte this far from a gRPC message's start and end, so that it
# lands in the snapshot blob and not in the gRPC length prefix or protobuf tags.
SAFE_HEAD = 64
SAFE_TAIL = 16


def log(msg):
    print(f"fault-proxy: {msg}", file=sys.stderr, flush=True)


class GrpcStreamState:
    """Where we are in the gRPC length-prefixed messages of one HTTP/2 stream."""

    __slots__ = ("prefix", "msg_len", "body_pos")

    def __init__(self):
        self.prefix = bytearray()  # partial 5-byte message prefix
        self.msg_len = 0           # length of the current message body
        self.body_pos = -1         # offset inside the body; -1 = reading a prefix

    def walk(self, data):
        """Advance over `data`; return the (start, end) ranges of `data` that are
        safely inside message bodies (see SAFE_HEAD / SAFE_TAIL)."""
        safe = []
        i, n = 0, len(data)
        while i < n:
            if self.body_pos < 0:
                take = min(5 - len(self.prefix), n - i)
                self.prefix += data[i:i + take]
                i += take
                if len(self.prefix) == 5:
                    self.msg_len = struct.unpack(">I", bytes(self.prefix[1:5]))[0]
                    self.prefix.clear()
                    self.body_pos = 0
                    if self.msg_len == 0:
                        self.body_pos = -1
                continue
            take = min(self.msg_len - self.body_pos, n - i)
            lo = max(self.body_pos, SAFE_HEAD)
            hi = min(self.body_pos + take, self.msg_len - SAFE_TAIL)
            if lo < hi:
                safe.append((i + lo - self.body_pos, i + hi - self.body_pos))
            self.body_pos += take
            i += take
            if self.body_pos == self.msg_len:
                self.body_pos = -1
        return safe


class Corrupter:
    """Parses the server->client HTTP/2 frames of one connection; flips one byte."""

    def __init__(self, after, conn_id):
        self.after = after
        self.conn_id = conn_id
        self.buf = bytearray()
        self.data_bytes = 0  # DATA payload bytes seen so far
        self.done = False
        self.broken = False  # stream did not look like HTTP/2: pass bytes through
        self.streams = {}

    def feed(self, chunk):
        """Take bytes from the server; return the bytes to forward now."""
        if self.broken:
            return chunk
        self.buf += chunk
        out = bytearray()
        while len(self.buf) >= FRAME_HEADER:
            length = int.from_bytes(self.buf[0:3], "big")
            if length > MAX_SANE_FRAME:
                log(f"conn {self.conn_id}: frame length {length} is not HTTP/2; passing bytes through")
                self.broken = True
                out += self.buf
                self.buf.clear()
                break
            total = FRAME_HEADER + length
            if len(self.buf) < total:
                break
            frame = bytearray(self.buf[:total])
            del self.buf[:total]
            if frame[3] == TYPE_DATA:
                self._data_frame(frame, length)
            out += frame
        return bytes(out)

    def _data_frame(self, frame, length):
        flags = frame[4]
        sid = int.from_bytes(frame[5:9], "big") & 0x7FFFFFFF
        start, end = FRAME_HEADER, FRAME_HEADER + length
        if flags & FLAG_PADDED and length > 0:
            pad = frame[FRAME_HEADER]
            start += 1
            end -= pad
            if end < start:  # malformed padding; leave it to the client to complain
                end = start
        seen_before = self.data_bytes
        self.data_bytes += length
        state = self.streams.setdefault(sid, GrpcStreamState())
        safe = state.walk(bytes(frame[start:end]))
        if self.done or seen_before <= self.after or length < MIN_CORRUPT_FRAME or not safe:
            return
        # The middle of the data, or the safe byte nearest to it.
        mid = (end - start) // 2
        best = None
        for lo, hi in safe:
            cand = min(max(mid, lo), hi - 1)
            if best is None or abs(cand - mid) < abs(best - mid):
                best = cand
        pos = start + best
        old = frame[pos]
        frame[pos] ^= 0xFF
        self.done = True
        log(f"conn {self.conn_id}: corrupted 1 byte (0x{old:02x} -> 0x{frame[pos]:02x}) in DATA frame "
            f"of stream {sid}, {length} bytes, at payload offset {pos - FRAME_HEADER}, "
            f"after {seen_before} DATA bytes")


def reset_and_close(writer):
    """Close with RST instead of FIN (SO_LINGER 0), dropping unsent data."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def write_ready_file(path, content):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)


class Proxy:
    def __init__(self, args):
        self.args = args
        self.up_host, self.up_port = args.upstream
        self.next_id = 0
        self.tasks = set()

    async def handle(self, creader, cwriter):
        self.next_id += 1
        cid = self.next_id
        task = asyncio.current_task()
        self.tasks.add(task)
        peer = cwriter.get_extra_info("peername")
        try:
            try:
                ureader, uwriter = await asyncio.open_connection(self.up_host, self.up_port)
            except OSError as e:
                log(f"conn {cid}: cannot connect to upstream {self.up_host}:{self.up_port}: {e}")
                reset_and_close(cwriter)
                return
            log(f"conn {cid}: {peer[0]}:{peer[1]} <-> {self.up_host}:{self.up_port}")
            c2s = asyncio.create_task(self.pump_c2s(creader, uwriter))
            s2c = asyncio.create_task(self.pump_s2c(cid, ureader, cwriter))
            try:
                done, _ = await asyncio.wait({c2s, s2c}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (c2s, s2c):
                    t.cancel()
                await asyncio.gather(c2s, s2c, return_exceptions=True)
            abort_client = s2c in done and not s2c.cancelled() and s2c.exception() is None and s2c.result()
            if abort_client:
                reset_and_close(cwriter)
            else:
                cwriter.close()
            uwriter.close()
            log(f"conn {cid}: closed" + (" (client reset)" if abort_client else ""))
        except asyncio.CancelledError:
            reset_and_close(cwriter)
            raise
        finally:
            self.tasks.discard(task)

    async def pump_c2s(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            return

    async def pump_s2c(self, cid, reader, writer):
        """Forward server->client. Returns True if the client must be reset."""
        corrupter = Corrupter(self.args.corrupt_data_after, cid) if self.args.corrupt_data_after is not None else None
        stall_after = self.args.stall_after
        forwarded = 0
        stalled = False
        held = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if stalled:
                    held += len(data)
                    continue
                if corrupter is not None:
                    data = corrupter.feed(data)
                if stall_after is not None and forwarded + len(data) >= stall_after:
                    n = stall_after - forwarded
                    held += len(data) - n
                    data = data[:n]
                    stalled = True
                if data:
                    writer.write(data)
                    await writer.drain()
                    forwarded += len(data)
                if stalled:
                    # Make sure the forwarded bytes have left our buffers before saying so.
                    while writer.transport.get_write_buffer_size() > 0 and not writer.transport.is_closing():
                        await asyncio.sleep(0.005)
                    log(f"conn {cid}: stalled after forwarding {forwarded} bytes server->client")
                    if self.args.ready_file:
                        write_ready_file(self.args.ready_file, f"{forwarded}\n")
        except (OSError, ConnectionError) as e:
            if not stalled:
                log(f"conn {cid}: server->client: {e}")
                return False
        if stalled:
            log(f"conn {cid}: upstream closed while stalled ({held} bytes held); resetting client")
            return True
        return False


def parse_hostport(s):
    host, sep, port = s.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {s!r}")
    return host.strip("[]"), int(port)


def nonneg(s):
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


async def main_async(args):
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, args.listen_host, args.listen_port)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    log(f"listening on {args.listen_host}:{port}, upstream {args.upstream[0]}:{args.upstream[1]}"
        + (f", corrupt-data-after {args.corrupt_data_after}" if args.corrupt_data_after is not None else "")
        + (f", stall-after {args.stall_after}" if args.stall_after is not None else ""))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log("stopping")
    server.close()
    for t in list(proxy.tasks):
        t.cancel()
    await asyncio.gather(*proxy.tasks, return_exceptions=True)
    await server.wait_closed()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="See the top of this file for details.")
    ap.add_argument("--listen-port", type=nonneg, required=True, help="0 = pick a free port")
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--upstream", type=parse_hostport, required=True, metavar="HOST:PORT")
    ap.add_argument("--corrupt-data-after", type=nonneg, metavar="N")
    ap.add_argument("--stall-after", type=nonneg, metavar="N")
    ap.add_argument("--ready-file", metavar="F")
    args = ap.parse_args()
    if args.ready_file and args.stall_after is None:
        ap.error("--ready-file only makes sense with --stall-after")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
