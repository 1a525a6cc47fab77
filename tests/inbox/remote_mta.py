#!/usr/bin/python3
"""A sending mail server of the box's internet: what Gmail's outbound servers do when one of its
users writes to a domain. Run in a host's namespace (`inbox exec mx ...` sends from
mx.gmail.test, 198.51.100.25, which gmail.test's SPF allows; another host is a spoofer).

It looks the recipient's domain up (MX, then A) in the box's DNS, delivers over STARTTLS
(unverified, as most MTAs do), optionally DKIM-signs the message as gmail.test with the box's
key, and prints one JSON object: each command's reply, and the message it sent.
"""

import argparse
import email.utils
import json
import smtplib
import ssl
import sys
import uuid

import dkim
import dns.resolver


def resolve(server, name, kind):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.timeout = resolver.lifetime = 5
    try:
        return list(resolver.resolve(name, kind))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []


def mail_server(dns_server, domain):
    """The first MX host's IPv4 address (the domain's own address without an MX)."""
    records = sorted(resolve(dns_server, domain, "MX"), key=lambda r: r.preference)
    host = str(records[0].exchange).rstrip(".") if records else domain
    addresses = resolve(dns_server, host, "A")
    if not addresses:
        sys.exit(f"no address for {host}")
    return host, str(addresses[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dns", required=True, help="the box's DNS server")
    parser.add_argument("--mail-from", default="alice@gmail.test", help="the envelope sender ('' for a bounce)")
    parser.add_argument("--from-header", default="Alice <alice@gmail.test>")
    parser.add_argument("--to", action="append", required=True, help="a recipient (repeatable)")
    parser.add_argument("--subject", default="Hello from the box")
    parser.add_argument("--body", default="Hello, this came from outside.\r\n")
    parser.add_argument("--sign-key", help="sign as gmail.test (selector box) with this key")
    parser.add_argument("--helo", default="mx.gmail.test")
    arguments = parser.parse_args()

    domain = arguments.to[0].rpartition("@")[2]
    host, address = mail_server(arguments.dns, domain)
    message = (
        f"From: {arguments.from_header}\r\n"
        f"To: {arguments.to[0]}\r\n"
        f"Subject: {arguments.subject}\r\n"
        f"Date: {email.utils.formatdate()}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@gmail.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{arguments.body}"
    ).encode()
    if arguments.sign_key:
        with open(arguments.sign_key, "rb") as file:
            key = file.read()
        signature = dkim.sign(message, b"box", b"gmail.test", key,
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        message = signature + message

    replies = {"server": host, "address": address}
    connection = smtplib.SMTP(address, 25, local_hostname=arguments.helo, timeout=30)
    try:
        connection.ehlo()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection.starttls(context=context)
        connection.ehlo()
        code, text = connection.mail(arguments.mail_from)
        replies["mail"] = f"{code} {text.decode()}"
        replies["rcpt"] = []
        accepted = code == 250
        if accepted:
            for rcpt in arguments.to:
                code, text = connection.rcpt(rcpt)
                replies["rcpt"].append(f"{code} {text.decode()}")
                accepted &= code == 250
        if accepted:
            code, text = connection.data(message)
            replies["data"] = f"{code} {text.decode()}"
        else:
            connection.rset()
        connection.quit()
    except smtplib.SMTPServerDisconnected as error:
        replies["disconnected"] = str(error)
    replies["message"] = message.decode()
    print(json.dumps(replies))


if __name__ == "__main__":
    main()
