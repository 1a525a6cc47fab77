#!/usr/bin/python3
"""A receiving mail server for the relay's delivery tests: Debian's aiosmtpd on loopback, with
STARTTLS, saving each message exactly as received (N.eml) with its envelope, TLS, the client's
port (which connection carried it) and the most connections open at once so far (N.json).
Recipients whose local part is listed are refused; "busy" in the list answers every MAIL FROM
with 421 (a receiver throttling the sender), and "slow" waits 0.2 s before each DATA reply."""

import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


CONNECTIONS = {"open": 0, "most": 0, "all": 0}


class CountingSMTP(SMTP):
    def connection_made(self, transport):
        # STARTTLS calls this again for the same connection.
        if getattr(self, "counted", False):
            return super().connection_made(transport)
        self.counted = True
        CONNECTIONS["open"] += 1
        CONNECTIONS["all"] += 1
        CONNECTIONS["most"] = max(CONNECTIONS["most"], CONNECTIONS["open"])
        with open(COUNTER + ".tmp", "w") as file:
            file.write(str(CONNECTIONS["all"]))
        os.rename(COUNTER + ".tmp", COUNTER)
        super().connection_made(transport)

    def connection_lost(self, error):
        if getattr(self, "counted", False):
            self.counted = False
            CONNECTIONS["open"] -= 1
        super().connection_lost(error)


class Saver:
    def __init__(self, directory, refuse):
        self.directory = directory
        self.refuse = refuse
        self.count = 0

    async def handle_MAIL(self, server, session, envelope, address, options):
        if "busy" in self.refuse:
            return "421 4.7.0 too many messages from you, slow down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.split("@")[0] in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if "slow" in self.refuse:
            await asyncio.sleep(0.2)
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml", "wb") as file:
            file.write(envelope.original_content)
        cipher = session.ssl.get("cipher") if session.ssl else None
        with open(base + ".json.tmp", "w") as file:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "helo": session.host_name,
                       "tls": cipher[1] if cipher else None, "peer_port": session.peer[1],
                       "most_connections": CONNECTIONS["most"], "connections": CONNECTIONS["all"]},
                      file)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK saved"


async def main():
    global COUNTER
    port, directory, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    # Connections so far, beside (not among) the messages.
    COUNTER = os.path.join(os.path.dirname(directory), "connections")
    refuse = sys.argv[5].split(",") if len(sys.argv) > 5 else []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Saver(directory, refuse)
    server = await asyncio.get_running_loop().create_server(
        lambda: CountingSMTP(handler, hostname="mx.example.net", tls_context=context, require_starttls=False),
        host="127.0.0.1", port=port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
