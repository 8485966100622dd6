//! One gateway connection: reads its byte stream as XML events (quick-xml, streaming), frames
//! documents, enforces the size, depth and time limits, and writes exactly one answer per
//! document, in order. A broken stream is answered and closed; nothing else is affected.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use heliograph_shared::ProviderSlug;
use heliograph_shared::TimestampPolicy;
use heliograph_shared::store::{BatchWriter, ReadingsLog};
use quick_xml::Reader;
use quick_xml::events::Event;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::budget::{Budgeted, MemoryPools};
use crate::metrics;
use crate::pipeline::{AuthenticatedGateway, Listener, Pipeline};
use crate::protocol::{
    Answer, Document, DocumentParser, ErrorCode, Format, ParseContext, Progress, ProtocolError,
};
use crate::settings::IngestSettings;

/// Read-ahead buffer of the socket reader. Every open connection holds one, idle or not, so it
/// is kept small; a document larger than the buffer is read in several fills.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes of a document a connection may pull without taking them from the process's memory
/// pool: most documents fit, so an honest gateway rarely touches the pool.
const FREE_DOCUMENT_BYTES: u64 = 16 * 1024;
/// An event buffer grown past this by a large document is given back after it.
const KEPT_EVENT_BUFFER: usize = 16 * 1024;

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
    // A byte budget per document and per gap between documents, so that no single XML event
    // (a giant text node, an endless tag, megabytes of whitespace) can grow the event buffer
    // without bound: once spent, the reader sees EOF. Beyond a small allowance a document's
    // bytes come from the process's memory pool.
    reader: Reader<BufReader<Budgeted<ReadHalf<S>>>>,
    writer: WriteHalf<S>,
    peer: SocketAddr,
    listener: Listener,
    pipeline: Arc<Pipeline>,
    settings: Arc<IngestSettings>,
    parser: DocumentParser,
    session: Option<AuthenticatedGateway>,
    /// A document or hello of this connection authenticated: it may now idle for longer.
    authenticated: bool,
    /// Where its unfinished documents' bytes come from (the strangers' pool until it has
    /// authenticated).
    pools: MemoryPools,
    /// The writer of this connection's documents for its gateway's provider: the store may
    /// remember what it stored between them.
    store_writer: Option<(ProviderSlug, Box<dyn BatchWriter>)>,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Connection<S> {
    /// Wraps an accepted stream.
    pub fn new(
        stream: S,
        peer: SocketAddr,
        listener: Listener,
        pipeline: Arc<Pipeline>,
        settings: Arc<IngestSettings>,
        pools: MemoryPools,
    ) -> Self {
        let (read, writer) = tokio::io::split(stream);
        let gap = gap_budget(&settings);
        let budget = Budgeted::new(read, pools.strangers.clone(), gap, gap);
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
            authenticated: false,
            pools,
            store_writer: None,
        }
    }

    /// Reads documents and answers them until the stream ends, breaks, idles or shutdown begins.
    /// Shutdown waits for a document under way to arrive and be answered.
    pub async fn run(mut self, shutdown: CancellationToken) -> Closed {
        let mut buf = Vec::with_capacity(1024);
        // A stranger gets a short while to say who it is (a hello, or a document with
        // credentials); only an authenticated gateway may idle for the full idle timeout.
        let auth_deadline = Instant::now() + self.settings.auth_timeout().min(self.settings.idle_timeout());
        // One timer and one shutdown wait for the connection, not one of each per XML event:
        // creating and dropping them for every event was a tenth of the server's work.
        let deadline = sleep_until(auth_deadline);
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
                Err(()) if self.authenticated => return Closed::Idle,
                Err(()) => {
                    let error = ProtocolError::new(
                        ErrorCode::Timeout,
                        format!(
                            "no hello or document within {} s of connecting",
                            self.settings.auth_timeout_secs.min(self.settings.idle_timeout_secs)
                        ),
                    );
                    return self.refuse_and_close(error).await;
                }
                Ok(Err(_) | Ok(Event::Eof)) if self.budget_spent() => {
                    let error = if in_document { self.too_large() } else { self.too_much_between() };
                    return self.refuse_and_close(error).await;
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
                // The document may be larger than a gap between documents may be.
                self.reader.get_mut().get_mut().extend(document_budget(&self.settings), FREE_DOCUMENT_BYTES);
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
                // The gap before the next document gets its own small budget, and what the
                // document took from the memory pool goes back.
                let gap = gap_budget(&self.settings);
                self.reader.get_mut().get_mut().restart(gap, gap);
                if buf.capacity() > KEPT_EVENT_BUFFER {
                    buf = Vec::with_capacity(1024);
                }
                let next = if self.authenticated {
                    Instant::now() + self.settings.idle_timeout()
                } else {
                    auth_deadline
                };
                deadline.as_mut().reset(next);
            }
        }
    }

    fn budget_spent(&self) -> bool {
        self.reader.get_ref().get_ref().spent()
    }

    fn too_large(&self) -> ProtocolError {
        ProtocolError::new(
            ErrorCode::TooLarge,
            format!("document exceeds the limit of {} bytes", self.settings.max_document_bytes),
        )
    }

    fn too_much_between(&self) -> ProtocolError {
        ProtocolError::new(
            ErrorCode::TooLarge,
            format!(
                "more than {} bytes between documents (only whitespace, comments and declarations belong there)",
                self.settings.max_bytes_between_documents
            ),
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
                        self.start_session(&gateway);
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
                let session_covers = match &document.credentials {
                    None => true,
                    Some(credentials) => {
                        credentials.token.is_none()
                            && self.session.as_ref().is_some_and(|s| s.gateway == credentials.gateway)
                    }
                };
                let gateway = match (&document.credentials, session_covers) {
                    (_, true) if self.session.is_some() => match self.recheck_session().await {
                        Ok(gateway) => Ok(gateway),
                        // Deactivated or its token revoked since the hello: the session ends.
                        Err(error) if error.code == ErrorCode::Unauthorized => {
                            self.session = None;
                            return (Answer::refused(Some(format), seq, error), true);
                        }
                        Err(error) => Err(error),
                    },
                    (Some(credentials), _) => {
                        self.pipeline.authenticate(&self.listener, credentials, self.peer).await
                    }
                    (None, _) => Err(ProtocolError::new(
                        ErrorCode::Unauthorized,
                        "no credentials: send <hello gateway=\"…\" token=\"…\"/> first",
                    )),
                };
                let outcome = match gateway {
                    Ok(gateway) => {
                        self.start_session(&gateway);
                        let pipeline = Arc::clone(&self.pipeline);
                        let writer = self.writer_for(&gateway);
                        pipeline.store_document(&gateway, document, Some(writer)).await
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

    /// The connection's writer for the gateway's provider (a new one when the provider changes).
    fn writer_for(&mut self, gateway: &AuthenticatedGateway) -> &dyn BatchWriter {
        let provider = gateway.tenant.provider();
        if self.store_writer.as_ref().is_none_or(|(current, _)| current != provider) {
            let tenant = Arc::clone(&gateway.tenant);
            let log: Arc<dyn ReadingsLog> = tenant;
            self.store_writer = Some((provider.clone(), log.writer()));
        }
        match &self.store_writer {
            Some((_, writer)) => writer.as_ref(),
            None => unreachable!("a writer was made just above"),
        }
    }

    /// Marks the connection authenticated and names the gateway on its log span.
    fn start_session(&mut self, gateway: &AuthenticatedGateway) {
        if !self.authenticated {
            self.authenticated = true;
            self.reader.get_mut().get_mut().switch_pool(self.pools.gateways.clone());
        }
        self.parser.context_mut().session_gateway = Some(gateway.gateway.clone());
        let span = tracing::Span::current();
        span.record("provider", gateway.tenant.provider().as_str());
        span.record("gateway", gateway.gateway.as_str());
    }

    /// The session's gateway, checked again against the store once the check is older than the
    /// gateway cache: a deactivation or a revoked token ends an open session too.
    async fn recheck_session(&mut self) -> Result<AuthenticatedGateway, ProtocolError> {
        let Some(session) = &self.session else {
            return Err(ProtocolError::new(ErrorCode::Unauthorized, "no session"));
        };
        let checked = self.pipeline.recheck(&self.listener, session, self.peer).await?;
        self.session = Some(checked.clone());
        Ok(checked)
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
fn document_budget(settings: &IngestSettings) -> u64 {
    (settings.max_document_bytes + READ_BUFFER) as u64
}

/// Bytes the gap between two documents may pull (whitespace, comments, an XML declaration),
/// plus one read-ahead buffer.
fn gap_budget(settings: &IngestSettings) -> u64 {
    (settings.max_bytes_between_documents + READ_BUFFER) as u64
}
