//! One gateway connection: reads its byte stream as XML events (quick-xml, streaming), frames
//! documents, enforces the size, depth and time limits, and writes exactly one answer per
//! document, in order. A broken stream is answered and closed; nothing else is affected.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use heliograph_shared::TimestampPolicy;
use heliograph_shared::store::WriteSession;
use quick_xml::Reader;
use quick_xml::events::Event;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, Take, WriteHalf};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::metrics;
use crate::pipeline::{AuthenticatedGateway, Listener, Pipeline};
use crate::protocol::{
    Answer, Document, DocumentParser, ErrorCode, Format, ParseContext, Progress, ProtocolError,
};
use crate::settings::IngestSettings;

/// Read-ahead buffer of the socket reader. Every open connection holds one, idle or not, so it
/// is kept small: 16 KiB made an idle connection cost 20 KiB of memory, 4 KiB makes it 10 KiB,
/// and a document larger than the buffer is read in several fills at no measurable cost.
const READ_BUFFER: usize = 4 * 1024;

/// What ended a connection, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The gateway closed it after its last document.
    Eof,
    /// No document started within the idle timeout.
    Idle,
    /// A refusal that makes the stream unusable (malformed, too large, timeout…).
    Refused(ErrorCode),
    /// The server is shutting down.
    Shutdown,
    /// The socket failed or the gateway stopped reading answers.
    Io,
}

