// Generated from the Rust types by src-tauri/src/ipc/typescript.rs (ts-rs). Do not edit:
// change the Rust type and run `./dev types`; a test fails while this file is stale.

export type About = { 
/**
 * The app's version.
 */
appVersion: string, 
/**
 * The relay the app installs on servers.
 */
relay: Carried, };

export type AcmeAttempt = { 
/**
 * When it ended (seconds since the epoch).
 */
at: number, 
/**
 * The CA tried against (the staging directory for a first order, when there is one).
 */
directory: string, 
/**
 * Why it failed; none when a certificate was issued.
 */
failure?: AcmeFailure | null, 
/**
 * Failures in a row so far (0 after a success).
 */
failuresInARow: number, 
/**
 * The CA's `Retry-After` with the failure (seconds since the epoch): no new try before.
 */
retryAfter?: number | null, };

export type AcmeFailure = { 
/**
 * What kind of failure.
 */
kind: AcmeFailureKind, 
/**
 * The CA's or the network's own words (for logs and experts).
 */
detail: string, };

export type AcmeFailureKind = "ca-unreachable" | "challenge-failed" | "caa" | "dns" | "rate-limited" | "refused" | "timeout" | "other";

export type AcmePhase = { "step": "waiting" } | { "step": "ordering" } | { "step": "answering", 
/**
 * Which challenge.
 */
challenge: Challenge, } | { "step": "validated" };

export type AcmeStatus = { 
/**
 * The CA's directory URL.
 */
directory: string, 
/**
 * The names the certificate is for (the mail host first).
 */
names: Array<string>, 
/**
 * What it is doing now.
 */
phase: AcmePhase, 
/**
 * When it will next ask for a certificate, and why then.
 */
next?: Renewal | null, 
/**
 * How the last try ended (none yet after a start with a valid certificate).
 */
lastAttempt?: AcmeAttempt | null, 
/**
 * The challenge that worked last time (tried first next time).
 */
challenge?: Challenge | null, 
/**
 * The relay's account URL at `directory` (RFC 8555 §7.3), once it has one: what a CAA
 * record's `accounturi` names (RFC 8657) so that only this account may get certificates.
 */
account?: string | null, };

export type Address = { 
/**
 * The host name or IP address (an `ssh://`, a `user@` and a trailing `/` are tolerated).
 */
host: string, 
/**
 * The SSH port.
 */
port: number, 
/**
 * The login user.
 */
user: string, };

export type AliasChoice = { 
/**
 * The part before the @ (`hello` for hello@example.com).
 */
name: string, 
/**
 * Where its mail goes.
 */
to: string, };

export type AuthResult = "pass" | "fail" | "softfail" | "neutral" | "none" | "temperror" | "permerror" | "other";

export type BackupProblem = "notABackup" | "wrongKey" | "file";

export type BackupSaved = { 
/**
 * The files it holds (their paths on the server).
 */
files: Array<string>, 
/**
 * Its size in bytes.
 */
bytes: number, };

export type Blocker = { "kind": "notPointing", 
/**
 * The name.
 */
name: string, 
/**
 * `A` or `AAAA`.
 */
record: string, 
/**
 * What the DNS has.
 */
found: Array<string>, 
/**
 * The server's addresses.
 */
expected: Array<string>, } | { "kind": "portTaken", 
/**
 * The port.
 */
port: number, 
/**
 * The program, when `ss` names it.
 */
program: string | null, } | { "kind": "portClosed", 
/**
 * The port.
 */
port: number, } | { "kind": "caaForbids", 
/**
 * Where the record is.
 */
name: string, 
/**
 * Its values.
 */
found: Array<string>, 
/**
 * The CA that would be asked.
 */
ca: string, } | { "kind": "caaRestricts", 
/**
 * Where the record is.
 */
name: string, 
/**
 * Its values.
 */
found: Array<string>, 
/**
 * The CA that would be asked.
 */
ca: string, };

export type Blocklist = { 
/**
 * Its name, as people know it.
 */
name: string, 
/**
 * Its DNS zone.
 */
zone: string, 
/**
 * What it lists.
 */
keyed: Keyed, 
/**
 * Where to look up details and ask for removal.
 */
removal: string, };

export type BlocklistEntry = { 
/**
 * The list.
 */
list: Blocklist, 
/**
 * The address or domain looked up.
 */
subject: string, 
/**
 * The outcome.
 */
listing: Listing, };

export type BusyPort = { 
/**
 * The port.
 */
port: number, 
/**
 * The process name `ss` shows, when it shows one.
 */
program: string | null, 
/**
 * The mail server that process belongs to, if it is one the install can stop.
 */
mailServer: MailServer | null, };

export type CaaPin = { 
/**
 * The CA's domain, e.g. `letsencrypt.org`.
 */
issuer: string, 
/**
 * The account URL (RFC 8657 `accounturi`).
 */
account: string, };

export type Carried = { 
/**
 * The relay's version, read from the stamp inside the binary.
 */
version: string, 
/**
 * Lower-case hex SHA-256 of the executable.
 */
sha256: string, 
/**
 * The platform it runs on, as a Rust target triple.
 */
target: string, 
/**
 * Its size in bytes.
 */
size: number, };

export type Certificate = { 
/**
 * The names it covers.
 */
names: Array<string>, 
/**
 * When it expires (RFC 3339).
 */
notAfter: string, 
/**
 * The same, in seconds since the epoch (0 from a relay before 0.2).
 */
expires: number, 
/**
 * Where it came from.
 */
source: CertificateSource, 
/**
 * SHA-256 of the certificate (DER), lower-case hex: lets the app check that the certificate
 * it sees on a port is this one, even while it is self-signed.
 */
sha256: string, 
/**
 * Who signed it (the issuer's common name, or its whole name when it has none).
 */
issuer: string, 
/**
 * Its serial number, lower-case hex.
 */
serial: string, 
/**
 * When it became valid (RFC 3339).
 */
notBefore: string, };

