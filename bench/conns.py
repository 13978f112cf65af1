"""Hold N idle keep-alive HTTP connections open to a server (bench/run, memory).

    python3 bench/conns.py HOST PORT N [PATH]

Opens N TCP connections (in batches, so the listen backlog never overflows),
sends one keep-alive `GET PATH` on each and reads its answer, so each is a
real HTTP/1.1 connection the server has served and now keeps. Prints
`READY <open> <failed>` when done, holds them until stdin closes (or 120 s,
whichever comes first), then closes them all. Talks to 127.0.0.1 only.
"""

import asyncio
import resource
import sys


async def one(host, port, path):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length:
        await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    return writer


async def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/healthz"
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("conns.py talks to 127.0.0.1 only")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 256)), hard))
    writers, failed = [], 0
    for start in range(0, n, 500):
        batch = await asyncio.gather(
            *(asyncio.wait_for(one(host, port, path), 30) for _ in range(start, min(n, start + 500))),
            return_exceptions=True,
        )
        for w in batch:
            if isinstance(w, BaseException):
                failed += 1
                if failed <= 3:
                    print(f"connection failed: {w!r}", file=sys.stderr)
            else:
                writers.append(w)
    print(f"READY {len(writers)} {failed}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), 120)
    except asyncio.TimeoutError:
        pass
    for w in writers:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
