//! Frames a stream of XML events into documents: one top-level element each, with declarations,
//! comments, whitespace and NUL bytes allowed between them, and hands each element's events to
//! the parser for its format.

use quick_xml::events::Event;

use super::error::{ErrorCode, ProtocolError};
use super::xml::{XmlEvent, local_name};
use super::{Document, Format, ParseContext, native, sunspec};

/// A parser for one document format, fed the events of one root element (root start included).
pub(crate) trait FormatParser: Send + Sized {
    /// The format, so that failures are answered in its dialect.
    fn format(&self) -> Format;
    /// The document's sequence number once read, so that a refusal can echo it.
    fn seq(&self) -> Option<u64> {
        None
    }
    /// One event inside the root element. An error refuses the document; the remaining events
    /// are still consumed so that the next document is framed correctly.
    fn event(&mut self, event: XmlEvent<'_>, context: &ParseContext) -> Result<(), ProtocolError>;
    /// The root element closed.
    fn finish(self, context: &ParseContext) -> Result<Document, ProtocolError>;
}

/// The parser of the document under way. A closed set matched on, not a trait object: every
/// event goes through it, and a direct call lets the compiler inline each parser's event
/// handler (the three-model SunSpec benchmark parses 2-3 % faster than through a virtual call).
enum RootParser {
    Hello(native::HelloParser),
    Batch(Box<native::BatchParser>),
    SunSpec(Box<sunspec::SunSpecParser>),
}

impl RootParser {
    fn format(&self) -> Format {
        match self {
            Self::Hello(parser) => parser.format(),
            Self::Batch(parser) => parser.format(),
            Self::SunSpec(parser) => parser.format(),
        }
    }

    fn seq(&self) -> Option<u64> {
        match self {
            Self::Hello(parser) => parser.seq(),
            Self::Batch(parser) => parser.seq(),
            Self::SunSpec(parser) => parser.seq(),
        }
    }

    #[inline]
    fn event(&mut self, event: XmlEvent<'_>, context: &ParseContext) -> Result<(), ProtocolError> {
        match self {
            Self::Hello(parser) => parser.event(event, context),
            Self::Batch(parser) => parser.event(event, context),
            Self::SunSpec(parser) => parser.event(event, context),
        }
    }

    fn finish(self, context: &ParseContext) -> Result<Document, ProtocolError> {
        match self {
            Self::Hello(parser) => parser.finish(context),
            Self::Batch(parser) => parser.finish(context),
            Self::SunSpec(parser) => sunspec::SunSpecParser::finish_boxed(parser),
        }
    }
}

/// What feeding an event produced.
#[derive(Debug)]
pub enum Progress {
    /// The document is not complete yet (or none has started).
    Pending,
    /// A document ended. Boxed: a document's outcome is large, and every event's `Progress`
    /// was copied whole through the reading loop while it was held inline.
    Complete(Box<Completed>),
}

/// A document that ended, with what answering it needs.
#[derive(Debug)]
pub struct Completed {
    /// The document, or why it is refused.
    pub outcome: Result<Document, ProtocolError>,
    /// The format, for answering in the right dialect; `None` when the root element was not
    /// recognised.
    pub format: Option<Format>,
    /// The sequence number, when it could be read (echoed in a refusal).
    pub seq: Option<u64>,
}

impl Progress {
    fn complete(outcome: Result<Document, ProtocolError>, format: Option<Format>, seq: Option<u64>) -> Self {
        Self::Complete(Box::new(Completed { outcome, format, seq }))
    }
}

enum State {
    /// Between documents.
    Idle,
    /// Inside a document whose parser has not failed.
    Parsing(RootParser),
    /// Inside a document already refused; its events are skipped to the end.
    Failed { error: ProtocolError, format: Option<Format>, seq: Option<u64> },
}

/// Turns one connection's XML events into documents.
pub struct DocumentParser {
    context: ParseContext,
    max_depth: usize,
    depth: usize,
    state: State,
}

impl DocumentParser {
    /// A parser that refuses elements nested deeper than `max_depth`.
    pub fn new(context: ParseContext, max_depth: usize) -> Self {
        Self { context, max_depth, depth: 0, state: State::Idle }
    }

    /// The context documents are parsed in (updated by the connection after a hello, and with
    /// the clock before each document).
    pub fn context_mut(&mut self) -> &mut ParseContext {
        &mut self.context
    }

    /// The format of the document under way, when known.
    pub fn current_format(&self) -> Option<Format> {
        match &self.state {
            State::Parsing(parser) => Some(parser.format()),
            State::Failed { format, .. } => *format,
            State::Idle => None,
        }
    }

    /// True while inside a document.
    pub fn in_document(&self) -> bool {
        self.depth > 0
    }

    /// Feeds one event from the reader. An `Err` means the byte stream itself is unusable
    /// (DTD, nesting too deep, garbage between documents, bad UTF-8): answer and close.
    #[inline]
    pub fn feed(&mut self, event: &Event<'_>) -> Result<Progress, ProtocolError> {
        match event {
            Event::Start(start) => {
                self.open(start)?;
                Ok(Progress::Pending)
            }
            Event::Empty(start) => {
                self.open(start)?;
                Ok(self.close())
            }
            Event::End(_) => {
                if self.depth == 0 {
                    return Err(ProtocolError::new(
                        ErrorCode::Malformed,
                        "closing tag without an open element",
                    ));
                }
                Ok(self.close())
            }
            Event::Text(text) => {
                // Text events hold no references (they arrive as their own events), so this is
                // all `decode` would do without an encoding feature, minus its indirection.
                let text = std::str::from_utf8(text)
                    .map_err(|_| ProtocolError::new(ErrorCode::Malformed, "text is not valid UTF-8"))?;
                self.text(text)?;
                Ok(Progress::Pending)
            }
            Event::CData(data) => {
                let text = std::str::from_utf8(data.as_ref())
                    .map_err(|_| ProtocolError::new(ErrorCode::Malformed, "CDATA is not valid UTF-8"))?;
                self.text(text)?;
                Ok(Progress::Pending)
            }
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(reference)?;
                self.text(&resolved)?;
                Ok(Progress::Pending)
            }
            Event::DocType(_) => Err(ProtocolError::new(
                ErrorCode::DtdForbidden,
                "DOCTYPE declarations are not accepted (no DTDs, no entity expansion)",
            )),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::Eof => Ok(Progress::Pending),
        }
    }