export type CertificateChoice = { 
/**
 * `mta-sts.<domain>` and `autoconfig.<domain>` when their DNS pointed at the server.
 */
names: Array<string>, 
/**
 * The CA and the relay's account there, once issued: what the optional CAA record of the
 * DNS step names.
 */
caa?: CaaPin, };

export type CertificateReport = { 
/**
 * The certificate the relay serves now.
 */
certificate: Certificate, 
/**
 * The relay's ACME state: the next renewal and why then.
 */
acme: AcmeStatus, 
/**
 * Port 587 as a mail program sees it, the chain verified.
 */
submission: Submission, 
/**
 * The ports this computer saw the certificate on, its chain verified (465, 443).
 */
verifiedPorts: Array<number>, 
/**
 * Ports 80 or 443 that this computer could not reach (the CA used the other).
 */
closedPorts: Array<number>, 
/**
 * How long it took, in milliseconds.
 */
millis: number, };

export type CertificateSource = { "kind": "self-signed" } | { "kind": "files", 
/**
 * The certificate chain's path.
 */
chain: string, } | { "kind": "acme", 
/**
 * The CA's directory URL.
 */
directory: string, };

export type Challenge = "tls-alpn01" | "http01";

export type Check = { 
/**
 * The outcome.
 */
verdict: CheckVerdict, 
/**
 * What was found (its `id` names the check).
 */
found: CheckFinding, };

export type CheckFinding = { "id": "os", name: string | null, tested: boolean, } | { "id": "arch", machine: string, } | { "id": "systemd", running: boolean, } | { "id": "ports", busy: Array<BusyPort>, } | { "id": "addresses", public: Array<string>, private: Array<string>, } | { "id": "outbound25", target: string, reachable: boolean, } | { "id": "rdns", 
/**
 * Each address and its name.
 */
names: Array<ReverseName>, 
/**
 * The mail host compared with; none before the domain is chosen.
 */
mailHost: string | null, } | { "id": "clock", synchronised: boolean | null, } | { "id": "disk", freeMb: number | null, } | { "id": "memory", availableMb: number | null, } | { "id": "relay", version: string | null, running: boolean, };

export type CheckVerdict = "pass" | "warn" | "fail";

export type Checked = { 
/**
 * Which.
 */
requirement: Requirement, 
/**
 * How it stands.
 */
standing: Standing, };

export type Delivery = { "state": "delivered", 
/**
 * The attempt that delivered.
 */
record: DeliveryRecord, } | { "state": "waiting", 
/**
 * The last attempt, if one ended.
 */
record?: DeliveryRecord, 
/**
 * Attempts so far.
 */
attempts: number, 
/**
 * When the relay tries again (seconds since the epoch).
 */
nextAttempt: number, } | { "state": "refused", 
/**
 * The refusing attempt.
 */
record: DeliveryRecord, };

export type DeliveryCounts = { 
/**
 * Since when (seconds since the epoch): 24 hours ago, or the relay's start if later.
 */
since: number, 
/**
 * Recipients whose server took the message.
 */
delivered: number, 
/**
 * Recipients refused for good or given up on (the sender got a bounce).
 */
bounced: number, };

export type DeliveryProblem = { "kind": "unreachable" } | { "kind": "no-mail-server" } | { "kind": "policy" } | { "kind": "interrupted" } | { "kind": "reply", 
/**
 * The reply code (4xx, 5xx).
 */
code: number, 
/**
 * The enhanced status code (`5.7.26`), when the server sent one.
 */
enhanced?: string | null, } | { "kind": "deferred", 
/**
 * When the domain will be tried again.
 */
until: number, };

export type DeliveryRecord = { 
/**
 * When (seconds since the epoch).
 */
at: number, 
/**
 * The outcome.
 */
outcome: Outcome, 
/**
 * The server's host name (an MX name), if one was reached.
 */
host: string | null, 
/**
 * Its IP address.
 */
ip: string | null, 
/**
 * TLS version, if the connection was encrypted.
 */
tlsVersion: string | null, 
/**
 * TLS cipher suite.
 */
tlsCipher: string | null, 
/**
 * The server's reply (or what went wrong before one).
 */
reply: string, 
/**
 * What went wrong, as data (none when delivered).
 */
problem?: DeliveryProblem | null, 
/**
 * Whether the domain's MTA-STS policy (`enforce`) applied: only listed servers, only over
 * verified TLS.
 */
mtaSts: boolean, };

export type Detail = { "kind": "binaryCurrent", version: string, } | { "kind": "binaryInstalled", version: string, bytes: number, } | { "kind": "userExists" } | { "kind": "userCreated" } | { "kind": "configCurrent" } | { "kind": "configWritten", path: string, } | { "kind": "dkimPresent" } | { "kind": "dkimMade", records: Array<string>, } | { "kind": "smtpUserExists", user: string, } | { "kind": "smtpUserSet", user: string, } | { "kind": "notReceiving" } | { "kind": "aliasesCurrent", count: number, } | { "kind": "aliasesSet", set: Array<string>, removed: Array<string>, } | { "kind": "unitCurrent" } | { "kind": "unitInstalled", path: string, } | { "kind": "noFirewall", ports: Array<number>, } | { "kind": "firewallOpen", manager: Firewall, ports: Array<number>, } | { "kind": "firewallOpened", manager: Firewall, ports: Array<number>, } | { "kind": "ipv6NotWanted" } | { "kind": "ipv6On" } | { "kind": "ipv6SwitchedOn", file: string, } | { "kind": "running" };

export type DkimProblem = "keyMissing" | "keyUnusable" | "keyCut" | "keyDifferent" | "bodyChanged" | "other";

export type DkimRotation = { 
/**
 * The selector signing before the rotation.
 */
from: string, 
/**
 * The new selector.
 */
to: string, 
/**
 * The new key's record name (`outpost2._domainkey.example.com`).
 */
record: string, 
/**
 * Its TXT value.
 */
value: string, 
/**
 * The old key's record name.
 */
oldRecord: string, 
/**
 * The old record's TXT value (still published until a week after the switch).
 */
oldValue: string, 
/**
 * When signing switched to the new key (the server's clock, seconds since the epoch);
 * `null` before (always written, so the UI reads `null`, never a missing field).
 */
switched: number | null, };

