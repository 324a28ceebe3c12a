#!/usr/bin/env python3
"""tests/servers/smtp_server.py: a real SMTP server on loopback for the
email channel's test (Debian's python3-aiosmtpd).

    smtp_server.py PORT_FILE OUT_DIR [--tls starttls|smtps --cert PEM --key PEM]
                                     [--auth USER:PASSWORD] [--idle-timeout SECONDS]

Listens on 127.0.0.1 on a port the system picks, then writes that port to
PORT_FILE (atomically: the test polls for the file). Each message accepted
becomes OUT_DIR/NNNN.json: the envelope, the headers as Python's email
package decodes them (policy=email.policy.default, as a standards-minded
mail client reads them), the decoded body, and the raw message as received,
so the test can check both what a reader sees and how it was written.

Recipients containing "tempfail" get 451 and recipients containing "reject"
get 550 at RCPT, to drive the channel's retry and dead-letter paths.
--tls starttls offers STARTTLS and refuses mail until the client takes it;
--tls smtps speaks TLS from the first byte. --auth requires that login
(over TLS only, as aiosmtpd insists) and answers 535 to any other.
--idle-timeout closes a connection that has been idle that long, as real
servers do with a client that keeps its connection for the next message.
SIGTERM or SIGINT stops the server; it then exits with status 0.
"""
import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, TLSSetupException

HEADERS = ("Subject", "From", "To", "Reply-To", "Date", "Message-ID",
           "X-Kizuna-Idempotency-Key", "X-Kizuna-Playbook", "X-Kizuna-Account",
           "MIME-Version", "Content-Type", "Content-Transfer-Encoding")


def write_atomically(path, text):
    """Writes text to path so that a reader sees all of it or no file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)


class Recorder:
    """aiosmtpd handler: refuses test addresses, records the rest."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "tempfail" in address:
            return "451 4.3.0 Mailbox busy, try again later"
        if "reject" in address:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {name: str(msg[name]) for name in HEADERS if name in msg},
            "header_counts": {name: len(msg.get_all(name, [])) for name in HEADERS},
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": msg.get_content(),
            "defects": [repr(d) for d in msg.defects],
            # latin-1 maps every byte to one character, so 8-bit bytes that
            # should not be there stay visible to the test
            "raw": raw.decode("latin-1"),
        }
        self.count += 1
        path = os.path.join(self.out_dir, "%04d.json" % self.count)
        write_atomically(path, json.dumps(record, ensure_ascii=False, indent=1))
        return "250 2.0.0 Accepted"


class QuietRefusedCertificates(logging.Filter):
    """Drops aiosmtpd's traceback when a client refuses our self-signed
    certificate: a test provokes that on purpose. Other errors still show."""

    def filter(self, record):
        return not (record.exc_info and isinstance(record.exc_info[1], TLSSetupException))


def authenticator_for(user_password):
    """An aiosmtpd authenticator that accepts only USER:PASSWORD."""
    want = LoginPassword(*(part.encode() for part in user_password.split(":", 1)))

    def authenticate(server, session, envelope, mechanism, auth_data):
        # handled=False: aiosmtpd then answers 535 itself on a mismatch
        return AuthResult(success=auth_data == want, handled=False, auth_data=auth_data)
    return authenticate


def smtp_options(args):
    """Keyword arguments for aiosmtpd's SMTP, and the ssl context for
    implicit TLS (or None)."""
    # decode_data=False keeps the message as bytes, exactly as received
    options = {"decode_data": False, "hostname": "kizuna-test", "timeout": args.idle_timeout}
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.tls == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if args.auth:
        options.update(auth_required=True, authenticator=authenticator_for(args.auth))
    return options, (context if args.tls == "smtps" else None)


async def serve(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    handler = Recorder(args.out_dir)
    options, implicit_tls = smtp_options(args)
    server = await loop.create_server(lambda: SMTP(handler, **options), "127.0.0.1", 0, ssl=implicit_tls)
    port = server.sockets[0].getsockname()[1]
    write_atomically(args.port_file, "%d\n" % port)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    # aiosmtpd warns about its own deprecated login_data on every login
    log = logging.getLogger("mail.log")
    log.setLevel(logging.ERROR)
    log.addFilter(QuietRefusedCertificates())
    parser = argparse.ArgumentParser(description="loopback SMTP server for tests")
    parser.add_argument("port_file")
    parser.add_argument("out_dir")
    parser.add_argument("--tls", choices=("starttls", "smtps"))
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    parser.add_argument("--idle-timeout", type=float, default=300.0, metavar="SECONDS")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