    #[inline]
    fn open(&mut self, start: &quick_xml::events::BytesStart<'_>) -> Result<(), ProtocolError> {
        if self.depth >= self.max_depth {
            return Err(ProtocolError::new(
                ErrorCode::TooDeep,
                format!("elements nested deeper than {} levels", self.max_depth),
            ));
        }
        if self.depth == 0 {
            self.state = match root_parser(start, &self.context) {
                Ok(parser) => State::Parsing(parser),
                Err(error) => State::Failed { error, format: None, seq: None },
            };
        }
        self.depth += 1;
        self.deliver(XmlEvent::Start(start));
        Ok(())
    }

    #[inline]
    fn close(&mut self) -> Progress {
        self.deliver(XmlEvent::End);
        self.depth -= 1;
        if self.depth > 0 {
            return Progress::Pending;
        }
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Parsing(parser) => {
                let format = Some(parser.format());
                let seq = parser.seq();
                Progress::complete(parser.finish(&self.context), format, seq)
            }
            State::Failed { error, format, seq } => Progress::complete(Err(error), format, seq),
            State::Idle => Progress::Pending,
        }
    }

    #[inline]
    fn text(&mut self, text: &str) -> Result<(), ProtocolError> {
        if self.depth == 0 {
            if text.chars().all(|c| c.is_ascii_whitespace() || c == '\0') {
                return Ok(());
            }
            return Err(ProtocolError::new(
                ErrorCode::Malformed,
                "unexpected text between documents (only whitespace or NUL may separate them)",
            ));
        }
        self.deliver(XmlEvent::Text(text));
        Ok(())
    }

    fn deliver(&mut self, event: XmlEvent<'_>) {
        if let State::Parsing(parser) = &mut self.state
            && let Err(error) = parser.event(event, &self.context)
        {
            let format = Some(parser.format());
            let seq = parser.seq();
            self.state = State::Failed { error, format, seq };
        }
    }
}

fn root_parser(
    start: &quick_xml::events::BytesStart<'_>,
    _context: &ParseContext,
) -> Result<RootParser, ProtocolError> {
    let name = local_name(start)?;
    if name == "batch" {
        Ok(RootParser::Batch(Box::default()))
    } else if name == "hello" {
        Ok(RootParser::Hello(native::HelloParser::default()))
    } else if name.eq_ignore_ascii_case("sunSpecData") {
        Ok(RootParser::SunSpec(sunspec::SunSpecParser::for_document()))
    } else {
        Err(ProtocolError::new(
            ErrorCode::Invalid,
            format!("unknown document <{}>: expected <hello>, <batch> or <sunSpecData>", truncate(&name)),
        ))
    }
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

/// Resolves `&lt;`-style predefined entities and character references; nothing else exists here.
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<String, ProtocolError> {
    let name = reference
        .decode()
        .map_err(|_| ProtocolError::new(ErrorCode::Malformed, "entity reference is not valid UTF-8"))?;
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            _ => {
                Err(ProtocolError::new(ErrorCode::Malformed, format!("invalid character reference &{name};")))
            }
        };
    }
    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned).ok_or_else(|| {
        ProtocolError::new(
            ErrorCode::Malformed,
            format!("undefined entity &{};: only XML's predefined entities are accepted", truncate(&name)),
        )
    })
}

/// Parses one document held in memory (an HTTP body, a test fixture): the first top-level
/// element is the document; anything after it is ignored.
pub fn parse_document(
    bytes: &[u8],
    context: ParseContext,
    max_depth: usize,
) -> (Result<Document, ProtocolError>, Option<Format>) {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut parser = DocumentParser::new(context, max_depth);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Matched where it lies: moving the event out first costs a stall on every event.
        let read = reader.read_event_into(&mut buf);
        let event = match &read {
            Ok(Event::Eof) => {
                let format = parser.current_format();
                let error = if parser.in_document() {
                    ProtocolError::new(ErrorCode::Malformed, "document ends before its root element closes")
                } else {
                    ProtocolError::new(ErrorCode::Invalid, "no document: the body holds no element")
                };
                return (Err(error), format);
            }
            Ok(event) => event,
            Err(e) => {
                return (
                    Err(ProtocolError::new(ErrorCode::Malformed, format!("XML syntax error: {e}"))),
                    parser.current_format(),
                );
            }
        };
        match parser.feed(event) {
            Ok(Progress::Pending) => {}
            Ok(Progress::Complete(done)) => return (done.outcome, done.format),
            // A refused event leaves the parser's state as it was.
            Err(error) => return (Err(error), parser.current_format()),
        }
    }
}

/// The parse benchmarks' baseline: every event of `bytes` read as [`parse_document`] reads them,
/// none used; the number of events. It lives beside the parser so that both run the one compiled
/// reader: a copy compiled into the benchmark's own crate read the same document in 36-40 µs
/// from one build to the next, moved only by where the linker placed it.
#[cfg(feature = "bench")]
pub fn bare_event_loop(bytes: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut events = 0;
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => return events,
            Ok(_) => events += 1,
        }
    }
}