export type DkimSwitch = { "kind": "notVisible", 
/**
 * What the zone's servers have at its name.
 */
status: RecordStatus, } | { "kind": "switched", 
/**
 * When (the server's clock).
 */
at: number, };

export type DkimVerdict = { 
/**
 * `d=`.
 */
domain: string, 
/**
 * `s=`.
 */
selector: string, 
/**
 * `a=`, e.g. `rsa-sha256`.
 */
algorithm: string, 
/**
 * The result.
 */
result: AuthResult, 
/**
 * Why it did not pass, when the app can tell.
 */
problem?: DkimProblem, };

export type DmarcPolicy = "none" | "quarantine" | "reject";

export type DnsLine = { 
/**
 * Set while public resolvers still have an older answer.
 */
propagation: Propagation | null, 
/**
 * The planned record.
 */
record: DnsRecord, 
/**
 * Its state.
 */
status: RecordStatus, 
/**
 * What was found (values as text).
 */
found: Array<string>, };

export type DnsRecord = { 
/**
 * The type.
 */
kind: RecordKind, 
/**
 * The full name, with a trailing dot (`mail.example.com.`).
 */
name: string, 
/**
 * The name as most DNS panels want it: relative to the domain, `@` for the domain itself.
 */
host: string, 
/**
 * The value as a person pastes it (a TXT value whole, without quotes).
 */
value: string, 
/**
 * The value's parts, for panels with a field each: MX `[preference, host]`, CAA
 * `[flags, tag, value]`; empty for the others.
 */
fields: Array<string>, 
/**
 * Time to live, seconds.
 */
ttl: number, 
/**
 * What it is for (the UI's catalogue says it in words).
 */
purpose: RecordPurpose, 
/**
 * Required or recommended.
 */
need: RecordNeed, };

export type DnsReport = { 
/**
 * The zone that holds the domain (may be a parent, or a delegated subzone).
 */
zone: string, 
/**
 * Every record, in the order to publish them.
 */
lines: Array<DnsLine>, 
/**
 * Things to know before publishing.
 */
warnings: Array<DnsWarning>, 
/**
 * SPF for each address of the server, evaluated like a receiver.
 */
spf: Array<SpfVerdict>, 
/**
 * The whole plan as a zone file.
 */
zoneFile: string, 
/**
 * Where the user stands.
 */
verdict: DnsVerdict, };

export type DnsVerdict = { 
/**
 * Records right at the zone's servers.
 */
right: number, 
/**
 * Records in all.
 */
total: number, 
/**
 * Right records that public resolvers do not all answer yet.
 */
spreading: number, 
/**
 * The index in `lines` of the record to fix next, if any is not right.
 */
next: number | null, };

export type DnsWarning = { "kind": "mxTakesMailAway", 
/**
 * The current mail servers.
 */
current: Array<string>, } | { "kind": "severalSpfRecords", 
/**
 * What was found.
 */
found: Array<string>, } | { "kind": "severalDmarcRecords", 
/**
 * What was found.
 */
found: Array<string>, };

export type Domain = { 
/**
 * The user's domain, e.g. `example.com` (ASCII, lower case).
 */
domain: string, 
/**
 * The mail host name, by default `mail.<domain>`.
 */
mailHost: string, 
/**
 * The address mail is sent from, at the domain.
 */
sender: string, 
/**
 * An existing mailbox the domain's incoming mail should be forwarded to, if any. With one,
 * the relay receives mail for the domain (port 25, an MX record) and forwards it.
 */
forwardTo: string | null, 
/**
 * Which addresses exist and where each one's mail goes.
 */
forwarding: Forwarding, 
/**
 * Whether to send over IPv6 too.
 */
ipv6: boolean, 
/**
 * The DMARC policy to publish.
 */
dmarc: DmarcPolicy, 
/**
 * The DKIM selector the relay signs with (`outpost`, then `outpost2`… after rotations).
 */
dkimSelector: string, };

export type DomainForm = { domain: string, mailHost: string, sender: string, forwardTo: string, forwarding: Forwarding, ipv6: boolean, dmarc: DmarcPolicy, };

export type DomainRemoved = { 
/**
 * The domain.
 */
domain: string, 
/**
 * The logins at it that were removed (their passwords left the keychain too).
 */
users: Array<string>, };

export type ExtraDomain = { 
/**
 * The domain, e.g. `example.org` (ASCII, lower case).
 */
domain: string, 
/**
 * The address mail is sent from at it (its SMTP login).
 */
sender: string, 
/**
 * The mailbox its incoming mail is forwarded to; none: the relay does not receive for it.
 */
forwardTo: string | null, 
/**
 * Which addresses exist and where each one's mail goes.
 */
forwarding: Forwarding, 
/**
 * The DMARC policy to publish.
 */
dmarc: DmarcPolicy, 
/**
 * The DKIM selector the relay signs its mail with.
 */
dkimSelector: string, };

export type ExtraDomainForm = { 
/**
 * The domain.
 */
domain: string, 
/**
 * The sending address (empty: `hello@<domain>`).
 */
sender: string, 
/**
 * The forwarding mailbox (empty: the relay does not receive for it).
 */
forwardTo: string, 
/**
 * The addresses and the catch-all.
 */
forwarding: Forwarding, };

export type Field = "host" | "port" | "user" | "password" | "keyFile" | "passphrase" | "newKey" | "domain" | "mailHost" | "sender" | "forwardTo" | "aliasName" | "aliasTo" | "testRecipient" | "imapHost" | "smtpUser" | "sends";

