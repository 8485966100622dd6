//! One spooled document on disk: `<crc32 hex> <length> <json>\n`, where the checksum and the
//! length cover the JSON. A line is only trusted when both match, so a torn write, a bit flip or
//! bytes left by a failed append can never be mistaken for a record.

use heliograph_shared::store::WriteBatch;
use heliograph_shared::{GatewayId, ProviderSlug};
use serde::{Deserialize, Serialize};

/// A document's writes and the provider they belong to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) provider: ProviderSlug,
    pub(super) batch: WriteBatch,
}

/// Whose records must be stored in the order they were spooled: one gateway of one provider.
/// Records of different gateways are independent and may be replayed concurrently.
pub(super) type OrderKey = (ProviderSlug, GatewayId);

impl Record {
    pub(super) fn order_key(&self) -> OrderKey {
        (self.provider.clone(), self.batch.gateway.clone())
    }

    /// The record as one line, newline included.
    pub(super) fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let json = serde_json::to_vec(self)?;
        let mut line = format!("{:08x} {} ", crc32fast::hash(&json), json.len()).into_bytes();
        line.reserve(json.len() + 1);
        line.extend_from_slice(&json);
        line.push(b'\n');
        Ok(line)
    }
}

/// Decodes one line (without its newline); `None` when it is not a whole, intact record.
pub(super) fn decode(line: &[u8]) -> Option<Record> {
    let (crc, rest) = split_at_space(line)?;
    let (length, json) = split_at_space(rest)?;
    if crc.len() != 8 {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    let length: usize = std::str::from_utf8(length).ok()?.parse().ok()?;
    if json.len() != length || crc32fast::hash(json) != crc {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// Decodes a line that may carry garbage in front of a record: what a failed append used to
/// leave behind, with the next (acknowledged) record written right after it on the same line.
/// Returns the last intact record found in the line, if any.
pub(super) fn salvage(line: &[u8]) -> Option<Record> {
    // A record starts with eight hex digits and a space; every such place is tried, latest first,
    // and the checksum decides. Garbage that happens to look like a header fails its checksum.
    (1..line.len().saturating_sub(9))
        .rev()
        .filter(|&at| line[at + 8] == b' ' && line[at..at + 8].iter().all(u8::is_ascii_hexdigit))
        .find_map(|at| decode(&line[at..]))
}

fn split_at_space(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == b' ')?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, TimeDelta, Utc};
    use heliograph_shared::{DeviceId, Metric, Metrics, Reading};

    use super::*;

    /// A record of one reading, `minute` minutes into a fixed day, for gateway `gateway`.
    pub(crate) fn record(provider: &str, gateway: &str, minute: i64) -> Record {
        let mut metrics = Metrics::default();
        metrics.set(Metric::AcPower, 100.0 + minute as f64).unwrap();
        let gateway = GatewayId::parse(gateway).unwrap();
        let mut batch = WriteBatch::new(gateway.clone(), Utc::now());
        batch.readings.push(Reading {
            gateway,
            device: DeviceId::parse("inv-1").unwrap(),
            ts: DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap().with_timezone(&Utc)
                + TimeDelta::minutes(minute),
            status: None,
            metrics,
        });
        Record { provider: ProviderSlug::parse(provider).unwrap(), batch }
    }

    fn without_newline(line: &[u8]) -> &[u8] {
        line.strip_suffix(b"\n").unwrap()
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let line = record("acme", "GW-1", 3).encode().unwrap();
        assert!(line.ends_with(b"\n"));
        let decoded = decode(without_newline(&line)).unwrap();
        assert_eq!(decoded.order_key(), record("acme", "GW-1", 3).order_key());
        assert_eq!(decoded.batch.readings, record("acme", "GW-1", 3).batch.readings);
    }

    #[test]
    fn a_torn_or_flipped_record_does_not_decode() {
        let line = record("acme", "GW-1", 3).encode().unwrap();
        let line = without_newline(&line);
        for cut in [1, 9, 12, line.len() / 2, line.len() - 1] {
            assert!(decode(&line[..cut]).is_none(), "cut at {cut}");
        }
        let mut flipped = line.to_vec();
        let last = flipped.len() - 2;
        flipped[last] ^= 0x01;
        assert!(decode(&flipped).is_none());
    }

    #[test]
    fn a_record_written_after_garbage_on_the_same_line_is_salvaged() {
        let torn = record("acme", "GW-1", 1).encode().unwrap();
        let whole = record("acme", "GW-1", 2).encode().unwrap();
        let mut line = torn[..torn.len() / 2].to_vec();
        line.extend_from_slice(without_newline(&whole));
        assert!(decode(&line).is_none());
        let salvaged = salvage(&line).unwrap();
        assert_eq!(salvaged.batch.readings, record("acme", "GW-1", 2).batch.readings);
        assert!(salvage(&torn[..torn.len() / 2]).is_none(), "garbage alone yields nothing");
    }
}