/// Serves one connection until it ends.
pub struct Connection<S> {
    // The `Take` is a byte budget per document, so no single XML event (a giant text node, an
    // endless tag) can grow the event buffer without bound: once spent, the reader sees EOF.
    reader: Reader<BufReader<Take<ReadHalf<S>>>>,
    writer: WriteHalf<S>,
    peer: SocketAddr,
    listener: Listener,
    pipeline: Arc<Pipeline>,
    settings: Arc<IngestSettings>,
    parser: DocumentParser,
    session: Option<AuthenticatedGateway>,
    /// What the store may remember of this connection's documents between them.
    writes: WriteSession,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Connection<S> {
    /// Wraps an accepted stream.
    pub fn new(
        stream: S,
        peer: SocketAddr,
        listener: Listener,
        pipeline: Arc<Pipeline>,
        settings: Arc<IngestSettings>,
    ) -> Self {
        let (read, writer) = tokio::io::split(stream);
        let budget = read.take(byte_budget(&settings));
        let mut reader = Reader::from_reader(BufReader::with_capacity(READ_BUFFER, budget));
        reader.config_mut().check_end_names = true;
        let context = ParseContext {
            now: Utc::now(),
            timestamps: TimestampPolicy {
                max_skew: ChronoDuration::seconds(settings.max_clock_skew_secs),
                ..TimestampPolicy::default()
            },
            max_readings: settings.max_readings_per_document,
            session_gateway: None,
        };
        let parser = DocumentParser::new(context, settings.max_depth);
        Self {
            reader,
            writer,
            peer,
            listener,
            pipeline,
            settings,
            parser,
            session: None,
            writes: WriteSession::default(),
        }
    }

    /// Reads documents and answers them until the stream ends, breaks, idles or shutdown begins.
    /// Shutdown waits for a document under way to arrive and be answered.
    pub async fn run(mut self, shutdown: CancellationToken) -> Closed {
        let mut buf = Vec::with_capacity(1024);
        // One timer and one shutdown wait for the connection, not one of each per XML event:
        // creating and dropping them for every event was about a tenth of the server's work.
        let deadline = sleep_until(Instant::now() + self.settings.idle_timeout());
        let cancelled = shutdown.cancelled();
        tokio::pin!(deadline, cancelled);
        let mut document_start = 0u64;
        loop {
            buf.clear();
            let in_document = self.parser.in_document();
            let event = tokio::select! {
                biased;
                () = &mut cancelled, if !in_document => return Closed::Shutdown,
                read = self.reader.read_event_into_async(&mut buf) => Ok(read),
                () = &mut deadline => Err(()),
            };
            let event = match event {
                Err(()) if in_document => {
                    let error = ProtocolError::new(
                        ErrorCode::Timeout,
                        format!("document not complete within {} s", self.settings.document_timeout_secs),
                    );
                    return self.refuse_and_close(error).await;
                }
                Err(()) => return Closed::Idle,
                Ok(Err(_) | Ok(Event::Eof)) if self.budget_spent() => {
                    return self.refuse_and_close(self.too_large()).await;
                }
                Ok(Err(quick_xml::Error::Io(_))) => return Closed::Io,
                Ok(Err(error)) => {
                    let error =
                        ProtocolError::new(ErrorCode::Malformed, format!("XML syntax error: {error}"));
                    return self.refuse_and_close(error).await;
                }
                Ok(Ok(Event::Eof)) if in_document => {
                    let error =
                        ProtocolError::new(ErrorCode::Malformed, "connection ended inside a document");
                    return self.refuse_and_close(error).await;
                }
                Ok(Ok(Event::Eof)) => return Closed::Eof,
                Ok(Ok(event)) => event,
            };
            if !in_document {
                self.parser.context_mut().now = Utc::now();
            }
            let progress = match self.parser.feed(&event) {
                Ok(progress) => progress,
                Err(error) => return self.refuse_and_close(error).await,
            };
            if !in_document && self.parser.in_document() {
                deadline.as_mut().reset(Instant::now() + self.settings.document_timeout());
                document_start = self.reader.buffer_position();
            }
            if self.parser.in_document()
                && self.reader.buffer_position().saturating_sub(document_start)
                    > self.settings.max_document_bytes as u64
            {
                return self.refuse_and_close(self.too_large()).await;
            }
            if let Progress::Complete(done) = progress {
                let completed = std::time::Instant::now();
                let (answer, close) = self.answer(done.outcome, done.format, done.seq).await;
                if !self.send(&answer).await {
                    return Closed::Io;
                }
                let provider = self.session.as_ref().map(|s| s.tenant.provider().as_str().to_owned());
                metrics::document_answered(provider.as_deref(), &answer, completed.elapsed());
                if close {
                    return Closed::Refused(ErrorCode::Unauthorized);
                }
                // A new document gets a fresh byte budget and the idle clock restarts.
                let budget = byte_budget(&self.settings);
                self.reader.get_mut().get_mut().set_limit(budget);
                deadline.as_mut().reset(Instant::now() + self.settings.idle_timeout());
            }
        }
    }

    fn budget_spent(&self) -> bool {
        self.reader.get_ref().get_ref().limit() == 0
    }

    fn too_large(&self) -> ProtocolError {
        ProtocolError::new(
            ErrorCode::TooLarge,
            format!("document exceeds the limit of {} bytes", self.settings.max_document_bytes),
        )
    }

    /// The answer to a complete document, and whether the connection must close after it.
    async fn answer(
        &mut self,
        outcome: Result<Document, ProtocolError>,
        format: Option<Format>,
        seq: Option<u64>,
    ) -> (Answer, bool) {
        match outcome {
            Err(error) => (Answer::refused(format, seq, error), false),
            Ok(Document::Hello(credentials)) => {
                match self.pipeline.authenticate(&self.listener, &credentials, self.peer).await {
                    Ok(gateway) => {
                        authenticated(&gateway);
                        self.parser.context_mut().session_gateway = Some(gateway.gateway.clone());
                        let answer = Answer::Welcome { gateway: gateway.gateway.clone() };
                        self.session = Some(gateway);
                        (answer, false)
                    }
                    // A failed hello leaves nothing useful to do on this connection.
                    Err(error) => (Answer::Nack { seq: None, error }, true),
                }
            }
            Ok(Document::Readings(document)) => {
                let seq = document.seq;
                let format = document.format;
                let gateway = match (&document.credentials, &self.session) {
                    (Some(credentials), Some(session))
                        if credentials.token.is_none() && credentials.gateway == session.gateway =>
                    {
                        Ok(session.clone())
                    }
                    (Some(credentials), _) => {
                        self.pipeline.authenticate(&self.listener, credentials, self.peer).await
                    }
                    (None, Some(session)) => Ok(session.clone()),
                    (None, None) => Err(ProtocolError::new(
                        ErrorCode::Unauthorized,
                        "no credentials: send <hello gateway=\"…\" token=\"…\"/> first",
                    )),
                };
                let outcome = match gateway {
                    Ok(gateway) => {
                        authenticated(&gateway);
                        self.pipeline.store_document(&gateway, document, Some(&self.writes)).await
                    }
                    Err(error) => Err(error),
                };
                match outcome {
                    Ok(answer) => {
                        debug!(peer = %self.peer, ?seq, "document stored");
                        (answer, false)
                    }
                    Err(error) => (Answer::refused(Some(format), seq, error), false),
                }
            }
        }
    }

    async fn send(&mut self, answer: &Answer) -> bool {
        let bytes = answer.to_xml();
        let write = async {
            self.writer.write_all(bytes.as_bytes()).await?;
            self.writer.flush().await
        };
        matches!(timeout(self.settings.write_timeout(), write).await, Ok(Ok(())))
    }

    async fn refuse_and_close(&mut self, error: ProtocolError) -> Closed {
        let code = error.code;
        info!(peer = %self.peer, code = code.as_str(), reason = %error.reason, "closing connection after refusal");
        let format = self.parser.current_format();
        let answer = Answer::refused(format, None, error);
        let _ = self.send(&answer).await;
        metrics::document_answered(None, &answer, std::time::Duration::ZERO);
        let _ = timeout(self.settings.write_timeout(), self.writer.shutdown()).await;
        Closed::Refused(code)
    }
}

/// Bytes a document may pull from the socket: the limit plus one read-ahead buffer, since the
/// buffered reader may already hold the start of the next document.
fn byte_budget(settings: &IngestSettings) -> u64 {
    (settings.max_document_bytes + READ_BUFFER) as u64
}

/// Names the provider and gateway on the connection's log span once a gateway authenticated.
fn authenticated(gateway: &AuthenticatedGateway) {
    let span = tracing::Span::current();
    span.record("provider", gateway.tenant.provider().as_str());
    span.record("gateway", gateway.gateway.as_str());
}