export type Finding = { "kind": "port25Blocked" } | { "kind": "noMailServer" } | { "kind": "policy" } | { "kind": "tryLater", 
/**
 * Its reply.
 */
reply: string, 
/**
 * When the relay tries again (seconds since the epoch).
 */
retryAt: number, 
/**
 * What kind of "later".
 */
refusal: Refusal, } | { "kind": "refused", 
/**
 * Its reply.
 */
reply: string, 
/**
 * What it usually means.
 */
refusal: Refusal, } | { "kind": "dkim", 
/**
 * The record's name (`selector._domainkey.domain`).
 */
record: string, 
/**
 * Why.
 */
problem: DkimProblem, } | { "kind": "spf", 
/**
 * The result.
 */
result: AuthResult, } | { "kind": "dmarc" } | { "kind": "reverseDns" } | { "kind": "unencrypted" } | { "kind": "spam", 
/**
 * The folder.
 */
folder: string, };

export type FinishedDelivery = { 
/**
 * The queue id.
 */
id: string, 
/**
 * The recipient.
 */
recipient: string, 
/**
 * Its last attempt.
 */
record: DeliveryRecord, 
/**
 * What a refusal's codes usually mean.
 */
refusal: Refusal | null, };

export type Firewall = "ufw" | "firewalld";

export type ForwardedMessage = { 
/**
 * When it arrived (seconds since the epoch).
 */
at: number, 
/**
 * The queue id.
 */
id: string, 
/**
 * The envelope sender as it arrived (empty for a bounce).
 */
from: string, 
/**
 * The address in its `From:` header.
 */
headerFrom: string, 
/**
 * The addresses it was sent to, at our domains.
 */
to: Array<string>, 
/**
 * Where it was forwarded.
 */
destinations: Array<string>, };

export type Forwarding = { 
/**
 * Every address without an alias of its own goes to the forwarding mailbox (the
 * tutorial's catch-all). Off: only the aliases, the sending address, postmaster@ and
 * abuse@ exist, and mail to any other address is refused.
 */
catchAll: boolean, 
/**
 * Addresses with a destination of their own.
 */
aliases: Array<AliasChoice>, };

export type Health = { 
/**
 * The server's clock when it answered (seconds since the epoch).
 */
checked: number, 
/**
 * Each thing that must work, judged, in the order the dashboard lists them.
 */
items: Array<HealthItem>, 
/**
 * The queued messages, oldest first.
 */
queue: Array<QueueItem>, 
/**
 * The latest finished deliveries, newest first.
 */
deliveries: Array<FinishedDelivery>, 
/**
 * The DNS report the DNS item judged (none when the records could not be checked).
 */
dns: DnsReport | null, };

export type HealthFinding = { "id": "relay", 
/**
 * Whether it runs now.
 */
running: boolean, 
/**
 * Running: when it started; stopped: when it last reported (none if it never ran).
 */
since: number | null, } | { "id": "ports", 
/**
 * Ports that answered.
 */
open: Array<number>, 
/**
 * Ports the relay listens on that did not answer from here (a firewall).
 */
closed: Array<number>, } | { "id": "certificate", 
/**
 * Who signed it.
 */
issuer: string, 
/**
 * Made by the relay itself (mail programs warn).
 */
selfSigned: boolean, 
/**
 * When it expires (seconds since the epoch).
 */
expires: number, 
/**
 * When the relay asks its CA for the next one.
 */
nextRenewal: number | null, 
/**
 * Why the last renewal failed, if it did.
 */
failure: AcmeFailureKind | null, } | { "id": "noCertificate" } | { "id": "queue", 
/**
 * How many.
 */
waiting: number, 
/**
 * Of those, how many have waited longer than [`STUCK_AFTER`].
 */
stuck: number, 
/**
 * When the oldest was accepted.
 */
oldest: number | null, 
/**
 * When the next attempt is due.
 */
nextRetry: number | null, } | { "id": "deliveries", 
/**
 * The counts.
 */
counts: DeliveryCounts, } | { "id": "inbound", 
/**
 * Since when.
 */
since: number, 
/**
 * Messages forwarded.
 */
forwarded: number, 
/**
 * Refusals by reason.
 */
refused: Array<RefusalCount>, } | { "id": "dns", 
/**
 * Records right (of every domain on the relay).
 */
right: number, 
/**
 * Records in all.
 */
total: number, 
/**
 * Right ones public resolvers do not all answer yet.
 */
spreading: number, 
/**
 * Whether a record of the first domain is not right (fixed at the DNS step).
 */
firstWrong: boolean, 
/**
 * The further domains with a record that is not right (fixed on the dashboard).
 */
furtherWrong: Array<string>, } | { "id": "dnsUnchecked", 
/**
 * What went wrong.
 */
detail: string, } | { "id": "blocklists", 
/**
 * Listings found.
 */
listed: Array<BlocklistEntry>, 
/**
 * Lookups that could not be read (not listings).
 */
unchecked: number, 
/**
 * Lookups made.
 */
asked: number, } | { "id": "outbound25", 
/**
 * `host:port` tried.
 */
target: string, 
/**
 * Whether it answered.
 */
reachable: boolean, 
/**
 * Why not.
 */
detail: string | null, } | { "id": "version", 
/**
 * On the server (none if it never ran).
 */
running: string | null, 
/**
 * In this app.
 */
carried: string, 
/**
 * How the server's compares.
 */
standing: VersionStanding, } | { "id": "disk", 
/**
 * Free, MiB.
 */
freeMb: number | null, 
/**
 * In all, MiB.
 */
totalMb: number | null, } | { "id": "memory", 
/**
 * Available, MiB.
 */
availableMb: number | null, 
/**
 * In all, MiB.
 */
totalMb: number | null, };

export type HealthItem = { 
/**
 * Green, amber or red.
 */
verdict: CheckVerdict, 
/**
 * What was found (its `id` names the item).
 */
found: HealthFinding, };

export type HostKey = { 
/**
 * `SHA256:…`, as `ssh-keygen -l` prints it.
 */
fingerprint: string, 
/**
 * E.g. `ssh-ed25519`.
 */
algorithm: string, };

export type HowChecked = "docs" | "recalled";

export type ImapAccount = { 
/**
 * The server, e.g. `imap.gmail.com`.
 */
host: string, 
/**
 * Its port (993).
 */
port: number, 
/**
 * The login, usually the address.
 */
user: string, };

