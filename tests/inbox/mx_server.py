#!/usr/bin/python3
"""The box's receiving mail server for gmail.test: accepts mail on port 25 (with STARTTLS),
judges every message the way a big mailbox provider would, with implementations independent of
Outpost's (pyspf for SPF, dkimpy for DKIM, DMARC and iprev evaluated here with dnspython), and
stores the message, a machine-readable verdict, and a Maildir copy that dovecot serves over IMAP.

For each message: <id>.eml (with Authentication-Results and Received prepended), then <id>.json
(written last, atomically: its presence means the message is complete).
"""

import argparse
import asyncio
import email.header
import email.utils
import ipaddress
import json
import os
import pwd
import re
import ssl
import time
import uuid
from email.parser import BytesHeaderParser

import dkim
import dns.exception
import dns.resolver
import dns.reversename
import spf
from aiosmtpd.smtp import SMTP

LOCAL_DOMAIN = "gmail.test"
HOSTNAME = "mx.gmail.test"


def decoded(header):
    """A header's text with RFC 2047 encoded words (a subject in Kazakh, say) decoded."""
    if header is None:
        return None
    return str(email.header.make_header(email.header.decode_header(header)))


def make_resolver(server):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.timeout = resolver.lifetime = 3
    resolver.cache = None
    return resolver


def org_domain(domain):
    """The organisational domain: the last two labels (the box has no public-suffix list)."""
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


class Judge:
    def __init__(self, resolver):
        self.resolver = resolver

    def txt(self, name):
        try:
            answer = self.resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]

    def spf(self, ip, mail_from, helo):
        sender = mail_from or f"postmaster@{helo}"
        result, explanation = spf.check2(i=ip, s=sender, h=helo, querytime=5)
        return {"result": result, "explanation": explanation, "domain": sender.rpartition("@")[2].lower()}

    def dnsfunc(self, name, timeout=5):
        records = self.txt(name.decode() if isinstance(name, bytes) else name)
        return records[0].encode() if records else b""

    def arc(self, message):
        """The ARC chain (RFC 8617) as dkimpy verifies it: none, pass or fail."""
        try:
            cv, _results, comment = dkim.arc_verify(message, dnsfunc=self.dnsfunc)
        except dkim.DKIMException as error:
            return {"result": "fail", "reason": str(error)}
        cv = cv.decode() if isinstance(cv, bytes) else str(cv)
        return {"result": cv.lower(), "reason": comment or ""}

    def dkim(self, message):
        dnsfunc = self.dnsfunc
        signatures = [v for k, v in BytesHeaderParser().parsebytes(message).items() if k.lower() == "dkim-signature"]
        results = []
        for index, header in enumerate(signatures):
            tags = dict(
                (part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip())
                for part in re.sub(r"\s+", "", str(header)).split(";")
                if "=" in part
            )
            verifier = dkim.DKIM(message)
            try:
                ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
                reason = "" if ok else "signature did not verify"
            except dkim.DKIMException as error:
                ok, reason = False, str(error)
            results.append({
                "domain": tags.get("d", "").lower(),
                "selector": tags.get("s", ""),
                "algorithm": tags.get("a", ""),
                "result": "pass" if ok else "fail",
                "reason": reason,
            })
        return results

    def dmarc(self, header_from_domain, spf_verdict, dkim_verdicts):
        if not header_from_domain:
            return {"result": "permerror", "policy": None, "domain": None}
        records = [r for r in self.txt(f"_dmarc.{header_from_domain}") if r.startswith("v=DMARC1")]
        if not records and org_domain(header_from_domain) != header_from_domain:
            records = [r for r in self.txt(f"_dmarc.{org_domain(header_from_domain)}") if r.startswith("v=DMARC1")]
        if not records:
            return {"result": "none", "policy": None, "domain": header_from_domain}
        if len(records) > 1:
            return {"result": "permerror", "policy": None, "domain": header_from_domain}
        tags = dict(
            (part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip())
            for part in records[0].split(";")
            if "=" in part
        )
        org = org_domain(header_from_domain)
        spf_aligned = spf_verdict["result"] == "pass" and org_domain(spf_verdict["domain"]) == org
        dkim_aligned = any(d["result"] == "pass" and org_domain(d["domain"]) == org for d in dkim_verdicts)
        return {
            "result": "pass" if spf_aligned or dkim_aligned else "fail",
            "policy": tags.get("p"),
            "domain": header_from_domain,
            "spf_aligned": spf_aligned,
            "dkim_aligned": dkim_aligned,
        }

    def iprev(self, ip):
        try:
            names = [str(r).rstrip(".") for r in self.resolver.resolve(dns.reversename.from_address(ip), "PTR")]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return {"result": "fail", "ptr": [], "reason": "no PTR record"}
        except dns.exception.DNSException as error:
            return {"result": "temperror", "ptr": [], "reason": str(error)}
        family = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
        for name in names:
            try:
                addresses = [str(r) for r in self.resolver.resolve(name, family)]
            except dns.exception.DNSException:
                continue
            if any(ipaddress.ip_address(a) == ipaddress.ip_address(ip) for a in addresses):
                return {"result": "pass", "ptr": names, "name": name}
        return {"result": "fail", "ptr": names, "reason": "the PTR name does not resolve back to the address"}


