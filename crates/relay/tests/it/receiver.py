#!/usr/bin/python3
"""A receiving mail server for the relay's delivery tests: Debian's aiosmtpd on loopback, with
STARTTLS, saving each message exactly as received (N.eml) with its envelope and TLS (N.json)."""

import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Saver:
    def __init__(self, directory, refuse):
        self.directory = directory
        self.refuse = refuse
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.split("@")[0] in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml", "wb") as file:
            file.write(envelope.original_content)
        cipher = session.ssl.get("cipher") if session.ssl else None
        with open(base + ".json.tmp", "w") as file:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "helo": session.host_name,
                       "tls": cipher[1] if cipher else None}, file)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK saved"


async def main():
    port, directory, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    refuse = sys.argv[5].split(",") if len(sys.argv) > 5 else []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Saver(directory, refuse)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="mx.example.net", tls_context=context, require_starttls=False),
        host="127.0.0.1", port=port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