export type Inbound = { "kind": "open", 
/**
 * The TLS version, e.g. `TLSv1_3`.
 */
tlsVersion: string, } | { "kind": "blocked", 
/**
 * What the network said.
 */
reason: NetworkFailure, };

export type InboundRefusal = "relaying" | "unknown-recipient" | "forged-bounce-address" | "blocklisted" | "dmarc-reject" | "spf-fail" | "rate-limited" | "too-big" | "malformed";

export type InboundStatus = { 
/**
 * When counting began: the relay's start (seconds since the epoch).
 */
since: number, 
/**
 * Messages accepted and queued for forwarding.
 */
forwarded: number, 
/**
 * Refusals, one entry per reason that happened.
 */
refused: Array<RefusalCount>, 
/**
 * The latest forwarded messages, newest last.
 */
recent: Array<ForwardedMessage>, };

export type InstallFailure = { "kind": "diskFull", detail: string, } | { "kind": "damaged" } | { "kind": "doesNotRun", detail: string, } | { "kind": "didNotStart", detail: string, } | { "kind": "noCertificate" } | { "kind": "command", detail: string, } | { "kind": "config", detail: string, };

export type InstallReport = { 
/**
 * Every stage, changed or not.
 */
steps: Array<InstallStep>, 
/**
 * The running relay's status.
 */
status: RelayStatus, 
/**
 * What a mail client sees on port 587, checked from this computer.
 */
submission: Submission, 
/**
 * What sending servers see on port 25, when the relay receives for the domain.
 */
inbound: Inbound | null, 
/**
 * The SMTP user (its password is in the keychain).
 */
smtpUser: string, 
/**
 * How long it took, in milliseconds.
 */
millis: number, };

export type InstallStep = { 
/**
 * The stage.
 */
stage: Stage, 
/**
 * Whether the server was changed.
 */
changed: boolean, 
/**
 * What was found or done.
 */
detail: Detail, };

export type Installed = { 
/**
 * The relay's version.
 */
relayVersion: string, 
/**
 * The server's public addresses, as the checks found them.
 */
addresses: Array<string>, 
/**
 * The DKIM record's name and TXT value, for the DNS step.
 */
dkim: Array<[string, string]>, 
/**
 * The SMTP user (its password is in the keychain).
 */
smtpUser: string, };

export type IpcError = { "code": "profileUnavailable", detail: string, } | { "code": "relayDamaged", detail: string, } | { "code": "internal", detail: string, } | { "code": "invalidInput", field: Field, problem: Problem, item?: number, } | { "code": "notReady", missing: Missing, } | { "code": "unreachable", host: string, port: number, reason: NetworkFailure, } | { "code": "timeout", seconds: number, } | { "code": "hostKeyChanged", expected: string, found: string, } | { "code": "hostKeyNotShown", target: string, } | { "code": "loginRefused", user: string, } | { "code": "badKey", detail: string, } | { "code": "ssh", detail: string, } | { "code": "installFailed", stage: Stage, reason: InstallFailure, } | { "code": "rolledBack", version: string, journal: string, } | { "code": "relayOutdated", relay: number, needed: number, } | { "code": "relayCommand", command: string, detail: string, } | { "code": "keychain", detail: string, } | { "code": "keychainMissing", detail: string, } | { "code": "submissionUnverified", reason: Unverified, detail: string, } | { "code": "cancelled" } | { "code": "dns", domain: string, detail: string, } | { "code": "certificateBlocked", blockers: Array<Blocker>, } | { "code": "certificateRefused", kind: AcmeFailureKind, detail: string, mailHost: string, } | { "code": "certificateTimeout", seconds: number, } | { "code": "settings", detail: string, } | { "code": "testNotSubmitted", failure: SubmitFailure, detail: string, } | { "code": "backupUnusable", problem: BackupProblem, detail: string, } | { "code": "backupForAnotherDomain", domain: string, } | { "code": "update", problem: UpdateProblem, detail: string, };

export type KeychainEntry = { "kind": "smtpPassword", user: string, } | { "kind": "dkimKey", record: string, } | { "kind": "acmeAccounts" };

export type KeychainState = "ready" | "missing" | "notAnswering";

export type Keyed = "ip" | "domain";

export type Language = "en" | "kk" | "ru" | "zh";

export type Listener = { 
/**
 * What it is for.
 */
mode: ListenerMode, 
/**
 * Where it listens.
 */
address: string, };

export type ListenerMode = "submission" | "submissions" | "inbound" | "https" | "http";

export type Listing = { "state": "notListed" } | { "state": "listed", 
/**
 * E.g. `127.0.0.2`.
 */
codes: Array<string>, } | { "state": "couldNotCheck", 
/**
 * Why.
 */
why: Unchecked, };

export type Localized = { 
/**
 * English.
 */
en: string, 
/**
 * Kazakh.
 */
kk: string, 
/**
 * Russian.
 */
ru: string, 
/**
 * Simplified Chinese.
 */
zh: string, };

export type Login = "password" | "key" | "new-key";

export type LoginForm = { 
/**
 * Password, key file or a new key.
 */
kind: Login, 
/**
 * The password (for a password login, or to add a new key once).
 */
password?: string, 
/**
 * The private key file's path (`~/` allowed).
 */
keyFile?: string, 
/**
 * The key's passphrase, if it has one.
 */
passphrase?: string, };

export type MailServer = "postfix" | "exim" | "sendmail" | "open-smtpd" | "chasquid";

export type Mailbox = { "state": "notAsked" } | { "state": "noPassword", 
/**
 * `user@host`.
 */
login: string, } | { "state": "notDelivered" } | { "state": "found", 
/**
 * The folder it is in.
 */
folder: string, 
/**
 * Whether that is the spam folder.
 */
spam: boolean, 
/**
 * The receiver's `Authentication-Results`, read.
 */
verdict?: Verdict, 
/**
 * The receiver's header as written.
 */
authenticationResults?: string, 
/**
 * The TLS the receiver's `Received:` line names (`version=TLSv1.3 …`).
 */
receivedTls?: string, } | { "state": "notFound", 
/**
 * Seconds waited.
 */
waited: number, } | { "state": "loginRefused", 
/**
 * What it said.
 */
detail: string, } | { "state": "unreachable", 
/**
 * What went wrong.
 */
detail: string, };

