"""An aiosmtpd handler for the mailer's tests: each message is written to DIR as it arrived on
the wire (<id>.eml, written whole then renamed), with its envelope recipients in <id>.rcpt.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink DIR     (PYTHONPATH=mailer/tests)

With SMTP_SINK_DELAY=SECONDS in its environment it takes that long over each message before it
accepts it (a slow server), and keeps no message whose client went away meanwhile, as a real
server discards a transaction it never answered.
"""

import asyncio
import os
import uuid


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.delay = float(os.environ.get("SMTP_SINK_DELAY", "0"))
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink takes one argument: the directory to write messages to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        if self.delay > 0:
            await asyncio.sleep(self.delay)
            transport = getattr(server, "transport", None)
            if transport is None or transport.is_closing():
                return "421 client gone before the end of the transaction"
        name = uuid.uuid4().hex
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        with open(os.path.join(self.directory, name + ".rcpt"), "w") as f:
            f.write("\n".join(envelope.rcpt_tos))
        temporary = os.path.join(self.directory, "." + name + ".tmp")
        with open(temporary, "wb") as f:
            f.write(content)
        os.rename(temporary, os.path.join(self.directory, name + ".eml"))
        return "250 Message accepted for delivery"
