#!/usr/bin/python3
"""SMTP sink, the test stand-in for a smarthost.

Usage: smtp-sink HOST PORT SPOOL
Accepts every message and writes it to SPOOL/<n>.eml (atomically: readers
never see half a message), headed by X-Sink-Envelope-From and
X-Sink-Envelope-To lines that carry the SMTP envelope.
"""

import asyncio
import itertools
import os
import sys
import time

HOST, PORT, SPOOL = sys.argv[1], int(sys.argv[2]), sys.argv[3]
COUNTER = itertools.count(1)


def address(arg):
    """'FROM:<a@b> SIZE=10' -> 'a@b'."""
    return arg.partition(":")[2].strip().split(" ")[0].strip("<>")


def save(sender, recipients, lines):
    name = f"{time.time_ns()}-{next(COUNTER)}"
    head = f"X-Sink-Envelope-From: {sender}\r\nX-Sink-Envelope-To: {', '.join(recipients)}\r\n"
    tmp = os.path.join(SPOOL, f".{name}.tmp")
    with open(tmp, "wb") as out:
        out.write(head.encode() + b"".join(lines))
    os.rename(tmp, os.path.join(SPOOL, f"{name}.eml"))


async def session(reader, writer):
    def reply(text):
        writer.write(f"{text}\r\n".encode())

    reply("220 smtp-sink ESMTP")
    sender, recipients = None, []
    while line := await reader.readline():
        verb, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
        verb = verb.upper()
        if verb in ("HELO", "EHLO"):
            reply("250 smtp-sink")
        elif verb == "MAIL":
            sender, recipients = address(arg), []
            reply("250 OK")
        elif verb == "RCPT" and sender is not None:
            recipients.append(address(arg))
            reply("250 OK")
        elif verb == "DATA" and recipients:
            reply("354 End data with <CR><LF>.<CR><LF>")
            await writer.drain()
            lines = []
            while (data := await reader.readline()) not in (b".\r\n", b".\n"):
                if not data:  # connection lost in the middle of a message
                    return
                lines.append(data[1:] if data.startswith(b".") else data)
            save(sender, recipients, lines)
            sender, recipients = None, []
            reply("250 OK saved")
        elif verb in ("RSET", "NOOP"):
            sender, recipients = (None, []) if verb == "RSET" else (sender, recipients)
            reply("250 OK")
        elif verb == "QUIT":
            reply("221 Bye")
            break
        else:
            reply("503 Bad sequence of commands")
        await writer.drain()
    await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(session, HOST, PORT)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