export type Mismatch = { "kind": "cutShort", length: number, } | { "kind": "otherValue" } | { "kind": "invalidDmarc", detail: string, } | { "kind": "dmarcPolicy", published: string, chosen: string, } | { "kind": "several", count: number, } | { "kind": "alias", target: string, } | { "kind": "extraValues", found: Array<string>, } | { "kind": "found", found: Array<string>, expected: string, } | { "kind": "notPointingBack", name: string, ip: string, } | { "kind": "lookupFailed", detail: string, };

export type Missing = { "kind": "server" } | { "kind": "login", 
/**
 * `user@host`.
 */
login: string, } | { "kind": "domain" } | { "kind": "install" } | { "kind": "dkimRotation" } | { "kind": "oldDkimKeyInUse", 
/**
 * Seconds since the epoch (the server's clock).
 */
until: number, } | { "kind": "certificate" } | { "kind": "extraDomain", 
/**
 * The name asked for.
 */
domain: string, };

export type NetworkFailure = { "kind": "refused" } | { "kind": "noRoute" } | { "kind": "timedOut" } | { "kind": "unknownName" } | { "kind": "other", 
/**
 * What the system said.
 */
detail: string, };

export type Outcome = "delivered" | "temporary" | "permanent";

export type Port25 = "open" | "on-request" | "restricted";

export type Problem = { "kind": "empty" } | { "kind": "tooLong", max: number, } | { "kind": "looksLikeAnAddress" } | { "kind": "hasSpace" } | { "kind": "ipAddress" } | { "kind": "notADomain" } | { "kind": "noEnding", suggestion: string, } | { "kind": "noAt" } | { "kind": "badLocalPart" } | { "kind": "outsideDomain", domain: string, } | { "kind": "outsideDomains", domains: Array<string>, } | { "kind": "forwardsToItself", domain: string, } | { "kind": "duplicate" } | { "kind": "reservedName" } | { "kind": "neededForAliases" } | { "kind": "notAHost" } | { "kind": "publicKeyFile" } | { "kind": "unreadable", path: string, reason: string, } | { "kind": "passphraseNeeded" } | { "kind": "passphraseWrong" } | { "kind": "keyNotMade" } | { "kind": "cannotBecomeRoot", user: string, reason: string, } | { "kind": "mainUser" };

export type ProfileView = { 
/**
 * The step on screen.
 */
step: StepId, 
/**
 * The furthest step reached.
 */
reached: StepId, 
/**
 * Where a damaged profile was moved at startup, if it was.
 */
setAside: string | null, 
/**
 * Why the profile could not be read at startup, if it could not.
 */
unreadable: string | null, 
/**
 * The chosen VPS provider's id, if any.
 */
provider: string | null, 
/**
 * The connected server.
 */
server: Server | null, 
/**
 * The domain choices.
 */
domain: Domain | null, 
/**
 * What the last install left on the server.
 */
installed: Installed | null, 
/**
 * The relay gets its certificate from a CA (step 8 done).
 */
certificate: CertificateChoice | null, 
/**
 * The last test email's recipient and mailbox.
 */
testEmail: TestEmail | null, 
/**
 * Whether a test email was delivered (step 9 done).
 */
testDelivered: boolean, 
/**
 * A DKIM key rotation under way.
 */
dkimRotation: DkimRotation | null, 
/**
 * Further domains on the same relay.
 */
extraDomains: Array<ExtraDomain>, 
/**
 * The language the user picked; none: the system's.
 */
language: Language | null, 
/**
 * The system's language, as far as the app speaks it (English otherwise).
 */
systemLanguage: Language, };

export type Progress = { "kind": "stage", 
/**
 * Which one.
 */
id: Stage, } | { "kind": "advance", 
/**
 * Units done so far.
 */
done: number, 
/**
 * Units in all.
 */
total: number, } | { "kind": "log", 
/**
 * The line, without its line ending.
 */
line: string, };

export type Propagation = { 
/**
 * Resolvers that already answer the new value.
 */
seenBy: number, 
/**
 * Resolvers asked.
 */
asked: number, 
/**
 * The longest time a resolver may keep its old answer, seconds: the new value should be
 * visible everywhere within this.
 */
visibleWithin: number, };

export type Provider = { 
/**
 * Stable id.
 */
id: string, 
/**
 * Display name.
 */
name: string, 
/**
 * Outbound port 25.
 */
port25: Port25, 
/**
 * What that means in practice.
 */
port25How: Localized, 
/**
 * Reverse DNS.
 */
rdns: Rdns, 
/**
 * Where to set it.
 */
rdnsHow: Localized, 
/**
 * Whether IPv6 addresses get reverse DNS too.
 */
ipv6Rdns: boolean, 
/**
 * A rough price.
 */
priceHint: Localized, 
/**
 * The customer panel.
 */
panel: string, 
/**
 * Where its network firewall is and how to open a port there; the message around it names
 * the ports (25 on Install, 80 and 443 on Certificate).
 */
firewallHow: Localized, 
/**
 * Where the facts come from.
 */
source: string, 
/**
 * When they were last checked (YYYY-MM-DD).
 */
checked: string, 
/**
 * How.
 */
howChecked: HowChecked, };

export type QueueDeleted = { 
/**
 * The queue id.
 */
id: string, };

