//! A start tag compared with the one last read, but for the values of a few attributes that
//! change from element to element. Consecutive records of one device repeat their tag but for
//! a timestamp (`<reading device="inv-1" ts="…">`, `<d lid="…" sn="123456" t="…" cid="7">`);
//! when only those values differ, what was read from the other attributes stands, and the
//! changing values are taken from their known places instead of reading every attribute again.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::BytesStart;

use super::xml::unchecked_attributes;

/// The bytes of the tag last read without error, and where its changing values lie.
#[derive(Debug, Default)]
pub(crate) struct TagTemplate {
    bytes: Vec<u8>,
    /// The spans of the changing values present in `bytes`, in the order they come, with the
    /// index of their attribute among the changing ones; each span ends at the value's
    /// closing quote.
    values: Vec<(usize, Range<usize>)>,
}

impl TagTemplate {
    /// The values of the changing attributes (in the order [`Self::remember`] was given them)
    /// in `element`, when it equals the remembered tag everywhere else. `None` when it differs,
    /// or a changing value holds a reference or is not UTF-8 (then the tag must be read in full).
    pub(crate) fn changes<'a, const N: usize>(
        &self,
        element: &'a BytesStart<'_>,
    ) -> Option<[Option<&'a str>; N]> {
        let raw: &'a [u8] = element;
        if self.bytes.is_empty() {
            return None;
        }
        let mut found = [None; N];
        let (mut old, mut new) = (0, 0);
        for (which, span) in &self.values {
            let same = &self.bytes[old..span.start];
            if !raw.get(new..)?.starts_with(same) {
                return None;
            }
            new += same.len();
            // The value runs to the first of the quotes it opened with, as XML reads it.
            let quote = self.bytes[span.end];
            let length = raw.get(new..)?.iter().position(|&byte| byte == quote)?;
            let value = &raw[new..new + length];
            if value.contains(&b'&') {
                return None;
            }
            *found.get_mut(*which)? = Some(std::str::from_utf8(value).ok()?);
            (old, new) = (span.end, new + length);
        }
        (raw.get(new..)? == &self.bytes[old..]).then_some(found)
    }

    /// Forgets the remembered tag (one that failed to read must not match later).
    pub(crate) fn forget(&mut self) {
        self.bytes.clear();
        self.values.clear();
    }

    /// Remembers `element`, read without error, with the attributes whose values may change
    /// (by local name). A tag holding a reference anywhere is not remembered: its values are not
    /// its bytes.
    pub(crate) fn remember<const N: usize>(&mut self, element: &BytesStart<'_>, changing: [&[u8]; N]) {
        self.forget();
        let raw: &[u8] = element;
        if raw.contains(&b'&') {
            return;
        }
        let start = raw.as_ptr() as usize;
        for attr in unchecked_attributes(element).flatten() {
            let Some(which) = changing.iter().position(|name| *name == attr.key.local_name().into_inner())
            else {
                continue;
            };
            let Cow::Borrowed(value) = attr.value else { return };
            // The value is borrowed from the tag's bytes; its place in them is its offset.
            let offset = (value.as_ptr() as usize).wrapping_sub(start);
            let span = offset..offset + value.len();
            let quoted = span.start > 0
                && raw.get(span.end).is_some_and(|&quote| quote == b'"' || quote == b'\'')
                && raw.get(span.start - 1) == raw.get(span.end);
            if !quoted {
                return;
            }
            self.values.push((which, span));
        }
        self.bytes.extend_from_slice(raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGING: [&[u8]; 2] = [b"t", b"cid"];

    fn start(tag: &str) -> BytesStart<'_> {
        BytesStart::from_content(tag, 1)
    }

    fn remembered(tag: &str) -> TagTemplate {
        let mut remembered = TagTemplate::default();
        remembered.remember(&start(tag), CHANGING);
        remembered
    }

    #[test]
    fn only_the_changing_values_may_differ() {
        let tag = remembered(r#"d lid="11:22" sn="123" t="2011-05-12T09:21:49Z" cid="2""#);
        let next = start(r#"d lid="11:22" sn="123" t="2011-05-12T09:22:49Z" cid="13""#);
        assert_eq!(tag.changes(&next), Some([Some("2011-05-12T09:22:49Z"), Some("13")]));
        let empty = start(r#"d lid="11:22" sn="123" t="" cid="""#);
        assert_eq!(tag.changes(&empty), Some([Some(""), Some("")]));
        for other in [
            r#"d lid="11:23" sn="123" t="2011-05-12T09:22:49Z" cid="13""#,
            r#"d lid="11:22" sn="123" t="2011-05-12T09:22:49Z" cid="13" man="x""#,
            r#"d lid="11:22" sn="123" t="2011-05-12T09:22:49Z""#,
            r#"d lid="11:22" sn="123" t="2011&amp;" cid="13""#,
            r#"d lid="11:22" sn="123" t='2011-05-12T09:22:49Z' cid="13""#,
        ] {
            assert_eq!(tag.changes::<2>(&start(other)), None, "{other}");
        }
    }

    #[test]
    fn values_end_at_their_own_quote_and_absent_ones_stay_absent() {
        let tag = remembered(r#"d t='2011-05-12T09:21:49Z' sn="1""#);
        let next = start(r#"d t='say "hi"' sn="1""#);
        assert_eq!(tag.changes(&next), Some([Some(r#"say "hi""#), None]));
        let tag = remembered(r#"d cid="1" x:t="a""#);
        assert_eq!(tag.changes(&start(r#"d cid="22" x:t="bc""#)), Some([Some("bc"), Some("22")]));
    }

    #[test]
    fn nothing_matches_a_forgotten_tag_or_one_with_references() {
        let mut tag = remembered(r#"d t="1" cid="2""#);
        tag.forget();
        assert_eq!(tag.changes::<2>(&start(r#"d t="1" cid="2""#)), None);
        let tag = remembered(r#"d man="A&amp;B" t="1""#);
        assert_eq!(tag.changes::<2>(&start(r#"d man="A&amp;B" t="1""#)), None);
    }
}