class Handler:
    def __init__(self, state, judge):
        self.state = state
        self.judge = judge
        self.mail_uid = pwd.getpwnam("mail").pw_uid
        self.mail_gid = pwd.getpwnam("mail").pw_gid

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not address.lower().endswith("@" + LOCAL_DOMAIN):
            return "550 5.7.1 relaying denied: this server only accepts mail for gmail.test"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        # A test makes this receiver refuse as Gmail would: the reply is in <state>/refuse.
        refuse = os.path.join(self.state, "refuse")
        if os.path.exists(refuse):
            with open(refuse) as file:
                return file.read().strip()
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        verdict = await asyncio.get_running_loop().run_in_executor(None, self.judge_message, session, envelope, content)
        return f"250 2.0.0 OK queued as {verdict['id']}"

    def judge_message(self, session, envelope, content):
        message_id = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:10]
        peer = session.peer[0]
        if peer.startswith("::ffff:"):
            peer = peer[7:]
        helo = session.host_name or ""
        mail_from = envelope.mail_from or ""
        headers = BytesHeaderParser().parsebytes(content)
        from_address = email.utils.parseaddr(headers.get("From", ""))[1]
        header_from_domain = from_address.rpartition("@")[2].lower() if "@" in from_address else ""

        tls = None
        if session.ssl:
            name, version, bits = session.ssl.get("cipher") or (None, None, None)
            tls = {"version": version, "cipher": name, "bits": bits}
        spf_verdict = self.judge.spf(peer, mail_from, helo)
        dkim_verdicts = self.judge.dkim(content)
        dkim_result = "none" if not dkim_verdicts else ("pass" if any(d["result"] == "pass" for d in dkim_verdicts) else "fail")
        dmarc_verdict = self.judge.dmarc(header_from_domain, spf_verdict, dkim_verdicts)
        iprev_verdict = self.judge.iprev(peer)
        arc_verdict = self.judge.arc(content)

        results = [f"iprev={iprev_verdict['result']} policy.iprev={peer}",
                   f"spf={spf_verdict['result']} smtp.mailfrom={mail_from or '<>'} smtp.helo={helo}"]
        results += [f"dkim={d['result']} header.d={d['domain']} header.s={d['selector']} header.a={d['algorithm']}" for d in dkim_verdicts] or ["dkim=none"]
        results.append(f"dmarc={dmarc_verdict['result']} header.from={header_from_domain or '(none)'}")
        results.append(f"arc={arc_verdict['result']}")
        tls_text = f" (version={tls['version']} cipher={tls['cipher']})" if tls else ""
        received_at = email.utils.formatdate(localtime=False)
        prepended = (
            f"Authentication-Results: {HOSTNAME};\r\n\t" + ";\r\n\t".join(results) + "\r\n"
            f"Received: from {helo} ([{peer}]) by {HOSTNAME} with {'ESMTPS' if tls else 'ESMTP'} id {message_id}{tls_text};\r\n\t{received_at}\r\n"
        ).encode()
        stored = prepended + content

        mail_dir = os.path.join(self.state, "mail")
        with open(os.path.join(mail_dir, message_id + ".eml"), "wb") as file:
            file.write(stored)
        # Like a big mailbox provider: what fails DMARC goes to the spam folder.
        folder = "" if dmarc_verdict["result"] == "pass" else ".Junk"
        for rcpt in envelope.rcpt_tos:
            self.deliver_maildir(rcpt.split("@")[0].lower(), message_id, stored, folder)
        verdict = {
            "id": message_id,
            "received_at": received_at,
            "peer": peer,
            "helo": helo,
            "mail_from": mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "header_from": from_address,
            "subject": decoded(headers.get("Subject")),
            "message_id": headers.get("Message-ID"),
            "size": len(content),
            "tls": tls,
            "spf": spf_verdict,
            "dkim": dkim_verdicts,
            "dkim_result": dkim_result,
            "dmarc": dmarc_verdict,
            "iprev": iprev_verdict,
            "arc": arc_verdict,
        }
        temporary = os.path.join(mail_dir, "." + message_id + ".json.tmp")
        with open(temporary, "w") as file:
            json.dump(verdict, file, indent=2)
        os.rename(temporary, os.path.join(mail_dir, message_id + ".json"))
        print(f"{message_id} from {peer} <{mail_from}> to {envelope.rcpt_tos}: "
              f"spf={spf_verdict['result']} dkim={dkim_result} dmarc={dmarc_verdict['result']} "
              f"iprev={iprev_verdict['result']} tls={tls and tls['version']}", flush=True)
        return verdict

    def deliver_maildir(self, user, message_id, data, folder=""):
        user_home = os.path.join(self.state, "maildir", re.sub(r"[^a-z0-9._-]", "_", user))
        os.makedirs(user_home, exist_ok=True)
        os.chown(user_home, self.mail_uid, self.mail_gid)
        # Maildir++: a folder is a ".Name" directory inside the mailbox (dovecot's layout).
        home = os.path.join(user_home, folder) if folder else user_home
        for sub in ("", "cur", "new", "tmp"):
            path = os.path.join(home, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, self.mail_uid, self.mail_gid)
        temporary = os.path.join(home, "tmp", message_id)
        with open(temporary, "wb") as file:
            file.write(data)
        os.chown(temporary, self.mail_uid, self.mail_gid)
        os.rename(temporary, os.path.join(home, "new", message_id))


async def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--dns", required=True)
    parser.add_argument("--port", type=int, default=25)
    arguments = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(arguments.cert, arguments.key)
    handler = Handler(arguments.state, Judge(make_resolver(arguments.dns)))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=HOSTNAME, ident="gmail.test test MX", tls_context=context,
                     require_starttls=False, enable_SMTPUTF8=True, data_size_limit=50 * 1024 * 1024),
        host=None, port=arguments.port)  # every address, IPv4 and IPv6
    print(f"listening on port {arguments.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