export type QueueItem = { 
/**
 * The queue id, also in the `250` reply and the Received header.
 */
id: string, 
/**
 * The envelope sender; empty for the null sender (bounces).
 */
from: string, 
/**
 * The user who submitted it, if any.
 */
user: string | null, 
/**
 * When it was accepted (seconds since the epoch).
 */
created: number, 
/**
 * How many delivery rounds have run.
 */
attempts: number, 
/**
 * When the next round is due (seconds since the epoch).
 */
nextAttempt: number, 
/**
 * Per recipient.
 */
recipients: Array<QueueRecipient>, 
/**
 * The sender was told the message is delayed (one "delayed" notice, RFC 3464).
 */
delayNotified: boolean, };

export type QueueRecipient = { 
/**
 * The address delivered to.
 */
address: string, 
/**
 * The address the sender used, when it differs (an alias at our domain that forwards to
 * `address`).
 */
original?: string | null, 
/**
 * Why the relay carries this message to `address`.
 */
route: Route, 
/**
 * Where it stands.
 */
status: RecipientStatus, 
/**
 * Every attempt, oldest first.
 */
records: Array<DeliveryRecord>, 
/**
 * The sender was told this recipient failed (the bounce went out when it failed, not when
 * the message's last recipient was settled).
 */
bounced: boolean, };

export type QueueRetry = { 
/**
 * The queue id.
 */
id: string, };

export type Rdns = "self-service" | "automatic" | "request";

export type RecentDelivery = { 
/**
 * The queue id.
 */
id: string, 
/**
 * The recipient.
 */
recipient: string, 
/**
 * The last attempt.
 */
record: DeliveryRecord, };

export type RecipientStatus = "pending" | "delivered" | "failed" | "gave-up";

export type RecordKind = "A" | "AAAA" | "MX" | "TXT" | "PTR" | "CAA";

export type RecordNeed = "required" | "recommended" | "optional";

export type RecordPurpose = "address" | "ipv6Address" | "mx" | "spf" | "spfMailHost" | "dkim" | "dmarc" | "reverseDns" | "mtaStsHost" | "mtaSts" | "tlsReports" | "autoconfigHost" | "caa";

export type RecordStatus = { "state": "ok" } | { "state": "missing" } | { "state": "different", 
/**
 * What is wrong.
 */
why: Mismatch, } | { "state": "conflicting", 
/**
 * What is in the way.
 */
why: Mismatch, };

export type Refusal = "unauthenticated" | "noReverseDns" | "blocked" | "rateOrReputation" | "tryLater" | "noSuchUser" | "mailboxFull" | "other";

export type RefusalCount = { 
/**
 * Why.
 */
reason: InboundRefusal, 
/**
 * How many times.
 */
count: number, };

export type RelayStatus = { 
/**
 * The running relay's version.
 */
version: string, 
/**
 * Its process id.
 */
pid: number, 
/**
 * When the relay last wrote its status (seconds since the epoch).
 */
updated: number, 
/**
 * Whether it is running: the status is fresh and the process exists.
 */
running: boolean, 
/**
 * Each address it listens on.
 */
listeners: Array<Listener>, 
/**
 * The certificates it serves.
 */
certificates: Array<Certificate>, 
/**
 * Getting and renewing certificates over ACME, when the config asks for it.
 */
acme?: AcmeStatus | null, 
/**
 * When this relay process started (seconds since the epoch; 0 from a relay before 0.2).
 */
started: number, 
/**
 * Messages waiting to be delivered.
 */
queued: number, 
/**
 * The latest finished deliveries (at most 100), newest last.
 */
recentDeliveries: Array<RecentDelivery>, 
/**
 * Recipients delivered and bounced over the last 24 hours (since the start, if later).
 */
lastDay: DeliveryCounts, 
/**
 * Mail received for the relay's domains, when it listens on port 25.
 */
inbound?: InboundStatus | null, };

export type Renewal = { 
/**
 * Seconds since the epoch.
 */
at: number, 
/**
 * Why then.
 */
reason: RenewalReason, };

export type RenewalReason = "missing" | "ca-window" | "two-thirds" | "configured" | "retry" | "requested";

export type Requirement = "reverseDns" | "tls" | "spf" | "dkim" | "dmarc" | "notListed" | "wellFormed";

export type Restored = { 
/**
 * The files put back.
 */
files: Array<string>, 
/**
 * The old server's addresses (the DNS records and PTR named these).
 */
movedFrom: Array<string>, 
/**
 * The DKIM selector the restored relay signs with (the old server's).
 */
dkimSelector: string, 
/**
 * The old server's DKIM rotation under way, if one was.
 */
dkimRotation: DkimRotation | null, };

export type ReverseName = { 
/**
 * The address.
 */
ip: string, 
/**
 * Its PTR name.
 */
name: string | null, };

export type Route = "submitted" | "forwarded" | "bounce";

export type SendMailAs = { 
/**
 * The address to add in Gmail ("Email address").
 */
address: string, 
/**
 * "SMTP Server".
 */
smtpServer: string, 
/**
 * "Port".
 */
port: number, 
/**
 * "Username" (the password is in the keychain: `smtp_password`).
 */
user: string, 
/**
 * Where the domain's mail is forwarded: Gmail's confirmation arrives there. `None`: the
 * relay does not receive, so the confirmation cannot reach Gmail through it.
 */
forwardTo: string | null, 
/**
 * Gmail's confirmation message, once the relay has forwarded it.
 */
confirmation: ForwardedMessage | null, };

export type Server = { 
/**
 * Host name or IP address.
 */
host: string, 
/**
 * SSH port.
 */
port: number, 
/**
 * The login user (`root`, or a user with sudo).
 */
user: string, 
/**
 * The host key fingerprint the user confirmed (`SHA256:…`).
 */
fingerprint: string, 
/**
 * How we log in.
 */
login: Login, };

export type SmtpUser = { 
/**
 * The login, an address at the domain.
 */
address: string, 
/**
 * Addresses at the relay's other domains it may also send as (its own domain always).
 */
senders: Array<string>, 
/**
 * The install's own user (the sending address).
 */
main: boolean, 
/**
 * Whether this computer's keychain has its password (users made by hand have none here).
 */
passwordKept: boolean, };

export type SpfVerdict = { 
/**
 * The address.
 */
ip: string, 
/**
 * `pass`, `fail`, `softfail`, `neutral`, `temperror`, `permerror` or `none`.
 */
result: string, };

