"""The SMTP sink of the nemesis run: mailer/tests/smtp_sink.py's handler, taking a while over
each message (NEMESIS_SMTP_DELAY seconds, default 0.5) so that summaries are still being sent
when a mailer is SIGKILLed. A message whose client went away during that time is not kept, as
a real server discards a transaction it never answered."""

import asyncio
import os

from smtp_sink import Sink


class SlowSink(Sink):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(float(os.environ.get("NEMESIS_SMTP_DELAY", "0.5")))
        transport = getattr(server, "transport", None)
        if transport is None or transport.is_closing():
            return "421 client gone before the end of the transaction"
        return await super().handle_DATA(server, session, envelope)
