"""python -m devcluster.relay PORT NETNS HOST:PORT: forward the host's 127.0.0.1:PORT to an address inside a network
namespace (the real node's API server), byte for byte (TLS passes through untouched).

The listening socket is made in the host's namespace, then the process joins the other one: every connection it
opens from then on starts there."""

from __future__ import annotations

import asyncio
import socket
import sys

from devcluster import netns


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except OSError:
                pass


async def _serve(listener: socket.socket, host: str, port: int) -> None:
    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        for writer in (client_writer, server_writer):
            writer.close()

    server = await asyncio.start_server(relay, sock=listener)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    listen_port, name, target = int(argv[0]), argv[1], argv[2]
    host, port = target.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
    netns.join(name)
    try:
        asyncio.run(_serve(listener, host, int(port)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