export type Stage = "hash" | "binary" | "user" | "config" | "dkim" | "smtp-user" | "aliases" | "unit" | "firewall" | "ipv6" | "service" | "verify" | "stop-mail-servers" | "uninstall" | "certificate-checks" | "certificate-ports" | "certificate-order" | "certificate-challenge" | "certificate-issue" | "certificate-served" | "test-submit" | "test-sign" | "test-deliver" | "test-judge" | "test-mailbox";

export type Standing = "met" | "notMet" | "unknown";

export type StepId = "welcome" | "provider" | "connect" | "check" | "domain" | "install" | "dns" | "certificate" | "test-email" | "dashboard";

export type Submission = { 
/**
 * The TLS version, e.g. `TLSv1_3`.
 */
tlsVersion: string, 
/**
 * The AUTH mechanisms offered after STARTTLS.
 */
auth: Array<string>, 
/**
 * Whether AUTH was (wrongly) offered before TLS.
 */
authBeforeTls: boolean, 
/**
 * How the certificate was checked.
 */
trust: TrustKind, };

export type SubmitFailure = { "kind": "login" } | { "kind": "refused", 
/**
 * Its reply code.
 */
code: number, } | { "kind": "unreachable" };

export type Submitted = { 
/**
 * The relay's reply (`250 2.0.0 queued as …`).
 */
reply: string, };

export type TestEmail = { 
/**
 * The recipient.
 */
to: string, 
/**
 * The recipient's mailbox over IMAP (its password in the keychain), when the user gave it.
 */
imap?: ImapAccount, };

export type TestMessage = { 
/**
 * The subject line.
 */
subject: string, 
/**
 * The plain-text body; lines end in `\n` (sent as CRLF).
 */
body: string, };

export type TestReport = { 
/**
 * The message's Message-ID (without brackets).
 */
messageId: string, 
/**
 * The recipient.
 */
to: string, 
/**
 * Submitted: what the relay said, and the TLS this computer verified on port 587.
 */
submitted: Submitted, 
/**
 * The TLS this computer saw on port 587 just before.
 */
submission: Submission, 
/**
 * The relay's queue id.
 */
queueId: string, 
/**
 * Signed: the DKIM signatures the relay added.
 */
signatures: Array<DkimVerdict>, 
/**
 * Delivered (or not yet, or refused).
 */
delivery: Delivery, 
/**
 * Judged here as a receiver would, on the very bytes sent.
 */
computed?: Verdict, 
/**
 * Judged by the receiver, read back from the mailbox.
 */
mailbox: Mailbox, 
/**
 * Whether both verdicts say the same (when both exist).
 */
agree?: boolean, 
/**
 * What went wrong or is worth knowing, each with its fix.
 */
findings: Array<Finding>, 
/**
 * Gmail's sender requirements.
 */
checklist: Array<Checked>, 
/**
 * From the click to the verdict, milliseconds.
 */
millis: number, };

export type TrayWords = { 
/**
 * The item that shows the window.
 */
open: string, 
/**
 * The item that ends the app.
 */
quit: string, };

export type TrustKind = "pinned" | "chain";

export type Unchecked = { "kind": "refused" } | { "kind": "resolverRewrites" } | { "kind": "lookupFailed", 
/**
 * The resolver's words.
 */
detail: string, };

export type UninstallPlan = { 
/**
 * The systemd service, stopped and disabled.
 */
service: string, 
/**
 * Files and directories deleted: the program (and its previous version), the unit, the
 * config with users, aliases and DKIM keys, the state with the queue and certificates.
 */
paths: Array<string>, 
/**
 * The system user the relay runs as, deleted.
 */
systemUser: string, 
/**
 * Firewall ports the install opened, closed again (only those).
 */
firewall: Array<number>, 
/**
 * The IPv6 sysctl file the install wrote, if it did.
 */
ipv6File: string | null, 
/**
 * Messages still queued: they will never be delivered.
 */
queued: number, 
/**
 * SMTP logins deleted with the users file.
 */
users: Array<string>, 
/**
 * This computer's keychain entries deleted.
 */
keychain: Array<KeychainEntry>, };

export type Unverified = "closed" | "wrongCertificate" | "untrusted" | "other";

export type UpdateOffer = { 
/**
 * The version offered.
 */
version: string, 
/**
 * The version running now.
 */
currentVersion: string, 
/**
 * What's new, as the release wrote it (plain text).
 */
notes: string | null, 
/**
 * When it was released (RFC 3339), if the feed says.
 */
date: string | null, };

export type UpdateProblem = "signature" | "download" | "install" | "other";

export type UpdateProgress = { "kind": "downloading", received: number, total: number | null, } | { "kind": "installing" };

export type UserChange = { "kind": "add", 
/**
 * The address typed.
 */
address: string, } | { "kind": "newPassword", 
/**
 * The user.
 */
address: string, } | { "kind": "remove", 
/**
 * The user.
 */
address: string, } | { "kind": "senders", 
/**
 * The user.
 */
address: string, 
/**
 * The addresses as typed (none: only the user's own domain).
 */
senders: Array<string>, };

export type Verdict = { 
/**
 * SPF for the sending address and the envelope sender's domain.
 */
spf: AuthResult, 
/**
 * Each DKIM signature.
 */
dkim: Array<DkimVerdict>, 
/**
 * DMARC for the `From:` domain.
 */
dmarc: AuthResult, 
/**
 * Reverse DNS of the sending address, confirmed forward (iprev).
 */
iprev: AuthResult, };

export type VersionStanding = "current" | "older" | "newer";

export type Watched = { "kind": "checked", health: Health, worse: Array<HealthItem>, } | { "kind": "failed", error: IpcError, };

/** The install's stages, in the order they run (`install::STAGES`). */
export const INSTALL_STAGES: readonly Stage[] = ["binary", "user", "config", "dkim", "smtp-user", "aliases", "unit", "firewall", "ipv6", "service"];
