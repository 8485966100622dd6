"""An aiosmtpd handler for the mailer's tests: each message is written to DIR as it arrived on
the wire (<id>.eml, written whole then renamed), with its envelope recipients in <id>.rcpt.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink DIR     (PYTHONPATH=mailer/tests)
"""

import os
import uuid


class Sink:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink takes one argument: the directory to write messages to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
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
