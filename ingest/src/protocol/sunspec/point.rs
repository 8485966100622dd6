//! One `<p>` point as sent, read from its start tag and text, and what it means in its model.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::events::BytesStart;

use super::models::{Family, Role, ScaleFactorPoint};
use crate::protocol::error::{ErrorCode, ProtocolError};
use crate::protocol::xml::{attribute_value, duplicate, unchecked_attributes};

/// Longest point value, id or attribute kept (numbers, ids and names are short).
pub(super) const MAX_TEXT: usize = 64;

/// One `<p>` as sent. A record's points keep their slots from record to record, so that the
/// next record's same point finds its start tag and meaning already read.
#[derive(Debug, Default)]
pub(super) struct Point {
    /// The `id` attribute.
    pub(super) id: String,
    /// The `x` attribute (repeating block index), when present and valid.
    pub(super) repeat: Option<u32>,
    /// The `sf` attribute as sent, when present.
    pub(super) sf: Option<String>,
    /// The `u` attribute as sent, when present.
    pub(super) unit: Option<String>,
    /// The text, up to [`MAX_TEXT`] bytes.
    pub(super) text: String,
    /// The text was longer than [`MAX_TEXT`].
    pub(super) too_long: bool,
    /// Which of the record's models it belongs to (its position among the record's `<m>`).
    pub(super) model: usize,
    /// The point of the same model whose value scales this one (its position among the
    /// model's points), found when the model's points were last interpreted.
    pub(super) scale_factor: Option<usize>,
    /// The last [`Self::open`] read a tag unlike the slot's previous one.
    pub(super) changed: bool,
    /// Why the tag refuses its record, when it does.
    problem: Option<String>,
    /// The start tag last read into this slot.
    tag: LastTag,
    /// What the point means in the model it was last resolved for.
    meaning: Option<PointMeaning>,
}

/// What a point means inside one model; depends only on its start tag and the model.
#[derive(Debug)]
pub(super) struct PointMeaning {
    model: u16,
    /// `model.id`, with `.repeat` when repeated: the name of extras and in messages.
    pub(super) name: String,
    pub(super) role: Role,
    /// The point whose value scales this one, when no `sf` attribute is given.
    pub(super) scale_factor: Cow<'static, str>,
}

impl PointMeaning {
    fn of(model: u16, id: &str, repeat: Option<u32>) -> Self {
        let family = Family::of(model);
        let mut name = String::new();
        // Writing to a String cannot fail.
        let _ = write!(name, "{model}.{id}");
        if let Some(repeat) = repeat {
            let _ = write!(name, ".{repeat}");
        }
        let scale_factor = match family.scale_factor_point(id) {
            ScaleFactorPoint::Shared(name) => Cow::Borrowed(name),
            ScaleFactorPoint::Own => Cow::Owned(format!("{id}_SF")),
        };
        Self { model, name, role: family.role(id), scale_factor }
    }
}

impl Point {
    /// Reads a `<p>` start tag of the record's `model`th model into this slot; a problem is
    /// returned, not raised, as it refuses only the record.
    #[inline]
    pub(super) fn open(
        &mut self,
        element: &BytesStart<'_>,
        model: usize,
    ) -> Result<Option<&str>, ProtocolError> {
        self.text.clear();
        self.too_long = false;
        self.model = model;
        self.changed = !self.tag.is(element);
        if self.changed {
            self.meaning = None;
            self.problem = self.read(element)?;
            self.tag.remember(element);
        }
        Ok(self.problem.as_deref())
    }

    /// Works out what the point means in `model`, once per slot while the tag and model stay
    /// the same; [`Self::meaning`] gives it afterwards. True when it was worked out anew.
    pub(super) fn resolve(&mut self, model: u16) -> bool {
        if self.meaning.as_ref().is_some_and(|meaning| meaning.model == model) {
            return false;
        }
        self.meaning = Some(PointMeaning::of(model, &self.id, self.repeat));
        true
    }

    /// What the point means in the model it was last resolved for.
    pub(super) fn meaning(&self) -> Option<&PointMeaning> {
        self.meaning.as_ref()
    }

    /// Out of line: a slot's tag is read once, and then only compared.
    #[inline(never)]
    fn read(&mut self, element: &BytesStart<'_>) -> Result<Option<String>, ProtocolError> {
        self.id.clear();
        self.repeat = None;
        self.sf = None;
        self.unit = None;
        let (mut has_id, mut problem) = (false, None);
        each_attribute(element, |key, value| match key {
            b"id" => {
                has_id = true;
                if value.len() > MAX_TEXT {
                    problem.get_or_insert_with(|| {
                        format!("point id {:?}… is longer than {MAX_TEXT} characters", bounded(&value))
                    });
                } else {
                    self.id.push_str(&value);
                }
            }
            b"x" => match value.trim().parse::<u32>() {
                Ok(repeat) => self.repeat = Some(repeat),
                Err(_) => {
                    problem.get_or_insert_with(|| {
                        format!("repeat index x={:?} is not a whole number", bounded(&value))
                    });
                }
            },
            b"sf" => self.sf = Some(bounded(&value)),
            b"u" => self.unit = Some(bounded(&value)),
            _ => {}
        })?;
        if !has_id && problem.is_none() {
            problem = Some("<p> needs an id attribute".to_owned());
        }
        Ok(problem)
    }

    /// Adds a piece of the point's text, remembering when it grows too long.
    pub(super) fn push_text(&mut self, text: &str) {
        if self.text.len() + text.len() > MAX_TEXT {
            self.too_long = true;
        } else {
            self.text.push_str(text);
        }
    }

    /// Writes the point compactly for the quarantine (`101.W=6701.3 sf=-1 Watts`), under its
    /// model's label as sent.
    pub(super) fn write_content(&self, content: &mut String, model_label: &str) {
        content.push_str(model_label);
        content.push('.');
        content.push_str(&self.id);
        if let Some(repeat) = self.repeat {
            // Writing to a String cannot fail.
            let _ = write!(content, ".{repeat}");
        }
        content.push('=');
        content.push_str(self.text.trim());
        if self.too_long {
            content.push('…');
        }
        if let Some(sf) = &self.sf {
            content.push_str(" sf=");
            content.push_str(sf);
        }
        if let Some(unit) = &self.unit {
            content.push(' ');
            content.push_str(unit);
        }
    }
}

/// The bytes of the start tag last read into one of a record's slots without error: the same
/// slot of the next record usually opens with the same bytes, and then what was read from them
/// stands and nothing needs reading again.
#[derive(Debug, Default)]
pub(super) struct LastTag(Vec<u8>);

impl LastTag {
    /// Whether `element` has the bytes last read. When it does not, they are forgotten until
    /// the new tag is read without error and remembered.
    #[inline]
    pub(super) fn is(&mut self, element: &BytesStart<'_>) -> bool {
        if same_bytes(&self.0, element) {
            return true;
        }
        self.0.clear();
        false
    }

    /// Remembers `element`, read without error.
    pub(super) fn remember(&mut self, element: &BytesStart<'_>) {
        self.0.extend_from_slice(element);
    }
}

/// Whether two short byte strings are equal, compared eight bytes at a time in place: tags are a
/// dozen or two bytes, for which calling `memcmp` costs more than the comparison.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a_words, a_rest), (b_words, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a_words.iter().zip(b_words).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
}

/// Calls `f` with each attribute's local name and unescaped value, in one pass over the tag.
/// An attribute given twice is refused (checked here for the first few names, which is all a
/// SunSpec element has, without the allocation quick-xml's own check makes per element).
pub(super) fn each_attribute(
    element: &BytesStart<'_>,
    mut f: impl FnMut(&[u8], Cow<'_, str>),
) -> Result<(), ProtocolError> {
    let mut seen: [&[u8]; 8] = [&[]; 8];
    for (index, attr) in unchecked_attributes(element).enumerate() {
        let attr =
            attr.map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad attribute: {e}")))?;
        let key = attr.key.local_name().into_inner();
        if seen[..index.min(seen.len())].contains(&key) {
            return Err(duplicate(&String::from_utf8_lossy(key)));
        }
        if let Some(slot) = seen.get_mut(index) {
            *slot = key;
        }
        // Framing is intact whatever the value holds, so this refuses the document only.
        let value = attribute_value(&attr)
            .map_err(|e| ProtocolError::new(ErrorCode::Invalid, format!("bad attribute value: {e}")))?;
        f(key, value);
    }
    Ok(())
}

/// A value cut to [`MAX_TEXT`] characters, for echoing.
pub(super) fn bounded(value: &str) -> String {
    if value.len() <= MAX_TEXT {
        return value.to_owned();
    }
    value.chars().take(MAX_TEXT).collect()
}
